//! Manifest GET: one small image pushed and tagged, then `wrk` on its manifest by tag.

use crate::client::{pseudo_random, push_small, run_wrk};
use crate::report::{Figure, Results};
use crate::servers::Server;
use crate::Args;

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// The small image of the manifest and tag measurements: its blobs and manifest body.
pub struct BenchImage {
    pub config_digest: String,
    pub layer_digest: String,
    pub manifest: String,
}

/// PUTs the image's manifest as `repo:tag`.
pub async fn put_manifest(
    client: &reqwest::Client,
    server: &Server,
    image: &BenchImage,
    repo: &str,
    tag: &str,
) -> Result<(), String> {
    let response = client
        .put(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", MANIFEST_TYPE)
        .body(image.manifest.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 201 {
        return Err(format!("PUT manifest: {}", response.status()));
    }
    Ok(())
}

/// Pushes the small image's blobs into `repo` (a manifest with a config and a 1 KiB layer):
/// the image, not yet tagged.
pub async fn push_image(client: &reqwest::Client, server: &Server, repo: &str) -> Result<BenchImage, String> {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let layer = pseudo_random(1024, 7);
    let config_digest = push_small(client, &server.base, repo, config.clone()).await?;
    let layer_digest = push_small(client, &server.base, repo, layer.clone()).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    Ok(BenchImage {
        config_digest,
        layer_digest,
        manifest,
    })
}

/// Pushes the image as `bench/image:v1`, then measures manifest GETs (32 connections): req/s
/// with server CPU per request, and p99. Returns the image for the tag listing.
pub async fn measure(
    args: &Args,
    client: &reqwest::Client,
    server: &Server,
    results: &mut Results,
) -> Result<BenchImage, String> {
    // A small image for manifest GETs, then the tag-listing repository.
    let image = push_image(client, server, "bench/image").await?;
    put_manifest(client, server, &image, "bench/image", "v1").await?;

    server.step("manifest GET");
    let accept = format!("Accept: {MANIFEST_TYPE}");
    let cpu = server.cpu_seconds();
    let wrk = run_wrk(
        &server.url("/v2/bench/image/manifests/v1"),
        32,
        args.seconds,
        &[&accept],
    )?;
    let cpu_ms = (server.cpu_seconds() - cpu) * 1000.0 / wrk.requests;
    results.manifest_rps = Figure {
        value: Some(wrk.requests_per_second),
        cpu_ms: Some(cpu_ms),
    };
    results.manifest_p99_ms = Figure {
        value: Some(wrk.p99_ms),
        cpu_ms: None,
    };
    Ok(image)
}
