//! Handlers of the JSON catalog API: the legacy endpoints old clients use (`/health`,
//! `/workers…`, LEGACY-API.md) and the v1 API (`/v1/workers…`, spec/openapi.yaml). Each
//! calls one service method and returns a wire type from `catalog_wire`. The path's worker
//! id and version are parsed by the extractors here ([`WorkerPath`], [`WorkerVersionPath`])
//! before the handler runs; a text that cannot name a worker or a version is answered as
//! an unknown one, in the route's error shape.

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::catalog_error::{LegacyError, V1Error};
use super::catalog_wire::*;
use super::edge::BaseUrl;
use super::AppState;
use crate::artifact::{self, WorkerId};
use crate::services::analytics::DownloadClient;
use crate::services::workers::{WorkerError, WorkerFilter};

/// `Cache-Control` of catalog answers (LEGACY-API.md).
pub const CATALOG_CACHE_CONTROL: &str = "public, max-age=3600";
/// Page size of `GET /v1/workers` when the client does not ask for one, and its maximum.
pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 200;

/// A JSON answer with the catalog's `Cache-Control`.
pub struct Cached<T>(pub T);

impl<T: IntoResponse> IntoResponse for Cached<T> {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(CATALOG_CACHE_CONTROL));
        response
    }
}

/// A PKGBUILD: `text/plain`, cached like the catalog.
pub struct PkgbuildText(pub String);

impl IntoResponse for PkgbuildText {
    fn into_response(self) -> Response {
        Cached(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.0)).into_response()
    }
}

// ---- path extractors ----

/// The `{id}` of a catalog route as a [`WorkerId`]. A text that is no valid worker id is
/// answered like a worker that does not exist, in the error shape `E` of the route.
pub struct WorkerPath<E>(pub WorkerId, pub(super) PhantomData<fn() -> E>);

/// The `{id}` and `{version}` of a catalog route, parsed like [`WorkerPath`]; a version
/// that is not a version tag (semver without build metadata) is answered like one the
/// worker does not have.
pub struct WorkerVersionPath<E>(pub WorkerId, pub semver::Version, PhantomData<fn() -> E>);

async fn parse_worker_id(state: &AppState, text: &str) -> Result<WorkerId, WorkerError> {
    match WorkerId::parse(text) {
        Ok(worker_id) => Ok(worker_id),
        Err(_) => Err(state.registry.worker_not_found(text).await),
    }
}

impl<E> FromRequestParts<AppState> for WorkerPath<E>
where
    E: From<WorkerError> + IntoResponse,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match parse_worker_id(state, &text).await {
            Ok(worker_id) => Ok(WorkerPath(worker_id, PhantomData)),
            Err(error) => Err(E::from(error).into_response()),
        }
    }
}

impl<E> FromRequestParts<AppState> for WorkerVersionPath<E>
where
    E: From<WorkerError> + IntoResponse,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Path((worker_text, version_text)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let parsed = match parse_worker_id(state, &worker_text).await {
            Ok(worker_id) => match artifact::parse_version(&version_text) {
                Some(version) => Ok(WorkerVersionPath(worker_id, version, PhantomData)),
                None => Err(state.registry.version_not_found(&worker_id, &version_text).await),
            },
            Err(error) => Err(error),
        };
        parsed.map_err(|error| E::from(error).into_response())
    }
}

// ---- legacy ----

