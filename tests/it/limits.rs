//! Limits: uploads per client, blob size, request-head size, upload session lifetime.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn too_many_uploads_from_one_client_get_429() {
    let app = TestApp::start_with(|config| config.http.max_uploads_per_client = 1).await;
    let location = app.start_upload("limits/many").await;
    // A long PATCH holds the client's only slot while the test sends POSTs. The PATCH may
    // itself be refused when it arrives while one of those POSTs holds the slot; then it is
    // started again.
    let mut refused = None;
    let mut running: Option<(tokio::sync::mpsc::Sender<Vec<u8>>, tokio::task::JoinHandle<_>)> = None;
    for _ in 0..3000 {
        if running.as_ref().is_none_or(|(_, pending)| pending.is_finished()) {
            let (sender, body) = channel_body();
            let pending = tokio::spawn(app.client.patch(app.url(&location)).body(body).send());
            sender.send(vec![7u8; 10_000]).await.unwrap();
            running = Some((sender, pending));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let second = app
            .client
            .post(app.url("/v2/limits/many/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        if second.status() == 429 {
            refused = Some(second);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (sender, pending) = running.unwrap();
    let refused = refused.expect("a second concurrent upload should be refused");
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(error_code(refused).await, "TOOMANYREQUESTS");
    // Reads are not limited.
    assert_eq!(app.get("/v2/").await.status(), 200);
    drop(sender);
    assert_eq!(pending.await.unwrap().unwrap().status(), 202);
    // The slot came back.
    let third = app
        .client
        .post(app.url("/v2/limits/many/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 202);
}

#[tokio::test]
async fn a_blob_over_the_size_limit_is_refused_and_not_stored() {
    let app = TestApp::start_with(|config| config.limits.max_blob_bytes = 100_000).await;
    let data = bytes_of(150_000, 5);
    let digest = sha256(&data);
    let monolithic = app
        .client
        .post(app.url(&format!("/v2/limits/size/blobs/uploads/?digest={digest}")))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(monolithic.status(), 413);
    assert_eq!(error_code(monolithic).await, "SIZE_INVALID");

    // In chunks: the first fits, the second would pass the limit.
    let location = app.start_upload("limits/size").await;
    let first = app
        .client
        .patch(app.url(&location))
        .header("content-range", "0-79999")
        .body(data[..80_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let second = app
        .client
        .patch(app.url(&location))
        .header("content-range", "80000-149999")
        .body(data[80_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 413);
    let status = app.get(&location).await;
    assert_eq!(status.headers()["range"], "0-79999");
    assert_eq!(app.get(&format!("/v2/limits/size/blobs/{digest}")).await.status(), 404);
    assert!(app.stored_blobs().await.is_empty());
}

#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let app = TestApp::start_with(|config| config.http.max_header_bytes = 16 * 1024).await;
    let response = app
        .client
        .get(app.url("/v2/"))
        .header("x-padding", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    // The server goes on serving.
    assert_eq!(app.get("/v2/").await.status(), 200);
}

#[tokio::test]
async fn an_expired_upload_session_is_unknown_and_cleaned() {
    let app = TestApp::start_local_with(|config| config.limits.upload_session_ttl = Duration::from_millis(300)).await;
    let location = app.start_upload("limits/ttl").await;
    let session_id = location.rsplit('/').next().unwrap().to_string();
    let patched = app
        .client
        .patch(app.url(&location))
        .body(vec![1u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    let parts = app.data_dir().join("blobs/uploads").join(&session_id);
    assert!(parts.exists());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = app.get(&location).await;
    assert_eq!(status.status(), 404);
    assert_eq!(error_code(status).await, "BLOB_UPLOAD_UNKNOWN");
    let patched = app
        .client
        .patch(app.url(&location))
        .body(vec![1u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(patched).await, "BLOB_UPLOAD_UNKNOWN");
    assert!(!parts.exists(), "the expired session's parts are removed");
}

#[tokio::test]
async fn the_sweeper_removes_expired_sessions_and_orphaned_upload_files() {
    let app = TestApp::start_local_with(|config| config.limits.upload_session_ttl = Duration::from_millis(300)).await;
    let location = app.start_upload("limits/sweep").await;
    let session_id = location.rsplit('/').next().unwrap().to_string();
    app.client
        .patch(app.url(&location))
        .body(vec![2u8; 1000])
        .send()
        .await
        .unwrap();
    // What a crash in the middle of a monolithic upload leaves: a directory no session owns,
    // holding an object_store staging file.
    let orphan = app.data_dir().join("blobs/uploads/0123abcd-orphan");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("monolithic#1"), b"partial").unwrap();
    let session_parts = app.data_dir().join("blobs/uploads").join(&session_id);
    // The sweeper runs every ttl/4 (at least every second); give it a few rounds.
    for _ in 0..100 {
        if !orphan.exists() && !session_parts.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!orphan.exists(), "orphaned upload files are removed");
    assert!(!session_parts.exists(), "an expired session's parts are removed");
    assert_eq!(error_code(app.get(&location).await).await, "BLOB_UPLOAD_UNKNOWN");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let expired: f64 = metrics
        .lines()
        .find(|line| line.starts_with("rbee_upload_sessions_expired_total"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap();
    assert!(expired >= 1.0);
}
