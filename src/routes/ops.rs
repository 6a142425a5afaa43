//! Operations endpoints: `/metrics` (Prometheus text format), `/healthz` (the process
//! answers) and `/readyz` (the database and the blob store answer).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::observability::metrics_handle;

/// `GET /metrics`: every series, described in `observability`.
pub async fn get_metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics_handle().render(),
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
    let body = json!({
        "status": if readiness.is_ready() { "ready" } else { "unavailable" },
        "database": describe(&readiness.database),
        "storage": describe(&readiness.storage),
    });
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
