//! Concurrency: 8 parallel 64 MiB pushes (distinct content, POST + PATCH + PUT each) and 32
//! parallel pulls of 32 different 8 MiB blobs, aggregate MiB/s of rbee-registry (defaults:
//! SQLite, filesystem, fsync on) against distribution (filesystem driver) in one run, the two
//! servers taking turns round by round; server CPU per MiB and peak RSS of both.

use std::path::Path;
use std::time::Instant;

use bytes::Bytes;

use crate::client::{pseudo_random, pull, push_streamed, sha256};
use crate::report::{heading, ratio, show, Samples, Table};
use crate::servers::{start_distribution_with, start_rbee, Server};
use crate::Args;

const PUSHES: usize = 8;
const PUSH_MIB: usize = 64;
const PUSH_ROUNDS: usize = 3;
const PULLS: usize = 32;
const PULL_MIB: usize = 8;
const PULL_ROUNDS: usize = 5;

/// One server's figures: aggregate seconds per round and server CPU seconds per round.
#[derive(Default)]
struct Runs {
    seconds: Samples,
    cpu: Samples,
}

pub fn run(args: &Args, work: &Path, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let rbee = start_rbee(args, work, "rbee-concurrency", &[])?;
    let storage = format!(
        "  filesystem:\n    rootdirectory: {}\n",
        work.join("distribution-concurrency").display()
    );
    let distribution = start_distribution_with(args, work, "distribution-concurrency", &storage)?;
    let servers = [&rbee, &distribution];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let mut pushes = [Runs::default(), Runs::default()];
    for round in 0..PUSH_ROUNDS {
        let blobs: Vec<Bytes> = (0..PUSHES)
            .map(|i| pseudo_random(PUSH_MIB << 20, (9000 + round * PUSHES + i) as u64).into())
            .collect();
        for which in turns(round) {
            let server = servers[which];
            server.step(&format!("{PUSHES} parallel {PUSH_MIB} MiB pushes, round {}", round + 1));
            let (seconds, cpu) = timed(server, || runtime.block_on(push_all(&client, server, &blobs)))?;
            pushes[which].seconds.0.push(seconds);
            pushes[which].cpu.0.push(cpu);
        }
    }
    let after_pushes = [rbee.peak_rss_mib(), distribution.peak_rss_mib()];

    let blobs: Vec<Bytes> = (0..PULLS)
        .map(|i| pseudo_random(PULL_MIB << 20, (20_000 + i) as u64).into())
        .collect();
    let digests: Vec<String> = blobs.iter().map(|blob| sha256(blob)).collect();
    for server in servers {
        server.step(&format!("storing {PULLS} blobs of {PULL_MIB} MiB"));
        for chunk in blobs.chunks(PUSHES) {
            runtime.block_on(push_all(&client, server, chunk))?;
        }
    }
    drop(blobs);
    let mut pulls = [Runs::default(), Runs::default()];
    for round in 0..PULL_ROUNDS {
        for which in turns(round) {
            let server = servers[which];
            server.step(&format!("{PULLS} parallel {PULL_MIB} MiB pulls, round {}", round + 1));
            let (seconds, cpu) = timed(server, || runtime.block_on(pull_all(&client, server, &digests)))?;
            pulls[which].seconds.0.push(seconds);
            pulls[which].cpu.0.push(cpu);
        }
    }
    print(
        &pushes,
        &pulls,
        after_pushes,
        [rbee.peak_rss_mib(), distribution.peak_rss_mib()],
    );
    Ok(())
}

/// The order the two servers (0 = rbee-registry, 1 = distribution) go in, round by round.
fn turns(round: usize) -> [usize; 2] {
    if round.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// Wall-clock seconds and server CPU seconds of `work`.
fn timed(server: &Server, work: impl FnOnce() -> Result<(), String>) -> Result<(f64, f64), String> {
    let cpu = server.cpu_seconds();
    let started = Instant::now();
    work()?;
    Ok((started.elapsed().as_secs_f64(), server.cpu_seconds() - cpu))
}

/// Pushes every blob at once, each to a repository of its own. (The requests' bodies are sent
/// and their answers read by the client's connection tasks, on the runtime's threads.)
async fn push_all(client: &reqwest::Client, server: &Server, blobs: &[Bytes]) -> Result<(), String> {
    let repos: Vec<String> = (0..blobs.len()).map(|i| format!("bench/concurrent-{i}")).collect();
    let pushes = repos
        .iter()
        .zip(blobs)
        .map(|(repo, blob)| push_streamed(client, server, repo, blob.clone()));
    futures::future::try_join_all(pushes).await.map(drop)
}

/// Pulls every blob at once, blob `i` from the repository it was pushed to.
async fn pull_all(client: &reqwest::Client, server: &Server, digests: &[String]) -> Result<(), String> {
    let pulls = digests
        .iter()
        .enumerate()
        .map(|(i, digest)| server.url(&format!("/v2/bench/concurrent-{}/blobs/{digest}", i % PUSHES)))
        .collect::<Vec<_>>();
    let pulls = pulls.iter().map(|url| pull(client, url, (PULL_MIB << 20) as u64));
    futures::future::try_join_all(pulls).await.map(drop)
}

fn print(pushes: &[Runs; 2], pulls: &[Runs; 2], after_pushes: [f64; 2], at_end: [f64; 2]) {
    heading(&format!(
        "concurrency: {PUSHES} parallel {PUSH_MIB} MiB pushes ({PUSH_ROUNDS} rounds), {PULLS} parallel {PULL_MIB} MiB pulls ({PULL_ROUNDS} rounds), alternating"
    ));
    let mut table = Table::new(&["figure", "unit", "rbee-registry", "distribution", "ratio"]);
    for (name, runs, mib) in [
        (
            format!("{PUSHES} × {PUSH_MIB} MiB pushes at once"),
            pushes,
            PUSHES * PUSH_MIB,
        ),
        (
            format!("{PULLS} × {PULL_MIB} MiB pulls at once"),
            pulls,
            PULLS * PULL_MIB,
        ),
    ] {
        let mib = mib as f64;
        let rate = |runs: &Runs| Some(mib / runs.seconds.quantile(0.5));
        let cpu = |runs: &Runs| Some(runs.cpu.quantile(0.5) * 1000.0 / mib);
        table.row(vec![
            format!("{name}, aggregate (median)"),
            "MiB/s".into(),
            show(rate(&runs[0])),
            show(rate(&runs[1])),
            ratio(rate(&runs[0]), rate(&runs[1]), true),
        ]);
        table.row(vec![
            format!("{name}, server CPU per MiB (median)"),
            "ms/MiB".into(),
            show(cpu(&runs[0])),
            show(cpu(&runs[1])),
            ratio(cpu(&runs[0]), cpu(&runs[1]), false),
        ]);
    }
    for (name, rss) in [
        ("peak RSS after the pushes", after_pushes),
        ("peak RSS at the end", at_end),
    ] {
        table.row(vec![
            name.into(),
            "MiB".into(),
            show(Some(rss[0])),
            show(Some(rss[1])),
            ratio(Some(rss[0]), Some(rss[1]), false),
        ]);
    }
    table.print();
    let list = |runs: &Runs| {
        runs.seconds
            .0
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "Seconds per round: pushes rbee-registry {}, distribution {}; pulls rbee-registry {}, distribution {}\n",
        list(&pushes[0]),
        list(&pushes[1]),
        list(&pulls[0]),
        list(&pulls[1])
    );
}
