//! HTTP: the route table and thin handlers. Handlers never touch sqlx or object_store;
//! they call services and return typed responses. Errors become HTTP in `error` (the
//! distribution API) and `catalog_error` (the JSON catalog API) only.

pub mod catalog;
pub mod catalog_error;
pub mod catalog_wire;
pub mod edge;
pub mod error;
pub mod limits;
pub mod ops;
pub mod responses;
pub mod v2;

use axum::http::{HeaderName, HeaderValue, Method};
use axum::routing::{any, get};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::observability;
use crate::services::Registry;

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub uploads: limits::UploadGate,
    /// Where the registry's own URLs point (`edge::BaseUrl`).
    pub public_base: edge::PublicBase,
    /// Largest request head, bytes (`edge::check_request`).
    pub max_header_bytes: usize,
}

/// Settings of the HTTP edge, from the configuration.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    pub max_header_bytes: usize,
    pub max_uploads_per_client: usize,
    pub public_base: edge::PublicBase,
}

impl AppState {
    pub fn new(registry: Registry, edge: EdgeSettings) -> Self {
        AppState {
            registry,
            uploads: limits::UploadGate::new(edge.max_uploads_per_client),
            public_base: edge.public_base,
            max_header_bytes: edge.max_header_bytes,
        }
    }
}

/// Settings of the JSON catalog API.
#[derive(Debug, Clone, Default)]
pub struct ApiSettings {
    /// Origins allowed to call the catalog API from browsers.
    pub cors_origins: Vec<String>,
}

/// The one route table of the server. spec/openapi.yaml lists every route outside `/v2`
/// (a test keeps the two in step).
pub fn router(state: AppState, api: &ApiSettings) -> Router {
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
    let origins: Vec<HeaderValue> = api
        .cors_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS]);
    let catalog = Router::new()
        // The legacy catalog (LEGACY-API.md).
        .route("/health", get(catalog::get_health))
        .route("/workers", get(catalog::list_workers_legacy))
        .route("/workers/{id}", get(catalog::find_worker_legacy))
        .route("/workers/{id}/PKGBUILD", get(catalog::get_pkgbuild_legacy))
        // The v1 API (spec/openapi.yaml).
        .route("/v1/workers", get(catalog::list_workers))
        .route("/v1/workers/{id}", get(catalog::find_worker))
        .route("/v1/workers/{id}/pkgbuild", get(catalog::get_pkgbuild))
        .route("/v1/workers/{id}/versions", get(catalog::list_versions))
        .route("/v1/workers/{id}/stats", get(catalog::get_stats))
        .route("/v1/workers/{id}/{version}/download", get(catalog::get_download))
        .layer(cors);
    // Operations: Prometheus metrics, liveness, readiness.
    let operations = Router::new()
        .route("/metrics", get(ops::get_metrics))
        .route("/healthz", get(ops::get_health))
        .route("/readyz", get(ops::get_readiness));
    Router::new()
        .merge(distribution)
        .merge(catalog)
        .merge(operations)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_uploads,
        ))
        .layer(axum::middleware::from_fn(observability::observe))
        // Outermost: the request exactly as it arrived (`observe` adds a request id).
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge::check_request))
        .with_state(state)
}
