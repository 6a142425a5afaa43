//! Tag listing: the image's blobs mounted into `bench/tags`, its manifest tagged `--tags`
//! times (8 PUTs at once), then `wrk` on the tag list.

use crate::client::run_wrk;
use crate::manifests::{put_manifest, BenchImage};
use crate::report::{Figure, Results};
use crate::servers::Server;
use crate::Args;

/// Tag list req/s (8 connections) with server CPU per request, and p99.
pub async fn measure(
    args: &Args,
    client: &reqwest::Client,
    server: &Server,
    image: &BenchImage,
    results: &mut Results,
) -> Result<(), String> {
    // Mount the blobs into the tag repository, then tag the manifest `tags` times, 8 at once.
    mount_image(client, server, image, "bench/image", "bench/tags").await?;
    server.step("tagging and tag listing");
    let names: Vec<String> = (0..args.tags).map(|i| format!("t{i:05}")).collect();
    for batch in names.chunks(8) {
        let pending: Vec<_> = batch
            .iter()
            .map(|tag| put_manifest(client, server, image, "bench/tags", tag))
            .collect();
        for result in futures::future::join_all(pending).await {
            result?;
        }
    }
    let cpu = server.cpu_seconds();
    let wrk = run_wrk(&server.url("/v2/bench/tags/tags/list"), 8, args.seconds, &[])?;
    results.tags_rps = Figure {
        value: Some(wrk.requests_per_second),
        cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
    };
    results.tags_p99_ms = Figure {
        value: Some(wrk.p99_ms),
        cpu_ms: None,
    };
    Ok(())
}

/// Mounts the image's blobs from `from` into `repo` (`POST …/blobs/uploads/?mount=&from=`).
pub async fn mount_image(
    client: &reqwest::Client,
    server: &Server,
    image: &BenchImage,
    from: &str,
    repo: &str,
) -> Result<(), String> {
    for digest in [&image.config_digest, &image.layer_digest] {
        let response = client
            .post(server.url(&format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}")))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != 201 {
            return Err(format!("mount into {repo}: {}", response.status()));
        }
    }
    Ok(())
}
