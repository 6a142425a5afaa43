//! `--growth`: a big rbee-registry (10,000 repositories of 10 tags each, 100,000 tags, and
//! 1,000 workers) against a small one (10 repositories, 100 tags, 10 workers), both release
//! builds with the defaults (SQLite, filesystem), in the same run.
//!
//! Populating: one small image (config and a 1 KiB layer) is pushed once; each further
//! repository mounts its blobs (`POST …/blobs/uploads/?mount=&from=`) and gets its 10 tags
//! (manifest PUTs), 16 repositories at once; the workers are published with the library's
//! `publish` as `--pages` does (8 at once). Then each request below is timed sequentially
//! (one request in flight, keep-alive, two warm-up requests not counted), alternating
//! between the two registries in rounds of 50: paged tag list (`?n=100`) of a middle
//! repository, the first catalog page (`/v2/_catalog?n=100`) and one deep in the list
//! (`last=` at 90 %), the download endpoint of a middle worker, `/v1/workers` (its first
//! page, which reads every worker), the old API's full list `/workers` and the catalog page
//! `/`. Printed: p50 and p99 per registry, the ratio of the p99s (big over
//! small), server CPU per request, populate times and peak RSS.

use std::path::Path;
use std::time::Instant;

use futures::{stream, StreamExt as _};

use crate::manifests::{push_image, put_manifest};
use crate::pages::publish_workers;
use crate::report::{heading, show, Samples, Table};
use crate::servers::{start_rbee, Server};
use crate::tags::mount_image;
use crate::Args;

/// Tags of every repository.
const TAGS_PER_REPO: usize = 10;
/// Repositories populated at once.
const PUSHERS: usize = 16;
/// Sequential requests per registry before switching to the other.
const ROUND: usize = 50;

/// What a registry is populated with.
struct Size {
    label: &'static str,
    repos: usize,
    workers: usize,
}

const BIG: Size = Size {
    label: "big",
    repos: 10_000,
    workers: 1_000,
};
const SMALL: Size = Size {
    label: "small",
    repos: 10,
    workers: 10,
};

fn repo(n: usize) -> String {
    format!("growth/r{n:05}")
}

pub fn run(args: &Args, work: &Path, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    runtime.block_on(measure(args, work))
}

/// Pushes the image into the first repository, mounts it into the others and tags it
/// [`TAGS_PER_REPO`] times in each; then publishes the workers. Seconds taken by each.
async fn populate(server: &Server, work: &Path, size: &Size) -> Result<(f64, f64), String> {
    let client = reqwest::Client::new();
    server.step(&format!(
        "{}: {} repositories, {} tags",
        size.label,
        size.repos,
        size.repos * TAGS_PER_REPO
    ));
    let started = Instant::now();
    let image = push_image(&client, server, &repo(0)).await?;
    let results: Vec<Result<(), String>> = stream::iter(0..size.repos)
        .map(|n| {
            let (client, image) = (&client, &image);
            async move {
                let name = repo(n);
                if n > 0 {
                    mount_image(client, server, image, &repo(0), &name).await?;
                }
                for tag in 0..TAGS_PER_REPO {
                    put_manifest(client, server, image, &name, &format!("t{tag:02}")).await?;
                }
                Ok(())
            }
        })
        .buffer_unordered(PUSHERS)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    let tagged = started.elapsed().as_secs_f64();

    server.step(&format!("{}: publishing {} workers", size.label, size.workers));
    let dir = work.join(format!("growth-{}-workers", size.label));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let seconds = publish_workers(server, &dir, size.workers).await?;
    Ok((tagged, seconds))
}

/// The requests timed, as paths for a registry of `size`, with what each is.
fn requests(size: &Size) -> Vec<(&'static str, String)> {
    vec![
        (
            "tag list `?n=100`",
            format!("/v2/{}/tags/list?n=100", repo(size.repos / 2)),
        ),
        ("catalog `/v2/_catalog?n=100`", "/v2/_catalog?n=100".to_string()),
        (
            "catalog `?n=100&last=` at 90 %",
            format!("/v2/_catalog?n=100&last={}", repo(size.repos * 9 / 10)),
        ),
        (
            "download endpoint",
            format!(
                "/v1/workers/bench-worker-{:04}/0.1.0/download?platform=linux-x86_64",
                size.workers / 2
            ),
        ),
        ("`/v1/workers` (first page of 50)", "/v1/workers".to_string()),
        ("`/workers` (old API, all)", "/workers".to_string()),
        ("catalog page `/`", "/".to_string()),
    ]
}

/// One request's latencies and server CPU on one registry.
#[derive(Default)]
struct Timed {
    millis: Samples,
    cpu_seconds: f64,
    bytes: usize,
}

