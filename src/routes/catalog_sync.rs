//! The Git catalog's endpoints: `GET /v1/catalog/status` (the applied revision, its
//! per-branch errors, the last attempt) and `POST /v1/catalog/sync` (a sync, triggered by a
//! GitHub-style push webhook signed with `catalog.webhook_secret`, or by the admin token in
//! `Authorization`).

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::catalog_error::CatalogApiError;
use super::licenses::credential_of;
use super::AppState;
use crate::auth::principal::Principal;
use crate::auth::webhook::{verify_hub_signature, SIGNATURE_HEADER};
use crate::services::catalog::{CatalogStatus, SyncReport};

/// Largest webhook body read (GitHub caps payloads at 25 MB; push events are far smaller).
pub const MAX_WEBHOOK_BYTES: usize = 5 * 1024 * 1024;

/// `GET /v1/catalog/status`
pub async fn get_status(State(state): State<AppState>) -> Result<Json<CatalogStatus>, CatalogApiError> {
    Ok(Json(state.registry.catalog_status().await?))
}

/// `POST /v1/catalog/sync`: with the admin token (`Authorization: Bearer rbee_adm_…` or as
/// the Basic password) syncs at once; otherwise checks the body's webhook signature, then
/// syncs (a `ping` event only checks the signature).
pub async fn post_sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, CatalogApiError> {
    if let Some(secret) = credential_of(&headers) {
        let principal = state
            .registry
            .authenticate_secret(&secret)
            .await
            .map_err(|error| CatalogApiError::Catalog(error.into()))?;
        if principal == Some(Principal::Admin) {
            let report: SyncReport = state.registry.sync_catalog().await?;
            return Ok(Json(serde_json::to_value(report).expect("a report serializes")));
        }
    }
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
