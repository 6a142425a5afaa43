//! Upload sessions live in storage, not in process memory: they survive a restart.

use crate::support::*;

#[tokio::test]
async fn upload_continues_after_a_restart() {
    let site = TestSite::new().await;
    let data = bytes_of(200_000, 11);
    let app = site.start().await;
    let location = app.start_upload("restart").await;
    let patched = app
        .client
        .patch(app.url(&location))
        .header("content-range", "0-99999")
        .body(data[..100_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    app.stop().await;

    let app = site.start().await;
    let status = app.get(&location).await;
    assert_eq!(status.status(), 204);
    assert_eq!(status.headers()["range"], "0-99999");
    let patched = app
        .client
        .patch(app.url(&location))
        .header("content-range", "100000-199999")
        .body(data[100_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    app.finish_and_verify("restart", &location, &data).await;
}
