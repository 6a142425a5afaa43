//! HTTP: the route table and thin handlers. Handlers never touch sqlx or object_store;
//! they call services and return typed responses. Errors become HTTP in `error` only.

pub mod error;
pub mod responses;
pub mod v2;

use axum::http::{HeaderName, HeaderValue};
use axum::routing::any;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::services::Registry;

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
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
    Router::new()
        .merge(distribution)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
