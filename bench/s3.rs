//! The S3 path side by side: rbee-registry on PostgreSQL + SeaweedFS against distribution's
//! s3 driver on the same SeaweedFS (the figures of `measure::measure`), a direct S3 client as
//! the limit (`s3_limit`), and the `307` of `redirect_downloads` (`s3_redirect`). Each server
//! has its own key prefix, removed afterwards with rbee's database.

use std::path::Path;

use crate::measure::measure;
use crate::report::{heading, ratio, show, Figure, Results, Samples, Table};
use crate::s3_limit::{Limit, REPO};
use crate::s3_redirect::Redirect;
use crate::s3_setup::{remove_prefix, Database, Endpoint};
use crate::servers::{start_distribution_with, start_rbee, Server};
use crate::{s3_limit, s3_redirect, Args};

pub fn run(args: &Args, work: &Path, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let endpoint = Endpoint::from_env_or_start(work)?;
    let direct = endpoint.client()?;
    let area = format!("rbee-bench-{}", std::process::id());
    let measured = {
        let database = Database::create()?;
        measure_all(args, work, runtime, &endpoint, &database, &area)
    };
    if let Err(message) = runtime.block_on(remove_prefix(&direct, &area)) {
        eprintln!("rbee-bench: could not remove {area}/ from the bucket: {message}");
    }
    let measured = measured?;
    print(args, &measured);
    Ok(())
}

/// Everything the group measured.
struct Measured {
    ours: Results,
    theirs: Results,
    limit: Limit,
    redirect: Redirect,
    redirect_rss_mib: f64,
}

fn measure_all(
    args: &Args,
    work: &Path,
    runtime: &tokio::runtime::Runtime,
    endpoint: &Endpoint,
    database: &Database,
    area: &str,
) -> Result<Measured, String> {
    let direct = endpoint.client()?;
    let size = args.large_mib * 1024 * 1024;

    eprintln!("rbee-bench: rbee-registry on PostgreSQL + S3");
    let rbee = start_rbee_s3(args, work, "rbee-s3", endpoint, database, area, false)?;
    let ours = runtime.block_on(measure(args, &rbee))?;
    let limit = runtime.block_on(s3_limit::measure(&direct, &format!("{area}/direct"), &rbee, size))?;
    let mut ours = ours;
    ours.peak_rss_mib = rbee.peak_rss_mib();
    drop(rbee);

    // The same database and bucket area, now redirecting downloads.
    let rbee = start_rbee_s3(args, work, "rbee-s3-redirect", endpoint, database, area, true)?;
    let redirect = runtime.block_on(s3_redirect::measure(&rbee, REPO, &limit.last_digest))?;
    let redirect_rss_mib = rbee.peak_rss_mib();
    drop(rbee);

    eprintln!("rbee-bench: distribution on the s3 driver");
    let distribution = start_distribution_s3(args, work, endpoint, area)?;
    let theirs = runtime.block_on(measure(args, &distribution))?;
    drop(distribution);
    Ok(Measured {
        ours,
        theirs,
        limit,
        redirect,
        redirect_rss_mib,
    })
}

/// rbee-registry on `database` and the bucket under `<area>/rbee`; the secret goes in a
/// configuration file (not on the command line).
fn start_rbee_s3(
    args: &Args,
    work: &Path,
    name: &str,
    endpoint: &Endpoint,
    database: &Database,
    area: &str,
    redirect: bool,
) -> Result<Server, String> {
    let config = work.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[storage.s3]\nsecret_access_key = \"{}\"\nredirect_downloads = {redirect}\n",
            endpoint.secret_key
        ),
    )
    .map_err(|e| e.to_string())?;
    let config = config.to_string_lossy().to_string();
    let prefix = format!("{area}/rbee");
    start_rbee(
        args,
        work,
        name,
        &[
            "--config",
            &config,
            "--database-url",
            &database.url,
            "--storage-backend",
            "s3",
            "--s3-endpoint",
            &endpoint.url,
            "--s3-bucket",
            &endpoint.bucket,
            "--s3-prefix",
            &prefix,
            "--s3-access-key-id",
            &endpoint.access_key,
            "--s3-allow-http",
            "true",
        ],
    )
}

/// Distribution 2.8 with its s3 driver on the same endpoint, under `<area>/distribution`.
fn start_distribution_s3(args: &Args, work: &Path, endpoint: &Endpoint, area: &str) -> Result<Server, String> {
    let storage = format!(
        "  s3:\n    region: us-east-1\n    regionendpoint: {}\n    forcepathstyle: true\n    secure: false\n    \
         bucket: {}\n    rootdirectory: /{area}/distribution\n    accesskey: {}\n    secretkey: {}\n",
        endpoint.url, endpoint.bucket, endpoint.access_key, endpoint.secret_key
    );
    start_distribution_with(args, work, "distribution-s3", &storage)
}

/// A row of rbee-registry against distribution: both values, the ratio, CPU ms/op of each.
fn versus(name: &str, unit: &str, ours: Figure, theirs: Figure, higher_is_better: bool) -> Vec<String> {
    vec![
        name.to_string(),
        unit.to_string(),
        show(ours.value),
        show(theirs.value),
        ratio(ours.value, theirs.value, higher_is_better),
        show(ours.cpu_ms),
        show(theirs.cpu_ms),
    ]
}

