//! Small blob pushes: 8 concurrent pushers of distinct 4 KiB blobs for a fixed time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{pseudo_random, push_small};
use crate::report::{Figure, Results};
use crate::servers::Server;
use crate::Args;

/// Pushes/s and server CPU per push; failed pushes become a note.
pub async fn measure(
    args: &Args,
    client: &reqwest::Client,
    server: &Server,
    results: &mut Results,
) -> Result<(), String> {
    server.step("4 KiB pushes");
    // Small blobs: 8 concurrent pushers for a fixed time, each blob distinct.
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let cpu = server.cpu_seconds();
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..8u64 {
        let client = client.clone();
        let base = server.base.clone();
        let done = done.clone();
        let failures = failures.clone();
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let data = pseudo_random(4096, (worker << 32) | i);
                i += 1;
                match push_small(&client, &base, "bench/small", data).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for worker in workers {
        worker.await.map_err(|e| e.to_string())?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed) as f64;
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        results.notes.push(format!("{failed} small pushes failed"));
    }
    results.push_small_per_s = Figure {
        value: Some(count / seconds),
        cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / count.max(1.0)),
    };
    Ok(())
}
