//! The Git catalog's endpoints: `GET /v1/catalog/status` (the applied revision, its
//! per-branch errors, the last attempt) and `POST /v1/catalog/sync` (a sync, triggered by a
//! GitHub-style push webhook signed with `catalog.webhook_secret`).
//!
//! LEAD (auth merge): also accept the admin token on `POST /v1/catalog/sync` (the auth
//! helper's admin check) besides the webhook signature; today only the signature opens it.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::catalog_error::CatalogApiError;
use super::AppState;
use crate::auth::webhook::{verify_hub_signature, SIGNATURE_HEADER};
use crate::services::catalog::{CatalogStatus, SyncReport};

/// Largest webhook body read (GitHub caps payloads at 25 MB; push events are far smaller).
pub const MAX_WEBHOOK_BYTES: usize = 5 * 1024 * 1024;

/// `GET /v1/catalog/status`
pub async fn get_status(State(state): State<AppState>) -> Result<Json<CatalogStatus>, CatalogApiError> {
    Ok(Json(state.registry.catalog_status().await?))
}

/// `POST /v1/catalog/sync`: checks the body's signature, then syncs (a `ping` event only
/// checks the signature).
pub async fn post_sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, CatalogApiError> {
    let Some(secret) = state.registry.catalog_settings().webhook_secret() else {
        return Err(CatalogApiError::NoSecret);
    };
    let body = axum::body::to_bytes(body, MAX_WEBHOOK_BYTES).await.map_err(|error| {
        CatalogApiError::Body(format!(
            "the body cannot be read (at most {MAX_WEBHOOK_BYTES} bytes): {error}"
        ))
    })?;
    let signature = headers.get(SIGNATURE_HEADER).and_then(|value| value.to_str().ok());
    verify_hub_signature(secret, &body, signature).map_err(CatalogApiError::Signature)?;
    if headers.get("x-github-event").and_then(|v| v.to_str().ok()) == Some("ping") {
        return Ok(Json(serde_json::json!({ "pong": true })));
    }
    let report: SyncReport = state.registry.sync_catalog().await?;
    Ok(Json(serde_json::to_value(report).expect("a report serializes")))
}
