//! Bad input gets the spec's error code and stores nothing.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// Sends a raw HTTP/1.1 request (so paths are not normalised by a URL library) and
/// returns the status and body. `send_bytes` may be shorter than the declared length,
/// in which case the connection is closed after sending them.
async fn raw_request(app: &TestApp, head: &str, send_bytes: &[u8], truncated: bool) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(app.host()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(send_bytes).await.unwrap();
    if truncated {
        stream.shutdown().await.unwrap();
        drop(stream);
        return (0, String::new());
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn digest_that_does_not_match_the_bytes() {
    let app = TestApp::start().await;
    let wrong = sha256(b"something else");
    let response = app
        .client
        .post(app.url(&format!("/v2/bad/blobs/uploads/?digest={wrong}")))
        .body(b"actual bytes".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "DIGEST_INVALID");
    assert_eq!(app.get(&format!("/v2/bad/blobs/{wrong}")).await.status(), 404);
    assert_eq!(
        app.get(&format!("/v2/bad/blobs/{}", sha256(b"actual bytes")))
            .await
            .status(),
        404
    );
    assert!(app.stored_blobs().await.is_empty());

    // In a chunked upload, a wrong final digest leaves the session as it was, to retry.
    let started = app.client.post(app.url("/v2/bad/blobs/uploads/")).send().await.unwrap();
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let patched = app
        .client
        .patch(app.url(&location))
        .body(b"chunk".to_vec())
        .send()
        .await
        .unwrap();
    let location = patched.headers()["location"].to_str().unwrap().to_string();
    let refused = app
        .client
        .put(format!("{}?digest={wrong}", app.url(&location)))
        .body(b"tail".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(error_code(refused).await, "DIGEST_INVALID");
    let status = app.get(&location).await;
    assert_eq!(status.headers()["range"], "0-4", "the refused final chunk was not kept");
    let right = sha256(b"chunktail");
    let finished = app
        .client
        .put(format!("{}?digest={right}", app.url(&location)))
        .body(b"tail".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
}

#[tokio::test]
async fn chunk_with_a_wrong_content_range() {
    let app = TestApp::start().await;
    let started = app.client.post(app.url("/v2/bad/blobs/uploads/")).send().await.unwrap();
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let first = app
        .client
        .patch(app.url(&location))
        .header("content-range", "0-9")
        .body(vec![7u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_string();
    // Out of order: starts past the end.
    let gap = app
        .client
        .patch(app.url(&location))
        .header("content-range", "20-29")
        .body(vec![7u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(gap.status(), 416);
    assert_eq!(error_code(gap).await, "BLOB_UPLOAD_INVALID");
    // Overlapping: starts before the end.
    let overlap = app
        .client
        .patch(app.url(&location))
        .header("content-range", "5-14")
        .body(vec![7u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(overlap.status(), 416);
    // Right start but a length that does not match the body.
    let short = app
        .client
        .patch(app.url(&location))
        .header("content-range", "10-29")
        .body(vec![7u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 400);
    assert_eq!(error_code(short).await, "BLOB_UPLOAD_INVALID");
    // Unparsable.
    let garbage = app
        .client
        .patch(app.url(&location))
        .header("content-range", "ten-twenty")
        .body(vec![7u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let status = app.get(&location).await;
    assert_eq!(status.headers()["range"], "0-9", "refused chunks stored nothing");
}

#[tokio::test]
async fn names_with_dot_dot_or_uppercase() {
    let app = TestApp::start().await;
    let digest = sha256(b"x");
    for name in ["a/../b", "..", "Upper/case", "a//b", "a/./b", "-a"] {
        let head = format!(
            "POST /v2/{name}/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
            app.host()
        );
        let (status, body) = raw_request(&app, &head, b"x", false).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains("NAME_INVALID"), "{name}: {body}");
    }
    let manifest_head = format!(
        "GET /v2/../../etc/manifests/latest HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        app.host()
    );
    let (status, body) = raw_request(&app, &manifest_head, b"", false).await;
    assert_eq!(status, 400, "{body}");
    assert!(app.stored_blobs().await.is_empty());
    let catalog: serde_json::Value = app.get("/v2/_catalog").await.json().await.unwrap();
    assert_eq!(catalog["repositories"], json!([]));
}

#[tokio::test]
async fn manifest_with_an_unknown_blob() {
    let app = TestApp::start().await;
    let config_digest = app.push_blob("bad", b"{}").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(b"never pushed"), "size": 12}]
    });
    let response = app
        .client
        .put(app.url("/v2/bad/manifests/v1"))
        .header("content-type", OCI_MANIFEST)
        .json(&manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(app.get("/v2/bad/manifests/v1").await.status(), 404);
    let tags: serde_json::Value = app.get("/v2/bad/tags/list").await.json().await.unwrap();
    assert_eq!(tags["tags"], json!([]));
}

#[tokio::test]
async fn five_mib_manifest() {
    let app = TestApp::start().await;
    let config_digest = app.push_blob("big", b"{}").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [],
        "annotations": {"padding": "x".repeat(5 * 1024 * 1024)}
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let response = app
        .client
        .put(app.url("/v2/big/manifests/v1"))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "MANIFEST_INVALID");
    // Also when streamed without a Content-Length.
    let stream = futures::stream::iter(
        body.chunks(65536)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = app
        .client
        .put(app.url("/v2/big/manifests/v1"))
        .header("content-type", OCI_MANIFEST)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(app.get("/v2/big/manifests/v1").await.status(), 404);
}

#[tokio::test]
async fn bad_json_and_wrong_manifest_digest() {
    let app = TestApp::start().await;
    app.push_blob("bad", b"seed").await;
    for body in [
        "{not json",
        "[]",
        r#"{"schemaVersion": 2, "mediaType": "application/x-unknown"}"#,
    ] {
        let response = app
            .client
            .put(app.url("/v2/bad/manifests/v1"))
            .header("content-type", OCI_MANIFEST)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(error_code(response).await, "MANIFEST_INVALID", "{body}");
    }
    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
    let response = app
        .client
        .put(app.url(&format!("/v2/bad/manifests/{}", sha256(b"other"))))
        .header("content-type", OCI_INDEX)
        .json(&manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn truncated_upload_is_never_served() {
    let app = TestApp::start().await;
    let data = bytes_of(1_000_000, 7);
    let digest = sha256(&data);
    // A monolithic upload whose connection dies halfway.
    let head = format!(
        "POST /v2/cut/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
        app.host(),
        data.len()
    );
    raw_request(&app, &head, &data[..500_000], true).await;

    // A chunked upload whose PATCH dies halfway.
    let started = app.client.post(app.url("/v2/cut/blobs/uploads/")).send().await.unwrap();
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nContent-Range: 0-999999\r\nContent-Length: 1000000\r\n\r\n",
        app.host()
    );
    raw_request(&app, &head, &data[..300_000], true).await;

    // Give the server a moment to notice the closed connections.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.get(&format!("/v2/cut/blobs/{digest}")).await.status(), 404);
    let status = app.get(&location).await;
    assert_eq!(status.status(), 204);
    assert_eq!(status.headers()["range"], "0-0", "nothing of the cut chunk counts");
    // Finishing with the digest of all the bytes fails: they never arrived.
    let finish = app
        .client
        .put(format!("{}?digest={digest}", app.url(&location)))
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), 400);
    assert_eq!(app.get(&format!("/v2/cut/blobs/{digest}")).await.status(), 404);
    assert!(app.stored_blobs().await.is_empty());
}

/// A reference that is neither a tag nor a digest names no manifest: reads and deletes answer
/// `404 MANIFEST_UNKNOWN` (as distribution and zot do, and the OCI conformance suite requires
/// for reads); a push under it is refused with `400` (`TAG_INVALID`, or `DIGEST_INVALID` for
/// a reference shaped like a digest).
#[tokio::test]
async fn manifest_reference_that_is_neither_tag_nor_digest() {
    let app = TestApp::start().await;
    let manifest = app.image_manifest("refs", b"layer").await;
    app.put_manifest("refs", "v1", OCI_MANIFEST, &manifest).await;
    let too_long = "t".repeat(129);
    let references = [
        ".INVALID_MANIFEST_NAME",
        "-dash",
        "bad:tag",
        "sha256:totallywrong",
        too_long.as_str(),
    ];
    for reference in references {
        let path = format!("/v2/refs/manifests/{reference}");
        let got = app.get(&path).await;
        assert_eq!(got.status(), 404, "GET {reference}");
        assert_eq!(error_code(got).await, "MANIFEST_UNKNOWN", "GET {reference}");
        let head = app.client.head(app.url(&path)).send().await.unwrap();
        assert_eq!(head.status(), 404, "HEAD {reference}");
        let deleted = app.client.delete(app.url(&path)).send().await.unwrap();
        assert_eq!(deleted.status(), 404, "DELETE {reference}");
        assert_eq!(error_code(deleted).await, "MANIFEST_UNKNOWN", "DELETE {reference}");
        let pushed = app
            .client
            .put(app.url(&path))
            .header("content-type", OCI_MANIFEST)
            .json(&manifest)
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), 400, "PUT {reference}");
        let expected = if reference.contains(':') {
            "DIGEST_INVALID"
        } else {
            "TAG_INVALID"
        };
        assert_eq!(error_code(pushed).await, expected, "PUT {reference}");
    }
    // In a repository nobody pushed to, too.
    let got = app.get("/v2/nobody/manifests/.INVALID_MANIFEST_NAME").await;
    assert_eq!(got.status(), 404);
    assert_eq!(error_code(got).await, "MANIFEST_UNKNOWN");
    let tags: serde_json::Value = app.get("/v2/refs/tags/list").await.json().await.unwrap();
    assert_eq!(tags["tags"], json!(["v1"]), "only the valid push left a tag");
}

/// Descriptor sizes are int64 in the image spec: a size outside that range (negative, or past
/// 2^63 - 1, which Go clients cannot decode) in any descriptor makes the manifest invalid, and
/// nothing is stored.
#[tokio::test]
async fn descriptor_size_outside_int64() {
    let app = TestApp::start().await;
    let manifest = app.image_manifest("sizes", b"layer").await;
    let child = app.put_manifest("sizes", "child", OCI_MANIFEST, &manifest).await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": 10}],
    });
    let mut cases: Vec<(&str, String)> = Vec::new();
    for size in [json!(-1), json!(1u64 << 63), json!(u64::MAX)] {
        let with = |value: &serde_json::Value, pointer: &str| {
            let mut value = value.clone();
            *value.pointer_mut(pointer).unwrap() = size.clone();
            serde_json::to_string(&value).unwrap()
        };
        cases.push((OCI_MANIFEST, with(&manifest, "/config/size")));
        cases.push((OCI_MANIFEST, with(&manifest, "/layers/0/size")));
        let mut foreign = manifest.clone();
        foreign["layers"].as_array_mut().unwrap().push(json!({
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": sha256(b"elsewhere"), "size": 1, "urls": ["https://example.com/layer"],
        }));
        cases.push((OCI_MANIFEST, with(&foreign, "/layers/1/size")));
        let mut referrer = manifest.clone();
        referrer["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": child, "size": 1});
        cases.push((OCI_MANIFEST, with(&referrer, "/subject/size")));
        cases.push((OCI_INDEX, with(&index, "/manifests/0/size")));
    }
    for (media_type, body) in &cases {
        let response = app
            .client
            .put(app.url("/v2/sizes/manifests/refused"))
            .header("content-type", *media_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(error_code(response).await, "MANIFEST_INVALID", "{body}");
        let by_digest = app
            .get(&format!("/v2/sizes/manifests/{}", sha256(body.as_bytes())))
            .await;
        assert_eq!(by_digest.status(), 404, "{body} was stored");
    }
    assert_eq!(app.get("/v2/sizes/manifests/refused").await.status(), 404);
    // The largest int64 is a valid size.
    let mut largest_manifest = manifest.clone();
    largest_manifest["layers"][0]["size"] = json!(i64::MAX);
    app.put_manifest("sizes", "largest", OCI_MANIFEST, &largest_manifest)
        .await;
}
