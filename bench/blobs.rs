//! Large blobs: the streamed push (also on an rbee-registry without fsync), the pull, and
//! the pull compared with nginx `sendfile` serving the same file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::client::{pseudo_random, pull, push_streamed, sha256};
use crate::report::{Figure, Results};
use crate::servers::{start_nginx, start_rbee, Server};
use crate::Args;

/// Two pushes of the large blob (the faster counts), then three pulls of it (the median).
pub async fn measure_large(
    args: &Args,
    client: &reqwest::Client,
    server: &Server,
    results: &mut Results,
) -> Result<(), String> {
    let large = args.large_mib * 1024 * 1024;
    server.step("large blob push and pull");

    // Large blob: two pushes of different content, the best counts; then three pulls, the median.
    let (push_figure, last_digest) = best_large_push(args, client, server).await?;
    results.push_large_mib_s = push_figure;
    let blob_url = server.url(&format!("/v2/bench/large/blobs/{last_digest}"));
    let mut pulls = Vec::new();
    let cpu = server.cpu_seconds();
    for _ in 0..3 {
        pulls.push(pull(client, &blob_url, large as u64).await?);
    }
    let pull_cpu = (server.cpu_seconds() - cpu) / 3.0;
    pulls.sort_by(f64::total_cmp);
    results.pull_large_mib_s = Figure {
        value: Some(args.large_mib as f64 / pulls[1]),
        cpu_ms: Some(pull_cpu * 1000.0),
    };
    Ok(())
}

/// Two streamed pushes of the large blob, each of different content: the faster one's
/// MiB/s and server CPU, and the digest of the last blob pushed.
async fn best_large_push(args: &Args, client: &reqwest::Client, server: &Server) -> Result<(Figure, String), String> {
    let large = args.large_mib * 1024 * 1024;
    let mut best_push = f64::MAX;
    let mut push_cpu = 0.0;
    let mut last_digest = String::new();
    for round in 0..2u64 {
        let data = bytes::Bytes::from(pseudo_random(large, 1000 + round));
        last_digest = sha256(&data);
        let cpu = server.cpu_seconds();
        let started = Instant::now();
        push_streamed(client, server, "bench/large", data).await?;
        let seconds = started.elapsed().as_secs_f64();
        let used = server.cpu_seconds() - cpu;
        if seconds < best_push {
            best_push = seconds;
            push_cpu = used;
        }
    }
    let figure = Figure {
        value: Some(args.large_mib as f64 / best_push),
        cpu_ms: Some(push_cpu * 1000.0),
    };
    Ok((figure, last_digest))
}

/// The large push again on an rbee-registry with `storage.fsync = false`: the durability
/// distribution's filesystem driver has (it never fsyncs), so the two compare like for like.
pub async fn measure_unsynced_push(args: &Args, work: &Path) -> Result<Figure, String> {
    let config = work.join("rbee-no-fsync.toml");
    std::fs::write(&config, "[storage]\nfsync = false\n").map_err(|e| e.to_string())?;
    let config = config.to_string_lossy().to_string();
    let server = start_rbee(args, work, "rbee-no-fsync", &["--config", &config])?;
    eprintln!("rbee-bench: rbee-registry with storage.fsync = false: large blob push");
    let client = reqwest::Client::new();
    Ok(best_large_push(args, &client, &server).await?.0)
}

pub async fn measure_nginx(args: &Args, rbee: &Server, work: &Path) -> Result<NginxComparison, String> {
    let root = rbee.data.join("blobs");
    let blobs_dir = root.join("blobs/sha256");
    // The last large blob pushed is the biggest file under the blob root.
    let mut biggest: Option<(u64, PathBuf)> = None;
    let mut stack = vec![blobs_dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
            let path = entry.path();
            let meta = entry.metadata().map_err(|e| e.to_string())?;
            if meta.is_dir() {
                stack.push(path);
            } else if biggest.as_ref().is_none_or(|(size, _)| meta.len() > *size) {
                biggest = Some((meta.len(), path));
            }
        }
    }
    let (size, path) = biggest.ok_or("no blob file found")?;
    let relative = path.strip_prefix(&root).map_err(|e| e.to_string())?;
    // The blob's digest is its file name.
    let digest = format!(
        "sha256:{}",
        path.file_name().ok_or("blob file without a name")?.to_string_lossy()
    );
    let nginx = start_nginx(&args.nginx, &root, work)?;
    let client = reqwest::Client::new();
    let nginx_url = format!("{}/{}", nginx.base, relative.display());
    let rbee_url = rbee.url(&format!("/v2/bench/large/blobs/{digest}"));
    // Alternating pulls in the same minutes, so both see the same machine; medians of 5.
    let (mut from_nginx, mut from_rbee) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        from_nginx.push(pull(&client, &nginx_url, size).await?);
        from_rbee.push(pull(&client, &rbee_url, size).await?);
    }
    from_nginx.sort_by(f64::total_cmp);
    from_rbee.sort_by(f64::total_cmp);
    let mib = size as f64 / (1024.0 * 1024.0);
    Ok(NginxComparison {
        nginx_mib_s: mib / from_nginx[2],
        rbee_mib_s: mib / from_rbee[2],
    })
}

/// Pulls of the same file from nginx (`sendfile`) and rbee-registry, taken alternately.
pub struct NginxComparison {
    pub nginx_mib_s: f64,
    pub rbee_mib_s: f64,
}
