//! `storage.s3.redirect_downloads`: what the `307` to a presigned URL adds. A blob GET through
//! rbee-registry (the `307`, then the presigned GET) against a GET of the same presigned URL
//! alone, alternated; for a small blob the whole transfer, for the large one the time to the
//! first byte of the body.

use std::time::Instant;

use crate::client::{pseudo_random, push_small};
use crate::report::Samples;
use crate::servers::Server;

/// Alternating requests per figure.
const SMALL_RUNS: usize = 200;
const LARGE_RUNS: usize = 10;

/// Milliseconds per request: through the redirect and direct to the presigned URL.
#[derive(Default)]
pub struct Redirect {
    pub small_via: Samples,
    pub small_direct: Samples,
    pub large_via: Samples,
    pub large_direct: Samples,
}

/// How long one step took, in milliseconds.
fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// GETs `url` (no redirects followed): the `307`'s Location.
async fn redirect_of(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status() != 307 {
        return Err(format!("GET {url}: {} (expected 307)", response.status()));
    }
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| "307 without Location".into())
}

/// GETs `url`: with `whole`, the whole body; else until its first chunk.
async fn get(http: &reqwest::Client, url: &str, whole: bool) -> Result<(), String> {
    let mut response = http.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("presigned GET: {}", response.status()));
    }
    while response.chunk().await.map_err(|e| e.to_string())?.is_some() {
        if !whole {
            break;
        }
    }
    Ok(())
}

/// One figure: `runs` alternations of (307 + presigned GET) and (presigned GET alone).
async fn alternate(
    http: &reqwest::Client,
    blob_url: &str,
    whole: bool,
    runs: usize,
    via: &mut Samples,
    direct: &mut Samples,
) -> Result<(), String> {
    for _ in 0..runs {
        let started = Instant::now();
        let location = redirect_of(http, blob_url).await?;
        get(http, &location, whole).await?;
        via.0.push(ms(started));
        let started = Instant::now();
        get(http, &location, whole).await?;
        direct.0.push(ms(started));
    }
    Ok(())
}

/// Measures on `server` (started with `redirect_downloads = true`): a 4 KiB blob pushed
/// now, and the large blob `large_digest` already in `large_repo`.
pub async fn measure(server: &Server, large_repo: &str, large_digest: &str) -> Result<Redirect, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    server.step("redirected downloads");
    let small = push_small(&http, &server.base, "bench/redirect", pseudo_random(4096, 6000)).await?;
    let mut result = Redirect::default();
    let small_url = server.url(&format!("/v2/bench/redirect/blobs/{small}"));
    alternate(
        &http,
        &small_url,
        true,
        SMALL_RUNS,
        &mut result.small_via,
        &mut result.small_direct,
    )
    .await?;
    let large_url = server.url(&format!("/v2/{large_repo}/blobs/{large_digest}"));
    alternate(
        &http,
        &large_url,
        false,
        LARGE_RUNS,
        &mut result.large_via,
        &mut result.large_direct,
    )
    .await?;
    Ok(result)
}
