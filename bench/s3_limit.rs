//! The S3 limit: a direct multipart upload and a direct GET of the large blob's bytes to and
//! from the same bucket with `object_store`, alternated with rbee-registry's push and pull of
//! blobs of the same size, so both see the same machine in the same minutes.

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};

use crate::client::{pseudo_random, pull, push_streamed_phases, sha256};
use crate::report::Samples;
use crate::servers::Server;

/// Part size (MiB) and parts in flight of a direct multipart upload.
pub type Shape = (usize, usize);

/// The shapes tried for the direct upload; the fastest is the limit.
const SHAPES: [Shape; 4] = [(5, 2), (8, 4), (16, 4), (16, 8)];
/// Alternating rounds of direct and rbee transfers.
const ROUNDS: u64 = 3;
/// The repository rbee's large blobs go to.
pub const REPO: &str = "bench/s3";

/// Seconds per transfer, and rbee-registry's CPU seconds per transfer.
#[derive(Default)]
pub struct Limit {
    pub shape: Shape,
    /// Each shape tried once: its MiB/s.
    pub shapes: Vec<(Shape, f64)>,
    pub direct_put: Samples,
    pub direct_get: Samples,
    /// A server-side copy (`CopyObject`) of the directly uploaded object to another key:
    /// what finishing an upload costs on S3 (the verified upload moved to the blob's key).
    pub direct_copy: Samples,
    pub rbee_push: Samples,
    pub rbee_pull: Samples,
    pub rbee_push_cpu: Samples,
    /// The push's last request alone (`PUT ?digest=`: verify, move to the blob's key).
    pub rbee_finish: Samples,
    pub rbee_pull_cpu: Samples,
    /// The digest of the last blob rbee stored.
    pub last_digest: String,
}

/// Uploads `data` to `path` as a multipart upload of the given shape, fed in 1 MiB buffers
/// as a streamed request body would arrive; returns seconds.
pub async fn direct_put(client: &AmazonS3, path: &ObjectPath, data: &Bytes, shape: Shape) -> Result<f64, String> {
    let (part_mib, in_flight) = shape;
    let started = Instant::now();
    let upload = client.put_multipart(path).await.map_err(|e| e.to_string())?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, part_mib * 1024 * 1024);
    for offset in (0..data.len()).step_by(1024 * 1024) {
        writer.wait_for_capacity(in_flight).await.map_err(|e| e.to_string())?;
        writer.put(data.slice(offset..(offset + 1024 * 1024).min(data.len())));
    }
    writer.finish().await.map_err(|e| e.to_string())?;
    Ok(started.elapsed().as_secs_f64())
}

/// One GET of the whole object, counting its bytes; returns seconds.
pub async fn direct_get(client: &AmazonS3, path: &ObjectPath, expected: u64) -> Result<f64, String> {
    let started = Instant::now();
    let mut stream = client.get(path).await.map_err(|e| e.to_string())?.into_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        received += chunk.map_err(|e| e.to_string())?.len() as u64;
    }
    if received != expected {
        return Err(format!("direct GET: {received} bytes, expected {expected}"));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Tries each shape once, then alternates `ROUNDS` times: direct upload (fastest shape), rbee
/// push, direct GET, rbee pull, each of fresh bytes. Objects go under `prefix`.
pub async fn measure(client: &AmazonS3, prefix: &str, rbee: &Server, size: usize) -> Result<Limit, String> {
    let http = reqwest::Client::new();
    let mut limit = Limit::default();
    let mib = size as f64 / (1024.0 * 1024.0);
    rbee.step("direct S3 upload shapes");
    let probe = Bytes::from(pseudo_random(size, 3000));
    let mut best = (SHAPES[0], f64::MAX);
    for (i, shape) in SHAPES.into_iter().enumerate() {
        let path = ObjectPath::from(format!("{prefix}/shape-{i}"));
        let seconds = direct_put(client, &path, &probe, shape).await?;
        limit.shapes.push((shape, mib / seconds));
        if seconds < best.1 {
            best = (shape, seconds);
        }
    }
    drop(probe);
    limit.shape = best.0;
    rbee.step("direct S3 and rbee-registry, alternating");
    for round in 0..ROUNDS {
        let direct = Bytes::from(pseudo_random(size, 4000 + round));
        let path = ObjectPath::from(format!("{prefix}/round-{round}"));
        limit
            .direct_put
            .0
            .push(direct_put(client, &path, &direct, limit.shape).await?);
        drop(direct);
        let copied = ObjectPath::from(format!("{prefix}/round-{round}-copy"));
        let started = Instant::now();
        client.copy(&path, &copied).await.map_err(|e| e.to_string())?;
        limit.direct_copy.0.push(started.elapsed().as_secs_f64());

        let ours = Bytes::from(pseudo_random(size, 5000 + round));
        let digest = sha256(&ours);
        let cpu = rbee.cpu_seconds();
        let phases = push_streamed_phases(&http, rbee, REPO, ours).await?;
        limit.rbee_push.0.push(phases.total());
        limit.rbee_finish.0.push(phases.put);
        limit.rbee_push_cpu.0.push(rbee.cpu_seconds() - cpu);

        limit.direct_get.0.push(direct_get(client, &path, size as u64).await?);

        let cpu = rbee.cpu_seconds();
        let url = rbee.url(&format!("/v2/{REPO}/blobs/{digest}"));
        limit.rbee_pull.0.push(pull(&http, &url, size as u64).await?);
        limit.rbee_pull_cpu.0.push(rbee.cpu_seconds() - cpu);
        limit.last_digest = digest;
    }
    Ok(limit)
}