/// `GET /health`
pub async fn get_health() -> Json<LegacyHealth> {
    Json(LegacyHealth {
        status: "ok",
        service: "worker-catalog",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// `GET /workers`
pub async fn list_workers_legacy(State(state): State<AppState>) -> Result<Cached<Json<LegacyWorkerList>>, LegacyError> {
    let workers = state.registry.list_workers(&WorkerFilter::default()).await?;
    Ok(Cached(Json(LegacyWorkerList {
        workers: workers.iter().map(LegacyEntry::of).collect(),
    })))
}

/// `GET /workers/:id`
pub async fn find_worker_legacy(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<LegacyError>,
) -> Result<Cached<Json<LegacyEntry>>, LegacyError> {
    let worker = state.registry.find_worker(&worker_id).await?;
    Ok(Cached(Json(LegacyEntry::of(&worker))))
}

/// `GET /workers/:id/PKGBUILD`
pub async fn get_pkgbuild_legacy(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<LegacyError>,
) -> Result<PkgbuildText, LegacyError> {
    Ok(PkgbuildText(state.registry.find_pkgbuild(&worker_id).await?))
}

// ---- v1 ----

/// Query of `GET /v1/workers`; strings so that a bad value gets the v1 error shape.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    tag: Option<String>,
    #[serde(rename = "type")]
    worker_type: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

fn positive(name: &str, value: Option<&str>, default: u64, max: u64) -> Result<u64, WorkerError> {
    match value {
        None => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(number) if number >= 1 && number <= max => Ok(number),
            _ => Err(WorkerError::InvalidQuery(format!(
                "{name} must be a whole number from 1 to {max}, not {text:?}"
            ))),
        },
    }
}

/// `GET /v1/workers?tag=&type=&page=&per_page=`
pub async fn list_workers(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Cached<Json<V1WorkerList>>, V1Error> {
    let page = positive("page", query.page.as_deref(), 1, u64::from(u32::MAX))?;
    let per_page = positive("per_page", query.per_page.as_deref(), DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let filter = WorkerFilter {
        tag: query.tag.filter(|t| !t.is_empty()),
        worker_type: query.worker_type.filter(|t| !t.is_empty()),
    };
    let workers = state.registry.list_workers(&filter).await?;
    let total = workers.len() as u64;
    let workers = workers
        .iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(V1WorkerSummary::of)
        .collect();
    Ok(Cached(Json(V1WorkerList {
        workers,
        page,
        per_page,
        total,
    })))
}

/// `GET /v1/workers/:id`
pub async fn find_worker(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<V1Error>,
) -> Result<Cached<Json<V1WorkerDetail>>, V1Error> {
    let worker = state.registry.find_worker(&worker_id).await?;
    Ok(Cached(Json(V1WorkerDetail {
        summary: V1WorkerSummary::of(&worker),
        versions: worker.version_names(),
        metadata: worker.metadata.clone(),
        catalog: V1CatalogBranch::of(&worker),
    })))
}

/// `GET /v1/workers/:id/pkgbuild`
pub async fn get_pkgbuild(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<V1Error>,
) -> Result<PkgbuildText, V1Error> {
    Ok(PkgbuildText(state.registry.find_pkgbuild(&worker_id).await?))
}

/// `GET /v1/workers/:id/versions`
pub async fn list_versions(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<V1Error>,
) -> Result<Cached<Json<V1Versions>>, V1Error> {
    let list = state.registry.list_versions(&worker_id).await?;
    Ok(Cached(Json(V1Versions {
        versions: list.versions.iter().map(ToString::to_string).collect(),
        latest: list.latest.as_ref().map(ToString::to_string),
    })))
}

#[derive(Debug, Deserialize)]
pub struct DownloadQuery {
    platform: Option<String>,
}

/// `GET /v1/workers/:id/:version/download?platform=`: where to fetch one platform's package.
/// A premium worker answers `403 {error, purchase_url}` without a license for it. The URL
/// works without credentials for `expires_in` seconds: presigned by the object store, or
/// signed by the registry under the public base URL.
pub async fn get_download(
    State(state): State<AppState>,
    WorkerVersionPath(worker_id, version, _): WorkerVersionPath<V1Error>,
    Query(query): Query<DownloadQuery>,
    BaseUrl(base_url): BaseUrl,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<V1Download>, V1Error> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let client = DownloadClient {
        user_agent: header("user-agent").map(str::to_string),
        address: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip()),
    };
    // A premium worker needs a license (or a publisher token) covering it.
    let credential = super::licenses::credential_of(&headers);
    state
        .registry
        .authorize_download(&worker_id, credential.as_deref())
        .await?;
    let download = state
        .registry
        .download_worker(&worker_id, &version, query.platform.as_deref(), &base_url, client)
        .await?;
    Ok(Json(V1Download::of(download)))
}

/// `GET /v1/workers/:id/stats`: the design's `{downloads, stars, last_updated}` and the
/// breakdowns beside them.
pub async fn get_stats(
    State(state): State<AppState>,
    WorkerPath(worker_id, _): WorkerPath<V1Error>,
) -> Result<Json<V1Stats>, V1Error> {
    let stats = state.registry.worker_stats(&worker_id).await?;
    Ok(Json(V1Stats::of(&worker_id, stats)))
}