fn print(args: &Args, measured: &Measured) {
    let (ours, theirs) = (&measured.ours, &measured.theirs);
    heading("S3: rbee-registry (PostgreSQL + SeaweedFS) against distribution 2.8 (s3 driver, same SeaweedFS)");
    let mut table = Table::new(&[
        "figure",
        "unit",
        "rbee-registry",
        "distribution",
        "ratio",
        "rbee CPU ms/op",
        "distribution CPU ms/op",
    ]);
    let large = args.large_mib;
    for (name, unit, a, b, higher) in [
        (
            format!("{large} MiB blob push (best of 2)"),
            "MiB/s",
            ours.push_large_mib_s,
            theirs.push_large_mib_s,
            true,
        ),
        (
            format!("{large} MiB blob pull (median of 3)"),
            "MiB/s",
            ours.pull_large_mib_s,
            theirs.pull_large_mib_s,
            true,
        ),
        (
            "4 KiB blob pushes, 8 at once".into(),
            "pushes/s",
            ours.push_small_per_s,
            theirs.push_small_per_s,
            true,
        ),
        (
            "manifest GET, 32 connections".into(),
            "req/s",
            ours.manifest_rps,
            theirs.manifest_rps,
            true,
        ),
        (
            "manifest GET p99".into(),
            "ms",
            ours.manifest_p99_ms,
            theirs.manifest_p99_ms,
            false,
        ),
        (
            format!("tag list of {} tags, 8 connections", args.tags),
            "req/s",
            ours.tags_rps,
            theirs.tags_rps,
            true,
        ),
        ("tag list p99".into(), "ms", ours.tags_p99_ms, theirs.tags_p99_ms, false),
    ] {
        table.row(versus(&name, unit, a, b, higher));
    }
    let rss = |mib: f64| Figure {
        value: Some(mib),
        cpu_ms: None,
    };
    table.row(versus(
        "peak RSS over the run",
        "MiB",
        rss(ours.peak_rss_mib),
        rss(theirs.peak_rss_mib),
        false,
    ));
    table.print();
    for note in ours.notes.iter().chain(&theirs.notes) {
        println!("Note: {note}");
    }
    print_limit(args, &measured.limit);
    print_redirect(measured);
}

fn print_limit(args: &Args, limit: &Limit) {
    let mib = args.large_mib as f64;
    let rate = |samples: &Samples| mib / samples.quantile(0.5);
    let cpu = |samples: &Samples| show(Some(samples.quantile(0.5) * 1000.0));
    let (part, in_flight) = limit.shape;
    heading(&format!(
        "S3: rbee-registry against a direct S3 client (object_store, {part} MiB parts, {in_flight} in flight), alternating, medians of 3"
    ));
    let mut table = Table::new(&[
        "figure",
        "direct S3",
        "rbee-registry",
        "rbee / direct",
        "target",
        "rbee CPU ms/op",
    ]);
    for (name, direct, ours, ours_cpu) in [
        (
            "256 MiB upload / push, MiB/s",
            &limit.direct_put,
            &limit.rbee_push,
            &limit.rbee_push_cpu,
        ),
        (
            "256 MiB GET / pull, MiB/s",
            &limit.direct_get,
            &limit.rbee_pull,
            &limit.rbee_pull_cpu,
        ),
    ] {
        let (direct, ours_rate) = (rate(direct), rate(ours));
        table.row(vec![
            name.replace("256", &args.large_mib.to_string()),
            show(Some(direct)),
            show(Some(ours_rate)),
            format!("{:.0} %", 100.0 * ours_rate / direct),
            "≥ 90 %".into(),
            cpu(ours_cpu),
        ]);
    }
    let (copy, put) = (limit.direct_copy.quantile(0.5), limit.direct_put.quantile(0.5));
    let ours = mib / limit.rbee_push.quantile(0.5);
    let upload_and_copy = mib / (put + copy);
    table.row(vec![
        format!(
            "{} MiB upload, then server-side copy to another key, MiB/s",
            args.large_mib
        ),
        show(Some(upload_and_copy)),
        show(Some(ours)),
        format!("{:.0} %", 100.0 * ours / upload_and_copy),
        format!("(copy alone {copy:.2} s)"),
        String::new(),
    ]);
    table.print();
    println!(
        "rbee-registry's push, split: the finish (`PUT ?digest=`) took {:.2} s of {:.2} s (medians).\n",
        limit.rbee_finish.quantile(0.5),
        limit.rbee_push.quantile(0.5)
    );
    let shapes: Vec<String> = limit
        .shapes
        .iter()
        .map(|((part, in_flight), rate)| format!("{part} MiB × {in_flight}: {rate:.0} MiB/s"))
        .collect();
    println!("Direct upload shapes tried (one upload each): {}\n", shapes.join(", "));
}

fn print_redirect(measured: &Measured) {
    let redirect = &measured.redirect;
    heading("S3: `redirect_downloads = true`, the 307 against the presigned GET alone (alternating)");
    let mut table = Table::new(&[
        "figure",
        "via rbee 307, median / p99 ms",
        "presigned GET alone, median / p99 ms",
        "added by the 307, median ms",
    ]);
    let both = |s: &Samples| format!("{} / {}", show(Some(s.quantile(0.5))), show(Some(s.quantile(0.99))));
    for (name, via, direct) in [
        (
            "4 KiB blob, whole GET (200 runs)",
            &redirect.small_via,
            &redirect.small_direct,
        ),
        (
            "large blob, time to first byte (10 runs)",
            &redirect.large_via,
            &redirect.large_direct,
        ),
    ] {
        table.row(vec![
            name.into(),
            both(via),
            both(direct),
            show(Some(via.quantile(0.5) - direct.quantile(0.5))),
        ]);
    }
    table.print();
    println!(
        "Peak RSS of the redirecting rbee-registry: {} MiB\n",
        show(Some(measured.redirect_rss_mib))
    );
}
