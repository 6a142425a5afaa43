//! Small pushes: server CPU per 4 KiB push under a load generator that does not starve the
//! server, rbee-registry and distribution side by side in one run.
//!
//! Loads: open-loop paced at fixed rates (a push is started on every tick whether or not the
//! earlier ones answered, so a slow server gets a queue, not a slower generator) and flat out
//! (a fixed number of pushers, each starting its next push when the last one answered).
//! Push shapes: `POST` + `PUT ?digest=` carrying the body, and the single-request monolithic
//! `POST ?digest=` with the body (OCI distribution spec, "single POST"), where the server
//! supports it. For every (load, shape) the two servers run one after the other, alternating.
//! Each blob is distinct (pushing a stored blob again is a cheaper path).
//!
//! Per run: pushes/s, server CPU (utime+stime from /proc) per push, the generator's own CPU
//! per push (this process's utime+stime: the generator is all it runs meanwhile), push latency
//! p50/p99, failures; the servers' peak RSS at the end.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::{pseudo_random, push_monolithic, push_small};
use crate::report::{heading, Samples, Table};
use crate::servers::{start_distribution, start_rbee, Server};
use crate::Args;

/// Paced rates, pushes per second: well below saturation of both servers.
const RATES: [u32; 2] = [200, 400];
/// Pushers of the flat-out load.
const FLAT_OUT_PUSHERS: u64 = 8;
/// Pushes in flight beyond which a paced generator starts no new ones (counted as skipped:
/// the server is saturated at that rate). rbee-registry's default `max_uploads_per_client`,
/// past which it would answer 429.
const MAX_IN_FLIGHT: u64 = 16;
const REPOSITORY: &str = "bench/small";

#[derive(Debug, Clone, Copy)]
enum Load {
    Paced(u32),
    FlatOut,
}

impl Load {
    fn label(self) -> String {
        match self {
            Load::Paced(rate) => format!("paced {rate}/s"),
            Load::FlatOut => format!("flat out, {FLAT_OUT_PUSHERS} pushers"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `POST`, then `PUT ?digest=` with the body.
    PostPut,
    /// One `POST ?digest=` with the body.
    SinglePost,
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::PostPut => "POST + PUT",
            Shape::SinglePost => "single POST",
        }
    }
}

/// What one run of one load and shape against one server measured.
struct Run {
    pushes: u64,
    failed: u64,
    /// The first failure's answer.
    first_failure: Option<String>,
    skipped: u64,
    seconds: f64,
    server_cpu_s: f64,
    generator_cpu_s: f64,
    latency: Samples,
}

impl Run {
    fn per_push_us(&self, cpu_seconds: f64) -> f64 {
        cpu_seconds * 1e6 / (self.pushes.max(1) as f64)
    }
}

pub fn run(args: &Args, work: &Path, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let rbee = start_rbee(args, work, "rbee-small", &[])?;
    let distribution = start_distribution(args, work)?;
    runtime.block_on(measure(args, &rbee, &distribution))
}

async fn measure(args: &Args, rbee: &Server, distribution: &Server) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT as usize)
        .build()
        .map_err(|e| e.to_string())?;
    let seeds = Arc::new(AtomicU64::new(1));
    let servers = [rbee, distribution];
    // Which shapes each server takes: a single POST that does not answer 201 is not supported.
    let mut shapes_of = Vec::new();
    let mut notes = Vec::new();
    for server in servers {
        let mut shapes = vec![Shape::PostPut];
        let data = pseudo_random(4096, u64::MAX - shapes_of.len() as u64);
        match push_monolithic(&client, &server.base, REPOSITORY, data).await {
            Ok(_) => shapes.push(Shape::SinglePost),
            Err(answer) => notes.push(format!(
                "{}: the single POST is not supported ({answer}), measured with POST + PUT only",
                server.label
            )),
        }
        shapes_of.push(shapes);
    }
    // Warm-up: connections open, the repository exists, first-time paths are taken.
    for server in servers {
        server.step("warm-up");
        one_run(&client, server, Shape::PostPut, Load::Paced(100), 1, &seeds).await?;
    }

    let loads: Vec<Load> = RATES
        .iter()
        .map(|&rate| Load::Paced(rate))
        .chain([Load::FlatOut])
        .collect();
    let mut table = Table::new(&[
        "load",
        "push",
        "server",
        "pushes/s",
        "server CPU µs/push",
        "generator CPU µs/push",
        "p50 ms",
        "p99 ms",
        "failed / skipped",
    ]);
    let mut ratios = Table::new(&["load", "push", "rbee µs/push", "distribution µs/push", "ratio"]);
    for load in &loads {
        for shape in [Shape::PostPut, Shape::SinglePost] {
            let mut per_server = Vec::new();
            for (server, shapes) in servers.iter().zip(&shapes_of) {
                if !shapes.contains(&shape) {
                    per_server.push(None);
                    continue;
                }
                server.step(&format!("{} {}", load.label(), shape.label()));
                let run = one_run(&client, server, shape, *load, args.seconds, &seeds).await?;
                table.row(vec![
                    load.label(),
                    shape.label().into(),
                    server.label.into(),
                    format!("{:.0}", run.pushes as f64 / run.seconds),
                    format!("{:.0}", run.per_push_us(run.server_cpu_s)),
                    format!("{:.0}", run.per_push_us(run.generator_cpu_s)),
                    format!("{:.2}", run.latency.quantile(0.5)),
                    format!("{:.2}", run.latency.quantile(0.99)),
                    format!("{} / {}", run.failed, run.skipped),
                ]);
                if let Some(answer) = &run.first_failure {
                    notes.push(format!(
                        "{}, {} {}: {} failed, the first with {answer}",
                        server.label,
                        load.label(),
                        shape.label(),
                        run.failed
                    ));
                }
                per_server.push(Some(run.per_push_us(run.server_cpu_s)));
            }
            if let [Some(ours), theirs] = per_server[..] {
                ratios.row(vec![
                    load.label(),
                    shape.label().into(),
                    format!("{ours:.0}"),
                    theirs.map_or("n/a".into(), |t| format!("{t:.0}")),
                    theirs.map_or("n/a".into(), |t| format!("{:.2}×", t / ours)),
                ]);
            }
        }
    }

    heading(&format!(
        "Small pushes: 4 KiB blobs, {} s per run, rbee-registry and distribution alternating",
        args.seconds
    ));
    table.print();
    println!("Server CPU per push, distribution's over rbee-registry's (higher: rbee cheaper):\n");
    ratios.print();
    println!(
        "Peak RSS (VmHWM): rbee-registry {:.1} MiB, distribution {:.1} MiB",
        rbee.peak_rss_mib(),
        distribution.peak_rss_mib()
    );
    for note in notes {
        println!("Note: {note}");
    }
    Ok(())
}

