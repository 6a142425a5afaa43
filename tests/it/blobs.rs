//! Blob pull, range, delete and cross-repository mount.

use crate::support::*;

#[tokio::test]
async fn pushed_blob_is_served_whole_and_by_range() {
    let app = TestApp::start().await;
    let data = bytes_of(100_000, 1);
    let digest = app.push_blob("workers/demo", &data).await;

    let response = app.get(&format!("/v2/workers/demo/blobs/{digest}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(response.headers()["content-length"], "100000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);

    let head = app
        .client
        .head(app.url(&format!("/v2/workers/demo/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "100000");

    let partial = app
        .client
        .get(app.url(&format!("/v2/workers/demo/blobs/{digest}")))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(partial.bytes().await.unwrap().as_ref(), &data[10..20]);

    let outside = app
        .client
        .get(app.url(&format!("/v2/workers/demo/blobs/{digest}")))
        .header("range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);
}

#[tokio::test]
async fn blob_of_another_repository_is_unknown_until_mounted() {
    let app = TestApp::start().await;
    let digest = app.push_blob("source/repo", b"shared layer").await;
    let response = app.get(&format!("/v2/target/repo/blobs/{digest}")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "BLOB_UNKNOWN");

    let mounted = app
        .client
        .post(app.url(&format!(
            "/v2/target/repo/blobs/uploads/?mount={digest}&from=source/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(mounted.status(), 201);
    assert_eq!(
        mounted.headers()["location"],
        format!("/v2/target/repo/blobs/{digest}").as_str()
    );
    assert_eq!(app.get(&format!("/v2/target/repo/blobs/{digest}")).await.status(), 200);

    // Mounting what the source does not have opens an ordinary upload session instead.
    let missing = sha256(b"not there");
    let fallback = app
        .client
        .post(app.url(&format!(
            "/v2/target/repo/blobs/uploads/?mount={missing}&from=source/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(fallback.status(), 202);
    assert!(fallback.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/v2/target/repo/blobs/uploads/"));
}

#[tokio::test]
async fn deleted_blob_is_gone_from_that_repository_only() {
    let app = TestApp::start().await;
    let digest = app.push_blob("one", b"layer").await;
    app.push_blob("two", b"layer").await;
    let deleted = app
        .client
        .delete(app.url(&format!("/v2/one/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    assert_eq!(app.get(&format!("/v2/one/blobs/{digest}")).await.status(), 404);
    assert_eq!(app.get(&format!("/v2/two/blobs/{digest}")).await.status(), 200);
    let again = app
        .client
        .delete(app.url(&format!("/v2/one/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(error_code(again).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn sha512_digests_are_accepted() {
    use sha2::Digest as _;
    let app = TestApp::start().await;
    let data = bytes_of(5000, 9);
    let digest = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&data)));
    let response = app
        .client
        .post(app.url(&format!("/v2/a/blobs/uploads/?digest={digest}")))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let fetched = app.get(&format!("/v2/a/blobs/{digest}")).await;
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);

    // And as the final digest of a chunked upload.
    let started = app.client.post(app.url("/v2/a/blobs/uploads/")).send().await.unwrap();
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let other = bytes_of(3000, 10);
    let other_digest = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&other)));
    let patched = app
        .client
        .patch(app.url(&location))
        .body(other.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    let location = patched.headers()["location"].to_str().unwrap().to_string();
    let finished = app
        .client
        .put(format!("{}?digest={other_digest}", app.url(&location)))
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
}
