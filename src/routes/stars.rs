//! `PUT`/`DELETE /v1/workers/:id/star`: a license or publisher token holder stars a worker
//! (once; repeating changes nothing) or takes the star back. The token is the request's
//! `Authorization` (Bearer, or the Basic password), as for downloads.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;

use super::catalog::WorkerPath;
use super::catalog_error::V1Error;
use super::licenses::credential_of;
use super::AppState;
use crate::services::stars::StarOutcome;

/// The answer of a star request.
#[derive(Debug, Serialize)]
pub struct V1Star {
    pub worker_id: String,
    /// Whether the caller's star is on the worker now.
    pub starred: bool,
    /// Whether this request changed that.
    pub changed: bool,
    /// The worker's star count now.
    pub stars: u64,
}

impl V1Star {
    fn of(worker_id: String, starred: bool, outcome: StarOutcome) -> Self {
        V1Star {
            worker_id,
            starred,
            changed: outcome.changed,
            stars: outcome.stars,
        }
    }
}

/// `PUT /v1/workers/:id/star`.
pub async fn put_star(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<V1Error>,
    headers: HeaderMap,
) -> Result<Json<V1Star>, V1Error> {
    let credential = credential_of(&headers);
    let outcome = state.registry.set_star(&worker_id, credential.as_deref(), true).await?;
    Ok(Json(V1Star::of(worker_id.to_string(), true, outcome)))
}

/// `DELETE /v1/workers/:id/star`.
pub async fn delete_star(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<V1Error>,
    headers: HeaderMap,
) -> Result<Json<V1Star>, V1Error> {
    let credential = credential_of(&headers);
    let outcome = state
        .registry
        .set_star(&worker_id, credential.as_deref(), false)
        .await?;
    Ok(Json(V1Star::of(worker_id.to_string(), false, outcome)))
}
