//! Issue 12's bad input for the pull-through cache: an upstream (a tiny server of the test's
//! own) serving a manifest whose bytes do not match its digest — the digest asked for, or
//! the `Docker-Content-Digest` it declares for a tag — or a blob whose bytes do not match.
//! The cache refuses each with a clear error and stores nothing; containerd's `?ns=`
//! selects the upstream (a host no upstream has is answered from what is held).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use rbee_registry::config::FileConfig;

use crate::pull_through::pull_through;
use crate::support::*;

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// The blob the upstream claims to have: it serves other bytes of the same length.
fn good_blob() -> Vec<u8> {
    bytes_of(256 * 1024, 3)
}

/// A registry that lies: `bad:lying` comes with a `Docker-Content-Digest` of other bytes,
/// `bad@<digest of other bytes>` serves MANIFEST, and the blob `good_blob()` is served as
/// other bytes. Counts its requests.
async fn lying_upstream(requests: Arc<AtomicUsize>) -> String {
    let other_digest = sha256(b"other bytes");
    let blob_digest = sha256(&good_blob());
    let handler = move |request: Request| {
        let (other_digest, blob_digest, requests) = (other_digest.clone(), blob_digest.clone(), requests.clone());
        async move {
            requests.fetch_add(1, Ordering::SeqCst);
            let path = request.uri().path().to_string();
            let manifest = |digest: &str| {
                Response::builder()
                    .status(200)
                    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                    .header("docker-content-digest", digest)
                    .body(Body::from(MANIFEST))
                    .unwrap()
            };
            if path == "/v2/" {
                Response::builder().status(200).body(Body::empty()).unwrap()
            } else if path == "/v2/bad/manifests/lying" || path == format!("/v2/bad/manifests/{other_digest}") {
                manifest(&other_digest)
            } else if path == format!("/v2/bad/blobs/{blob_digest}") {
                let mut evil = good_blob();
                evil[1000] ^= 0xff;
                Response::builder()
                    .status(200)
                    .header("content-type", "application/octet-stream")
                    .body(Body::from(evil))
                    .unwrap()
            } else {
                Response::builder()
                    .status(404)
                    .body(Body::from(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}"#))
                    .unwrap()
            }
        }
    };
    let router = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn message(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["errors"][0]["message"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn an_upstream_serving_bytes_that_do_not_match_their_digest_is_refused_and_nothing_stored() {
    let requests = Arc::new(AtomicUsize::new(0));
    let upstream = lying_upstream(requests.clone()).await;
    let cache = TestSite::new()
        .await
        .start_configured(FileConfig::default(), |config| {
            config.pull_through = pull_through(&upstream, None, Duration::from_secs(300));
        })
        .await;

    // A tag whose declared digest is not its bytes' digest.
    let response = cache.get("/v2/bad/manifests/lying").await;
    assert_eq!(response.status(), 502);
    let said = message(response).await;
    assert!(said.contains("hash to") && said.contains("lying"), "{said}");

    // A manifest asked for by a digest its bytes do not have.
    let other_digest = sha256(b"other bytes");
    let response = cache.get(&format!("/v2/bad/manifests/{other_digest}")).await;
    assert_eq!(response.status(), 502);
    let said = message(response).await;
    assert!(said.contains("hash to") && said.contains(&other_digest), "{said}");

    // A blob whose bytes do not match: the first client's stream is cut before its end (its
    // last bytes are held back until the digest is checked), never a whole wrong blob.
    let blob_digest = sha256(&good_blob());
    let path = format!("/v2/bad/blobs/{blob_digest}");
    let response = cache.get(&path).await;
    if response.status() == 200 {
        let body = response.bytes().await;
        assert!(body.is_err(), "a blob that does not match its digest was served whole");
    }
    // A client asking for a range waits for the verified store: a clear error.
    let response = cache
        .client
        .get(cache.url(&path))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let said = message(response).await;
    assert!(said.contains("hash to") && said.contains(&blob_digest), "{said}");

    // Nothing of it was stored: no blob, no staged upload, no repository, no tag.
    assert_eq!(cache.stored_blobs().await, Vec::<String>::new());
    assert_eq!(cache.stored_objects("uploads").await, Vec::<String>::new());
    let tags = cache.get("/v2/bad/tags/list").await;
    assert_eq!(tags.status(), 404);
    assert_eq!(error_code(tags).await, "NAME_UNKNOWN");

    // `?ns=` naming no upstream: answered from what is held, the upstream not asked.
    let before = requests.load(Ordering::SeqCst);
    let response = cache.get("/v2/bad/manifests/lying?ns=elsewhere.example").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
    assert_eq!(requests.load(Ordering::SeqCst), before);
    // `?ns=` naming the upstream's host selects it.
    let host = upstream.trim_start_matches("http://");
    let response = cache.get(&format!("/v2/bad/manifests/lying?ns={host}")).await;
    assert_eq!(response.status(), 502);
    assert!(requests.load(Ordering::SeqCst) > before);

    // A repository the upstream does not have: 404, as from any registry.
    let response = cache.get("/v2/absent/manifests/v1").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
    let metrics = cache.get("/metrics").await.text().await.unwrap();
    assert!(
        crate::pull_through::counter_sum(&metrics, "rbee_pull_through_errors_total{", &[r#"reason="invalid""#]) >= 3,
        "{metrics}"
    );
    cache.stop().await;
}
