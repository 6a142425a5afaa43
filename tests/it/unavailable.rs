//! Conditions where the registry cannot serve for the moment are answered as such
//! (`503 UNAVAILABLE`, `Retry-After`), not as a server fault or a client error.

use sqlx::Connection;

use crate::support::*;

/// Another process holds SQLite's write lock past the registry's busy timeout: the write
/// fails with `SQLITE_BUSY`, which `db` reports as busy and the client may retry (it was a
/// `500 UNKNOWN`).
#[tokio::test]
async fn a_database_locked_past_its_busy_timeout_answers_503_unavailable() {
    let app = TestApp::start().await;
    if app.site.backend != TestBackend::SqliteFs {
        return;
    }
    app.start_upload("busy/db").await;
    let mut holder = sqlx::SqliteConnection::connect(&app.site.database_url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut holder).await.unwrap();
    let response = app
        .client
        .post(app.url("/v2/busy/db/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(error_code(response).await, "UNAVAILABLE");
    // Once the lock is gone the same request succeeds.
    app.start_upload("busy/db").await;
}
