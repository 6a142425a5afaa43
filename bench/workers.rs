//! The worker API (rbee-registry only; distribution has none): a worker published with the
//! library's `publish`, then `/v1/workers`, the download endpoint and the package download.

use std::time::Duration;

use crate::client::{pseudo_random, run_wrk};
use crate::report::{Figure, Results};
use crate::servers::Server;
use crate::Args;

/// The worker the benchmark publishes into rbee-registry.
const BENCH_WORKER: &str = "llm-worker-rbee-cpu";
/// Its metadata (the test fixture, version 0.1.0).
const BENCH_WORKER_METADATA: &str = include_str!("../tests/fixtures/workers/llm-worker-rbee-cpu.metadata.json");
/// Size of the executable in its package: pseudo-random, so the `.tar.gz` is about as big.
const BENCH_WORKER_BINARY_BYTES: usize = 64 * 1024;

/// Publishes the bench worker (rbee-registry only), then, where `/v1/workers` answers 200:
/// its req/s, the download endpoint's and the package download's (32 connections each),
/// and a note comparing the downloads `wrk` completed with those the registry counted.
pub async fn measure(
    args: &Args,
    client: &reqwest::Client,
    server: &Server,
    results: &mut Results,
) -> Result<(), String> {
    // The rbee worker API (issue 3): measured only where the server has it, after publishing
    // one worker so that the list is not empty and the download endpoint has something.
    if server.label == "rbee-registry" {
        server.step("publishing a worker");
        publish_bench_worker(server).await?;
    }
    let workers = client
        .get(server.url("/v1/workers"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if workers.status() == 200 {
        let listing: serde_json::Value = workers.json().await.map_err(|e| e.to_string())?;
        let cpu = server.cpu_seconds();
        let wrk = run_wrk(&server.url("/v1/workers"), 32, args.seconds, &[])?;
        results.workers_rps = Some(Figure {
            value: Some(wrk.requests_per_second),
            cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
        });
        match download_path(client, server, &listing).await {
            Some(path) => {
                server.step("download endpoint");
                let cpu = server.cpu_seconds();
                let wrk = run_wrk(&server.url(&path), 32, args.seconds, &[])?;
                results.download_rps = Some(Figure {
                    value: Some(wrk.requests_per_second),
                    cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
                });
                server.step("package download");
                let answer: serde_json::Value = client
                    .get(server.url(&path))
                    .send()
                    .await
                    .and_then(|response| response.error_for_status())
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let url = answer["download_url"]
                    .as_str()
                    .ok_or_else(|| format!("download endpoint answered without a download_url: {answer}"))?;
                let counted_before = downloads_counted(client, server, BENCH_WORKER).await?;
                let cpu = server.cpu_seconds();
                let wrk = run_wrk(url, 32, args.seconds, &[])?;
                results.package_rps = Some(Figure {
                    value: Some(wrk.requests_per_second),
                    cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
                });
                // Counting is asynchronous (a bounded queue and one writer): wait until the
                // count stops moving, then compare it with the downloads wrk completed.
                let mut counted = downloads_counted(client, server, BENCH_WORKER).await?;
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let now = downloads_counted(client, server, BENCH_WORKER).await?;
                    if now == counted {
                        break;
                    }
                    counted = now;
                }
                results.notes.push(format!(
                    "package downloads: wrk completed {:.0}, the registry counted {} in /v1/workers/{BENCH_WORKER}/stats",
                    wrk.requests,
                    counted - counted_before
                ));
            }
            None => results
                .notes
                .push("download: no published worker to download (publish one to measure it)".into()),
        }
    }
    Ok(())
}

/// Publishes [`BENCH_WORKER`] 0.1.0 for linux/amd64 with the library's `publish` (what
/// `rbee-registry publish` runs): the metadata and a `.tar.gz` holding `bin/<worker>`, a
/// LICENSE and the metadata, written next to the server's data directory.
async fn publish_bench_worker(server: &Server) -> Result<(), String> {
    use rbee_registry::artifact::Platform;
    use rbee_registry::client::publish::{publish, PublishRequest};
    use rbee_registry::client::RegistryClient;

    let dir = server.data.with_file_name("worker");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let metadata = dir.join("metadata.json");
    std::fs::write(&metadata, BENCH_WORKER_METADATA).map_err(|e| e.to_string())?;
    let mut package = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let binary = pseudo_random(BENCH_WORKER_BINARY_BYTES, 42);
    for (path, mode, data) in [
        (format!("bin/{BENCH_WORKER}"), 0o755, binary.as_slice()),
        ("LICENSE".to_string(), 0o644, b"GPL-3.0-or-later\n".as_slice()),
        ("metadata.json".to_string(), 0o644, BENCH_WORKER_METADATA.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        package
            .append_data(&mut header, path, data)
            .map_err(|e| e.to_string())?;
    }
    let package = package
        .into_inner()
        .and_then(|gzip| gzip.finish())
        .map_err(|e| e.to_string())?;
    let package_path = dir.join("linux-x86_64.tar.gz");
    std::fs::write(&package_path, package).map_err(|e| e.to_string())?;
    let request = PublishRequest {
        worker_id: BENCH_WORKER.into(),
        version: "0.1.0".into(),
        metadata,
        platforms: vec![(Platform::parse("linux/amd64").map_err(|e| e.to_string())?, package_path)],
        pkgbuild: None,
    };
    let client = RegistryClient::new(&server.base, None).map_err(|e| e.to_string())?;
    publish(&client, &request)
        .await
        .map_err(|e| format!("publishing {BENCH_WORKER}: {e}"))?;
    Ok(())
}

/// The worker's counted downloads, from `GET /v1/workers/:id/stats`: `downloads` as the
/// design document has it (the total as a number), or the `{total, ...}` object served
/// before issue 9.
async fn downloads_counted(client: &reqwest::Client, server: &Server, worker: &str) -> Result<u64, String> {
    let stats: serde_json::Value = client
        .get(server.url(&format!("/v1/workers/{worker}/stats")))
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    stats["downloads"]
        .as_u64()
        .or_else(|| stats["downloads"]["total"].as_u64())
        .ok_or_else(|| format!("stats without a downloads count: {stats}"))
}

/// The download endpoint of the first listed worker's latest version and first platform.
async fn download_path(client: &reqwest::Client, server: &Server, listing: &serde_json::Value) -> Option<String> {
    let workers = listing.get("workers").or(Some(listing))?.as_array()?;
    let id = workers.first()?.get("id")?.as_str()?.to_string();
    let versions: serde_json::Value = client
        .get(server.url(&format!("/v1/workers/{id}/versions")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let version = versions.get("latest")?.as_str()?.to_string();
    // Without a platform the endpoint answers with the platforms that exist.
    let choices: serde_json::Value = client
        .get(server.url(&format!("/v1/workers/{id}/{version}/download")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let text = choices.to_string();
    let platform = ["linux-x86_64", "linux-aarch64"]
        .into_iter()
        .find(|p| text.contains(p))?;
    Some(format!("/v1/workers/{id}/{version}/download?platform={platform}"))
}
