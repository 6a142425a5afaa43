//! `--pages`: the catalog page (`GET /`) of a registry holding 1,000 workers. The workers are
//! published with the library's `publish` (what `rbee-registry publish` runs), 8 at a time,
//! each with its own id, name, description, tags and worker type and one small linux/amd64
//! package. Then the page is fetched sequentially (one request in flight, keep-alive), and
//! so is a filtered page and a worker's page; each request's time from sending it to the
//! last byte of the body is the server's rendering time plus one loopback round trip.
//! Printed: p50, p90, p99 and max per page, and the page's size.

use std::path::Path;
use std::time::Instant;

use futures::{stream, StreamExt as _};
use rbee_registry::artifact::Platform;
use rbee_registry::client::publish::{publish, PublishRequest};
use rbee_registry::client::RegistryClient;

use crate::servers::Server;

/// Base metadata of the seeded workers (the test fixture), id, name and the rest varied.
const METADATA: &str = include_str!("../tests/fixtures/workers/llm-worker-rbee-cpu.metadata.json");
const TYPES: [&str; 3] = ["cpu", "cuda", "metal"];
const TAGS: [&str; 6] = ["llm", "inference", "embeddings", "vision", "audio", "llama"];

/// One page's latencies, milliseconds, sorted.
struct Timings {
    path: String,
    bytes: usize,
    millis: Vec<f64>,
}

impl Timings {
    fn quantile(&self, q: f64) -> f64 {
        let at = ((self.millis.len() as f64 - 1.0) * q).round() as usize;
        self.millis[at.min(self.millis.len() - 1)]
    }
}

fn package(dir: &Path, id: &str, metadata: &[u8]) -> Result<std::path::PathBuf, String> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let script = format!("#!/bin/sh\necho {id}\n");
    for (path, mode, data) in [
        (format!("bin/{id}"), 0o755, script.as_bytes()),
        ("metadata.json".to_string(), 0o644, metadata),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder
            .append_data(&mut header, path, data)
            .map_err(|e| e.to_string())?;
    }
    let bytes = builder
        .into_inner()
        .and_then(|gzip| gzip.finish())
        .map_err(|e| e.to_string())?;
    let path = dir.join(format!("{id}.tar.gz"));
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Publishes worker number `n`.
async fn publish_one(client: &RegistryClient, dir: &Path, n: usize) -> Result<(), String> {
    let id = format!("bench-worker-{n:04}");
    let mut metadata: serde_json::Value = serde_json::from_str(METADATA).map_err(|e| e.to_string())?;
    let worker_type = TYPES[n % TYPES.len()];
    metadata["id"] = id.clone().into();
    metadata["name"] = format!("Bench worker {n} ({worker_type})").into();
    metadata["description"] =
        format!("Benchmark worker number {n}: {worker_type} inference with <markup> & text to escape").into();
    metadata["worker_type"] = worker_type.into();
    metadata["tags"] = serde_json::json!([TAGS[n % TAGS.len()], TAGS[(n / 6) % TAGS.len()], worker_type]);
    metadata["binary_name"] = id.clone().into();
    let text = serde_json::to_vec_pretty(&metadata).map_err(|e| e.to_string())?;
    let metadata_path = dir.join(format!("{id}.json"));
    std::fs::write(&metadata_path, &text).map_err(|e| e.to_string())?;
    let request = PublishRequest {
        worker_id: id.clone(),
        version: "0.1.0".into(),
        metadata: metadata_path,
        platforms: vec![(
            Platform::parse("linux/amd64").map_err(|e| e.to_string())?,
            package(dir, &id, &text)?,
        )],
        pkgbuild: None,
    };
    publish(client, &request)
        .await
        .map(|_| ())
        .map_err(|e| format!("publishing {id}: {e}"))
}

async fn time_page(client: &reqwest::Client, server: &Server, path: &str, runs: usize) -> Result<Timings, String> {
    let mut millis = Vec::with_capacity(runs);
    let mut bytes = 0;
    // Two warm-up requests (connection, first reads), not counted.
    for run in 0..runs + 2 {
        let started = Instant::now();
        let response = client
            .get(server.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("GET {path}: {e}"))?;
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        bytes = body.len();
        if run >= 2 {
            millis.push(elapsed);
        }
    }
    millis.sort_by(f64::total_cmp);
    Ok(Timings {
        path: path.to_string(),
        bytes,
        millis,
    })
}

/// Publishes workers `0..count` (`publish_one`, 8 at a time) from packages built under
/// `dir`; returns the seconds it took.
pub async fn publish_workers(server: &Server, dir: &Path, count: usize) -> Result<f64, String> {
    let publisher = RegistryClient::new(&server.base, None).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let results: Vec<Result<(), String>> = stream::iter(0..count)
        .map(|n| {
            let publisher = &publisher;
            async move { publish_one(publisher, dir, n).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    Ok(started.elapsed().as_secs_f64())
}

/// Seeds `workers` workers into `server`, then times the pages; prints a Markdown table.
pub async fn measure(server: &Server, workers: usize, runs: usize) -> Result<(), String> {
    let dir = server.data.with_file_name("page-workers");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    server.step(&format!("publishing {workers} workers"));
    let seconds = publish_workers(server, &dir, workers).await?;
    server.step(&format!("published in {seconds:.1} s"));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|e| e.to_string())?;
    let listing = client
        .get(server.url("/"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let listed = listing.matches("<li class=\"worker\"").count();
    if listed != workers {
        return Err(format!("the catalog page lists {listed} workers, not {workers}"));
    }
    server.step("timing the pages");
    let mut rows = Vec::new();
    let middle = format!("/w/bench-worker-{:04}", workers / 2);
    for path in ["/", "/?q=inference&type=cuda&tag=llm", middle.as_str()] {
        rows.push(time_page(&client, server, path, runs).await?);
    }
    println!("| page ({workers} workers, {runs} sequential GETs) | p50 ms | p90 ms | p99 ms | max ms | HTML bytes |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| `{}` | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            row.path,
            row.quantile(0.5),
            row.quantile(0.9),
            row.quantile(0.99),
            row.millis.last().copied().unwrap_or(0.0),
            row.bytes
        );
    }
    Ok(())
}