/// Runs `load` with pushes of `shape` against `server` for `seconds`.
async fn one_run(
    client: &reqwest::Client,
    server: &Server,
    shape: Shape,
    load: Load,
    seconds: u64,
    seeds: &Arc<AtomicU64>,
) -> Result<Run, String> {
    let pushes = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(Mutex::new(None));
    let latency = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut skipped = 0u64;
    let duration = Duration::from_secs(seconds);
    let push = {
        let (client, base) = (client.clone(), server.base.clone());
        let (pushes, failed, first_failure, latency, in_flight, seeds) = (
            pushes.clone(),
            failed.clone(),
            first_failure.clone(),
            latency.clone(),
            in_flight.clone(),
            seeds.clone(),
        );
        move || {
            let (client, base) = (client.clone(), base.clone());
            let (pushes, failed, latency, in_flight) =
                (pushes.clone(), failed.clone(), latency.clone(), in_flight.clone());
            let first_failure = first_failure.clone();
            let data = pseudo_random(4096, seeds.fetch_add(1, Ordering::Relaxed));
            async move {
                let started = Instant::now();
                let result = match shape {
                    Shape::PostPut => push_small(&client, &base, REPOSITORY, data).await,
                    Shape::SinglePost => push_monolithic(&client, &base, REPOSITORY, data).await,
                };
                match result {
                    Ok(_) => {
                        pushes.fetch_add(1, Ordering::Relaxed);
                        let ms = started.elapsed().as_secs_f64() * 1000.0;
                        latency.lock().expect("not poisoned").push(ms);
                    }
                    Err(answer) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        first_failure.lock().expect("not poisoned").get_or_insert(answer);
                    }
                }
                in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        }
    };
    let server_cpu = server.cpu_seconds();
    let generator_cpu = own_cpu_seconds();
    let started = Instant::now();
    match load {
        Load::Paced(rate) => {
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            let mut tasks = Vec::new();
            let total = u64::from(rate) * seconds;
            for _ in 0..total {
                ticks.tick().await;
                if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                    skipped += 1;
                    continue;
                }
                in_flight.fetch_add(1, Ordering::Relaxed);
                tasks.push(tokio::spawn(push()));
            }
            for task in tasks {
                task.await.map_err(|e| e.to_string())?;
            }
        }
        Load::FlatOut => {
            let deadline = started + duration;
            let mut pushers = Vec::new();
            for _ in 0..FLAT_OUT_PUSHERS {
                let push = push.clone();
                let in_flight = in_flight.clone();
                pushers.push(tokio::spawn(async move {
                    while Instant::now() < deadline {
                        in_flight.fetch_add(1, Ordering::Relaxed);
                        push().await;
                    }
                }));
            }
            for pusher in pushers {
                pusher.await.map_err(|e| e.to_string())?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let latency = std::mem::take(&mut *latency.lock().expect("not poisoned"));
    let first_failure = first_failure.lock().expect("not poisoned").take();
    Ok(Run {
        pushes: pushes.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        first_failure,
        skipped,
        seconds,
        server_cpu_s: server.cpu_seconds() - server_cpu,
        generator_cpu_s: own_cpu_seconds() - generator_cpu,
        latency: Samples(latency),
    })
}

/// utime + stime of this process (the generator) so far, seconds.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
