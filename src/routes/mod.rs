//! HTTP: the route table, the request middleware (`observe`, `limits`) and thin handlers.
//! Routes sit above services and below `server`: they name no store type (`db`, `storage`)
//! and never touch sqlx or object_store; handlers call services and return typed responses.
//! Errors become HTTP in `error` (the distribution API) and `catalog_error` (the JSON
//! catalog API) only.

pub mod bearer;
pub mod catalog;
pub mod catalog_error;
pub mod catalog_sync;
pub mod catalog_wire;
pub mod edge;
pub mod error;
pub mod git;
pub mod licenses;
pub mod limits;
pub mod mirrors;
pub mod observe;
pub mod ops;
pub mod pages;
pub mod responses;
pub mod stars;
pub mod token;
pub mod v2;

use axum::http::{HeaderName, HeaderValue, Method};
use axum::routing::{any, get, post, put, MethodRouter};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::AuthMode;
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
    /// The catalog repository served at `/catalog.git` (`git::http`); `None`: not served.
    pub catalog_git: Option<crate::git::http::CatalogGit>,
    /// Whether `/v2` asks for tokens (`bearer`).
    pub auth_mode: AuthMode,
    /// Per-client limit of `/token` requests.
    pub token_rate_limit: token::TokenRateLimit,
}

/// Settings of the HTTP edge, from the configuration.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    pub max_header_bytes: usize,
    pub max_uploads_per_client: usize,
    pub public_base: edge::PublicBase,
    /// Token authentication on or off.
    pub auth_mode: AuthMode,
    /// `/token` requests one client address may make per minute.
    pub token_rate_limit: u64,
}

impl AppState {
    pub fn new(registry: Registry, edge: EdgeSettings) -> Self {
        AppState {
            registry,
            uploads: limits::UploadGate::new(edge.max_uploads_per_client),
            public_base: edge.public_base,
            max_header_bytes: edge.max_header_bytes,
            catalog_git: None,
            auth_mode: edge.auth_mode,
            token_rate_limit: token::TokenRateLimit::new(edge.token_rate_limit),
        }
    }

    /// Serves the bare repository at `dir` at `/catalog.git` (404 while it does not exist).
    pub fn with_catalog_git(mut self, dir: std::path::PathBuf) -> Self {
        self.catalog_git = Some(crate::git::http::CatalogGit::new(dir));
        self
    }
}

/// Settings of the JSON catalog API.
#[derive(Debug, Clone, Default)]
pub struct ApiSettings {
    /// Origins allowed to call the catalog API from browsers.
    pub cors_origins: Vec<String>,
}

/// A route outside `/v2`: its path, the fixed name metrics and logs label it with, and its
/// handlers.
struct NamedRoute {
    path: &'static str,
    name: &'static str,
    handler: fn() -> MethodRouter<AppState>,
}

const fn named(path: &'static str, name: &'static str, handler: fn() -> MethodRouter<AppState>) -> NamedRoute {
    NamedRoute { path, name, handler }
}

/// The catalog routes: the legacy catalog (LEGACY-API.md) and the v1 API (spec/openapi.yaml).
/// One line per route (tests/it/openapi.rs reads them).
#[rustfmt::skip]
const CATALOG_ROUTES: &[NamedRoute] = &[
    named("/health", "legacy_health", || get(catalog::get_health)),
    named("/workers", "legacy_workers", || get(catalog::list_workers_legacy)),
    named("/workers/{id}", "legacy_worker", || get(catalog::find_worker_legacy)),
    named("/workers/{id}/PKGBUILD", "legacy_pkgbuild", || get(catalog::get_pkgbuild_legacy)),
    named("/v1/workers", "v1_workers", || get(catalog::list_workers)),
    named("/v1/workers/{id}", "v1_worker", || get(catalog::find_worker)),
    named("/v1/workers/{id}/pkgbuild", "v1_pkgbuild", || get(catalog::get_pkgbuild)),
    named("/v1/workers/{id}/versions", "v1_versions", || get(catalog::list_versions)),
    named("/v1/workers/{id}/stats", "v1_stats", || get(catalog::get_stats)),
    named("/v1/workers/{id}/{version}/download", "v1_download", || get(catalog::get_download)),
    named("/v1/licenses/verify", "v1_license_verify", || post(licenses::verify_license)),
    named("/v1/blobs/{digest}", "v1_signed_blob", || get(licenses::get_signed_blob)),
    named("/v1/catalog/status", "v1_catalog_status", || get(catalog_sync::get_status)),
    named("/v1/catalog/sync", "v1_catalog_sync", || post(catalog_sync::post_sync)),
    named("/v1/mirrors", "v1_mirrors", || get(mirrors::get_mirrors)),
    named("/v1/workers/{id}/star", "v1_star", || put(stars::put_star).delete(stars::delete_star)),
];

/// Operations: Prometheus metrics, liveness, readiness.
#[rustfmt::skip]
const OPERATION_ROUTES: &[NamedRoute] = &[
    named("/metrics", "metrics", || get(ops::get_metrics)),
    named("/healthz", "healthz", || get(ops::get_health)),
    named("/readyz", "readyz", || get(ops::get_readiness)),
];

/// Token authentication: the token endpoint (GET: the Docker token spec; POST: OAuth2) and
/// the public keys that verify tokens.
#[rustfmt::skip]
const AUTH_ROUTES: &[NamedRoute] = &[
    named("/token", "token", || get(token::get_token).post(token::post_token)),
    named("/.well-known/jwks.json", "jwks", || get(token::get_jwks)),
];

/// The name the route table gives a matched route path outside `/v2` (`/v2` requests are
/// named by their parsed endpoint, `oci::Endpoint::name`).
pub fn route_name_of(matched_path: &str) -> Option<&'static str> {
    CATALOG_ROUTES
        .iter()
        .chain(OPERATION_ROUTES)
        .chain(git::GIT_ROUTES)
        .chain(AUTH_ROUTES)
        .chain(pages::PAGE_ROUTES)
        .find(|route| route.path == matched_path)
        .map(|route| route.name)
}

fn add_routes(router: Router<AppState>, routes: &[NamedRoute]) -> Router<AppState> {
    routes
        .iter()
        .fold(router, |router, route| router.route(route.path, (route.handler)()))
}

/// The one route table of the server. spec/openapi.yaml lists every route outside `/v2`
/// (a test keeps the two in step) but the Git routes (`git::GIT_ROUTES`, whose protocol
/// Git's documents and spec/catalog.md specify) and the browser pages (`pages::PAGE_ROUTES`).
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
    let catalog = add_routes(Router::new(), CATALOG_ROUTES).layer(cors);
    let operations = add_routes(Router::new(), OPERATION_ROUTES);
    let git = add_routes(Router::new(), git::GIT_ROUTES);
    let auth = add_routes(Router::new(), AUTH_ROUTES);
    let pages = add_routes(Router::new(), pages::PAGE_ROUTES).layer(axum::middleware::from_fn(pages::page_headers));
    Router::new()
        .merge(distribution)
        .merge(catalog)
        .merge(operations)
        .merge(git)
        .merge(auth)
        .merge(pages)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_uploads,
        ))
        .layer(axum::middleware::from_fn(observe::observe))
        // Outermost: the request exactly as it arrived (`observe` adds a request id).
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge::check_request))
        .with_state(state)
}
