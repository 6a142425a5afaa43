//! HTTP: the route table and thin handlers. Handlers never touch sqlx or object_store;
//! they call services and return typed responses. Errors become HTTP in `error` only.

pub mod error;
pub mod limits;
pub mod ops;
pub mod responses;
pub mod v2;

use axum::http::{HeaderName, HeaderValue};
use axum::routing::{any, get};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::HttpLimits;
use crate::observability;
use crate::services::Registry;

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub uploads: limits::UploadGate,
}

impl AppState {
    pub fn new(registry: Registry, limits: &HttpLimits) -> Self {
        AppState {
            registry,
            uploads: limits::UploadGate::new(limits.max_uploads_per_client),
        }
    }
}

/// The one route table of the server.
pub fn router(state: AppState) -> Router {
    // Repository names contain `/`: everything under /v2/ goes to one dispatcher that
    // parses the path once (see `oci::route`).
    let distribution = Router::new()
        .route("/v2", any(v2::dispatch))
        .route("/v2/", any(v2::dispatch))
        .route("/v2/{*rest}", any(v2::dispatch))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        ));
    // Operations: Prometheus metrics, liveness, readiness.
    let operations = Router::new()
        .route("/metrics", get(ops::get_metrics))
        .route("/healthz", get(ops::get_health))
        .route("/readyz", get(ops::get_readiness));
    Router::new()
        .merge(distribution)
        .merge(operations)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_uploads,
        ))
        .layer(axum::middleware::from_fn(observability::observe))
        .with_state(state)
}
