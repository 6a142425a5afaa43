//! Operations endpoints: `/metrics` (Prometheus text format), `/healthz` (the process
//! answers) and `/readyz` (the database and the blob store answer).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::observability::{metrics_handle, render_gc_last_run, render_jobs, render_mirrors};

/// `GET /metrics`: every series, described in `observability`: this process's recorder, then
/// the latest garbage-collection run and every job's outcome, read from the database. When that read fails the GC
/// series are left out (and the failure logged) rather than failing the scrape.
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    let mut text = metrics_handle().render();
    match state.registry.last_gc_run().await {
        Ok(Some(run)) => text.push_str(&render_gc_last_run(&run)),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "/metrics: could not read the latest garbage-collection run"),
    }
    match state.registry.job_records().await {
        Ok(jobs) => text.push_str(&render_jobs(&jobs)),
        Err(error) => tracing::warn!(%error, "/metrics: could not read the jobs' outcomes"),
    }
    match state.registry.mirror_records().await {
        Ok(mirrors) => text.push_str(&render_mirrors(&mirrors)),
        Err(error) => tracing::warn!(%error, "/metrics: could not read the mirrors' state"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `GET /healthz`: the process is up and serving.
pub async fn get_health() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

/// `GET /readyz`: `200` when the database and the blob store answer, `503` naming the
/// failing one otherwise.
pub async fn get_readiness(State(state): State<AppState>) -> Response {
    let readiness = state.registry.check_ready().await;
    let describe = |result: &Result<(), String>| match result {
        Ok(()) => json!("ok"),
        Err(error) => json!(error),
    };
    let mut body = json!({
        "status": if readiness.is_ready() { "ready" } else { "unavailable" },
        "database": describe(&readiness.database),
        "storage": describe(&readiness.storage),
    });
    // Mirrors whose last success is older than `mirror.stale_after`: said, never failing
    // readiness (a stale mirror still serves what it has).
    if readiness.database.is_ok() {
        match state.registry.stale_mirrors().await {
            Ok(stale) => body["mirrors"] = super::mirrors::stale_json(&stale),
            Err(error) => tracing::warn!(%error, "/readyz: could not read the mirrors' state"),
        }
    }
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
