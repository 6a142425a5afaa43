//! `GET /v1/mirrors`: what mirror runs recorded per upstream and repository (last run, its
//! result and error, lag, what it copied) and the blob copies a later run will resume. The
//! same on every process: it is read from the database.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::catalog_error::CatalogApiError;
use super::AppState;
use crate::services::mirror::{MirrorState, MirrorTransfer, StaleMirror};

/// Milliseconds since the Unix epoch, as the v1 API writes times.
pub(super) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

fn state_json(state: &MirrorState) -> Value {
    json!({
        "upstream": state.upstream,
        "repository": state.repository,
        "last_started_at": millis(state.last_started_at),
        "last_finished_at": millis(state.last_finished_at),
        "result": if state.succeeded { "ok" } else { "failed" },
        "error": state.error,
        "last_success_at": state.last_success_at.map(millis),
        "lag_seconds": state.lag.as_secs(),
        "manifests_copied": state.manifests_copied,
        "blobs_copied": state.blobs_copied,
        "bytes_copied": state.bytes_copied,
        "skipped": state.skipped,
    })
}

fn transfer_json(transfer: &MirrorTransfer) -> Value {
    json!({
        "upstream": transfer.upstream,
        "repository": transfer.repository,
        "digest": transfer.digest,
        "size": transfer.size,
        "received": transfer.received,
        "updated_at": millis(transfer.updated_at),
    })
}

/// The `mirrors` field of `/readyz`: repositories whose last success is too old.
pub(super) fn stale_json(stale: &[StaleMirror]) -> Value {
    Value::Array(
        stale
            .iter()
            .map(|mirror| {
                json!({
                    "upstream": mirror.upstream,
                    "repository": mirror.repository,
                    "last_success_at": mirror.last_success_at.map(millis),
                })
            })
            .collect(),
    )
}

/// `GET /v1/mirrors`
pub async fn get_mirrors(State(state): State<AppState>) -> Result<Json<Value>, CatalogApiError> {
    let unavailable = |error: crate::services::RegistryError| CatalogApiError::Catalog(error.into());
    let states = state.registry.mirror_states().await.map_err(unavailable)?;
    let transfers = state.registry.mirror_transfers().await.map_err(unavailable)?;
    Ok(Json(json!({
        "mirrors": states.iter().map(state_json).collect::<Vec<_>>(),
        "transfers": transfers.iter().map(transfer_json).collect::<Vec<_>>(),
    })))
}