/// `count` sequential GETs of `path`, added to `timed`.
async fn time(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    count: usize,
    timed: &mut Timed,
) -> Result<(), String> {
    let accept = if path == "/" { "text/html" } else { "application/json" };
    let cpu = server.cpu_seconds();
    for _ in 0..count {
        let started = Instant::now();
        let body = client
            .get(server.url(path))
            .header("accept", accept)
            .send()
            .await
            .and_then(|response| response.error_for_status())
            .map_err(|e| format!("{}: GET {path}: {e}", server.label))?
            .bytes()
            .await
            .map_err(|e| e.to_string())?;
        timed.millis.0.push(started.elapsed().as_secs_f64() * 1000.0);
        timed.bytes = body.len();
    }
    timed.cpu_seconds += server.cpu_seconds() - cpu;
    Ok(())
}

/// Entries in a JSON answer's list (`tags`, `repositories`, `workers`), for the table.
async fn entries(client: &reqwest::Client, server: &Server, path: &str) -> String {
    let answer: Option<serde_json::Value> = match client.get(server.url(path)).send().await {
        Ok(response) => response.json().await.ok(),
        Err(_) => None,
    };
    let count = answer.as_ref().and_then(|answer| {
        ["tags", "repositories", "workers"]
            .iter()
            .find_map(|key| answer.get(key).and_then(|list| list.as_array()).map(Vec::len))
            .or_else(|| answer.as_array().map(Vec::len))
    });
    count.map_or("".to_string(), |count| format!("{count} entries, "))
}

async fn measure(args: &Args, work: &Path) -> Result<(), String> {
    let big = start_rbee(args, work, "rbee-big", &[])?;
    let small = start_rbee(args, work, "rbee-small", &[])?;
    let (big_tags_s, big_workers_s) = populate(&big, work, &BIG).await?;
    let (small_tags_s, small_workers_s) = populate(&small, work, &SMALL).await?;
    let rss_after_populate = big.peak_rss_mib();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|e| e.to_string())?;
    let runs = args.page_runs.max(ROUND);
    let mut table = Table::new(&[
        "request",
        "answer (big; small)",
        "small p50 ms",
        "small p99 ms",
        "big p50 ms",
        "big p99 ms",
        "p99 big/small",
        "CPU µs/req small",
        "CPU µs/req big",
    ]);
    for ((name, big_path), (_, small_path)) in requests(&BIG).into_iter().zip(requests(&SMALL)) {
        eprintln!("rbee-bench: growth: {name}");
        let (mut on_big, mut on_small) = (Timed::default(), Timed::default());
        // Warm-up, not counted.
        time(&client, &big, &big_path, 2, &mut Timed::default()).await?;
        time(&client, &small, &small_path, 2, &mut Timed::default()).await?;
        let mut done = 0;
        while done < runs {
            let count = ROUND.min(runs - done);
            time(&client, &big, &big_path, count, &mut on_big).await?;
            time(&client, &small, &small_path, count, &mut on_small).await?;
            done += count;
        }
        let answer = format!(
            "{}{} B; {}{} B",
            entries(&client, &big, &big_path).await,
            on_big.bytes,
            entries(&client, &small, &small_path).await,
            on_small.bytes
        );
        let per_request = |timed: &Timed| show(Some(timed.cpu_seconds * 1e6 / timed.millis.0.len() as f64));
        table.row(vec![
            name.to_string(),
            answer,
            show(Some(on_small.millis.quantile(0.5))),
            show(Some(on_small.millis.quantile(0.99))),
            show(Some(on_big.millis.quantile(0.5))),
            show(Some(on_big.millis.quantile(0.99))),
            format!("{:.2}×", on_big.millis.quantile(0.99) / on_small.millis.quantile(0.99)),
            per_request(&on_small),
            per_request(&on_big),
        ]);
    }

    heading("growth: 100,000 tags, 10,000 repositories, 1,000 workers against a small registry");
    table.print();
    println!(
        "{runs} sequential GETs per request and registry (rounds of {ROUND}, alternating). \
         Populating the big registry: {} repositories × {TAGS_PER_REPO} tags in {:.1} s ({:.0} manifest PUTs/s), \
         {} workers published in {:.1} s; the small one: {:.1} s and {:.1} s.\n\
         Peak RSS (VmHWM): big {} MiB (after populating {} MiB), small {} MiB.",
        BIG.repos,
        big_tags_s,
        (BIG.repos * TAGS_PER_REPO) as f64 / big_tags_s,
        BIG.workers,
        big_workers_s,
        small_tags_s,
        small_workers_s,
        show(Some(big.peak_rss_mib())),
        show(Some(rss_after_populate)),
        show(Some(small.peak_rss_mib())),
    );
    Ok(())
}
