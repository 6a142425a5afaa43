//! Operations: `/metrics` and its series, `/healthz`, `/readyz`, request ids, and graceful
//! shutdown that lets running uploads finish (and cuts them after the grace period).

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn metrics_name_the_series_and_count_requests() {
    let app = TestApp::start().await;
    let layer = bytes_of(10_000, 3);
    let manifest = app.push_image("ops/metrics", "v1", &layer).await;
    assert_eq!(app.get("/v2/ops/metrics/manifests/v1").await.status(), 200);
    let digest = sha256(&layer);
    let pulled = app.get(&format!("/v2/ops/metrics/blobs/{digest}")).await;
    assert_eq!(pulled.bytes().await.unwrap().len(), layer.len());
    assert_eq!(app.get("/v2/ops/metrics/manifests/nope").await.status(), 404);

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for series in [
        "rbee_http_requests_total",
        "rbee_http_request_duration_seconds_bucket",
        "rbee_http_requests_in_flight",
        "rbee_http_request_body_bytes_total",
        "rbee_http_response_body_bytes_total",
        "rbee_uploads_in_progress",
        "rbee_downloads_in_progress",
        "rbee_uploads_rejected_total",
        "rbee_upload_sessions_expired_total",
    ] {
        assert!(text.contains(series), "/metrics lacks {series}:\n{text}");
    }
    // Requests are labelled by route name, method and status, never by the client's path.
    let count = |route: &str, method: &str, status: &str| -> f64 {
        text.lines()
            .filter(|line| line.starts_with("rbee_http_requests_total{"))
            .filter(|line| {
                line.contains(&format!("route=\"{route}\""))
                    && line.contains(&format!("method=\"{method}\""))
                    && line.contains(&format!("status=\"{status}\""))
            })
            .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert!(count("manifest", "GET", "200") >= 1.0);
    assert!(count("manifest", "GET", "404") >= 1.0);
    assert!(count("manifest", "PUT", "201") >= 1.0);
    assert!(count("blob", "GET", "200") >= 1.0);
    assert!(!text.contains("ops/metrics"), "a client path leaked into a label");
    // GC results come from the database once a run is recorded (tests/it/gc.rs).
    assert!(!text.contains("rbee_gc_last_run"), "no collection ran on this site");
    let bytes_out: f64 = text
        .lines()
        .filter(|line| line.starts_with("rbee_http_response_body_bytes_total{route=\"blob\"}"))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(bytes_out >= layer.len() as f64, "blob bytes out: {bytes_out}");
    assert!(!manifest.is_empty());
}

#[tokio::test]
async fn request_ids_come_back() {
    let app = TestApp::start().await;
    let given = app
        .client
        .get(app.url("/v2/"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "client-chosen-42");
    let first = app.get("/v2/").await.headers()["x-request-id"].clone();
    let second = app.get("/v2/").await.headers()["x-request-id"].clone();
    assert_ne!(first, second);
    // Error responses carry one too.
    let missing = app.get("/v2/nothing/manifests/v1").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::start_local_with(|_| {}).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["storage"], "ok");

    // Without its blob directory the registry is alive but not ready.
    std::fs::remove_dir_all(app.data_dir().join("blobs")).unwrap();
    assert_eq!(app.get("/healthz").await.status(), 200);
    let unready = app.get("/readyz").await;
    assert_eq!(unready.status(), 503);
    let body: serde_json::Value = unready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "ok");
    assert_ne!(body["storage"], "ok");
}

/// Starts a chunked upload whose `PATCH` body the test feeds; returns the feeder and the
/// pending response.
async fn open_streamed_patch(
    app: &TestApp,
    repository: &str,
) -> (
    tokio::sync::mpsc::Sender<Vec<u8>>,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    String,
) {
    let location = app.start_upload(repository).await;
    let (sender, body) = channel_body();
    let request = app.client.patch(app.url(&location)).body(body);
    let pending = tokio::spawn(request.send());
    (sender, pending, location)
}

#[tokio::test]
async fn shutdown_lets_a_running_upload_finish() {
    let mut app = TestApp::start().await;
    let data = bytes_of(3_000_000, 9);
    let (sender, pending, location) = open_streamed_patch(&app, "ops/graceful").await;
    sender.send(data[..1_000_000].to_vec()).await.unwrap();
    // Wait until the server is inside the upload.
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics
            .lines()
            .any(|l| l.starts_with("rbee_uploads_in_progress") && !l.ends_with(" 0"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.signal_shutdown();
    // New connections are refused while the running upload goes on.
    let mut refused = false;
    for _ in 0..100 {
        if reqwest::Client::new().get(app.url("/v2/")).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener should close on shutdown");
    sender.send(data[1_000_000..].to_vec()).await.unwrap();
    drop(sender);
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), 202, "the upload that was running must finish");
    assert_eq!(response.headers()["range"], "0-2999999");
    while !app.is_stopped() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The finished chunk is durable: a new server continues the session.
    let site = app.site.clone();
    let temp_keeper = app;
    let again = site.start().await;
    let status = again.get(&location).await;
    assert_eq!(status.status(), 204);
    assert_eq!(status.headers()["range"], "0-2999999");
    drop(again);
    drop(temp_keeper);
}

#[tokio::test]
async fn shutdown_cuts_requests_that_outlast_the_grace_period() {
    let mut app = TestApp::start_with(|config| config.http.shutdown_grace = Duration::from_millis(300)).await;
    let (sender, pending, location) = open_streamed_patch(&app, "ops/deadline").await;
    sender.send(vec![1u8; 100_000]).await.unwrap();
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics
            .lines()
            .any(|l| l.starts_with("rbee_uploads_in_progress") && !l.ends_with(" 0"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.signal_shutdown();
    // The client never finishes its body; the server stops anyway and the request fails.
    while !app.is_stopped() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outcome = pending.await.unwrap();
    assert!(outcome.is_err() || !outcome.unwrap().status().is_success());
    drop(sender);
    // Nothing of the cut chunk counts: the session still holds zero bytes.
    let site = app.site.clone();
    let keeper = app;
    let again = site.start().await;
    let status = again.get(&location).await;
    assert_eq!(status.status(), 204);
    assert_eq!(status.headers()["range"], "0-0");
    drop(again);
    drop(keeper);
}
