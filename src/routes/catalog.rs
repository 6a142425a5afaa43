//! Handlers of the JSON catalog API: the legacy endpoints old clients use (`/health`,
//! `/workers…`, LEGACY-API.md) and the v1 API (`/v1/workers…`, spec/openapi.yaml). Each
//! calls one service method and returns a wire type from `catalog_wire`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::catalog_error::{LegacyError, V1Error};
use super::catalog_wire::*;
use super::edge::BaseUrl;
use super::AppState;
use crate::oci::Digest;
use crate::services::analytics::{DownloadClient, DownloadLink};
use crate::services::workers::{WorkerError, WorkerFilter};

/// `Cache-Control` of catalog answers (LEGACY-API.md).
pub const CATALOG_CACHE_CONTROL: &str = "public, max-age=3600";
/// How long a download URL of the registry itself is promised to stay valid, in seconds
/// (they do not expire). A presigned object-store URL reports its own expiry instead.
pub const DOWNLOAD_URL_EXPIRES_IN: u64 = 3600;
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
    Path(worker_id): Path<String>,
) -> Result<Cached<Json<LegacyEntry>>, LegacyError> {
    let worker = state.registry.find_worker(&worker_id).await?;
    Ok(Cached(Json(LegacyEntry::of(&worker))))
}

/// `GET /workers/:id/PKGBUILD`
pub async fn get_pkgbuild_legacy(
    State(state): State<AppState>,
    Path(worker_id): Path<String>,
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
    Path(worker_id): Path<String>,
) -> Result<Cached<Json<V1WorkerDetail>>, V1Error> {
    let worker = state.registry.find_worker(&worker_id).await?;
    Ok(Cached(Json(V1WorkerDetail {
        summary: V1WorkerSummary::of(&worker),
        versions: worker.version_names(),
        metadata: worker.latest().metadata.clone(),
    })))
}

/// `GET /v1/workers/:id/pkgbuild`
pub async fn get_pkgbuild(
    State(state): State<AppState>,
    Path(worker_id): Path<String>,
) -> Result<PkgbuildText, V1Error> {
    Ok(PkgbuildText(state.registry.find_pkgbuild(&worker_id).await?))
}

/// `GET /v1/workers/:id/versions`
pub async fn list_versions(
    State(state): State<AppState>,
    Path(worker_id): Path<String>,
) -> Result<Cached<Json<V1Versions>>, V1Error> {
    let worker = state.registry.find_worker(&worker_id).await?;
    Ok(Cached(Json(V1Versions {
        versions: worker.version_names(),
        latest: worker.latest().version.to_string(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct DownloadQuery {
    platform: Option<String>,
}

/// `GET /v1/workers/:id/:version/download?platform=`: where to fetch one platform's package.
/// The URL is the package's blob URL under `/v2`, under the registry's public base URL.
pub async fn get_download(
    State(state): State<AppState>,
    Path((worker_id, version)): Path<(String, String)>,
    Query(query): Query<DownloadQuery>,
    BaseUrl(base_url): BaseUrl,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<V1Download>, V1Error> {
    let target = state
        .registry
        .find_download(&worker_id, &version, query.platform.as_deref())
        .await?;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let client = DownloadClient {
        user_agent: header("user-agent").map(str::to_string),
        address: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip()),
    };
    let digest: Digest = target
        .digest
        .parse()
        .map_err(|error: crate::oci::ParseError| WorkerError::Registry(error.into()))?;
    let link = state
        .registry
        .download_link(&target.repository, &digest, client)
        .await
        .map_err(WorkerError::Registry)?;
    let (download_url, expires_in) = match link {
        DownloadLink::Presigned { url, expires_in } => (url, expires_in.as_secs()),
        DownloadLink::Registry => {
            let url = base_url.join(&format!("/v2/{}/blobs/{}", target.repository, target.digest));
            (url, DOWNLOAD_URL_EXPIRES_IN)
        }
    };
    Ok(Json(V1Download {
        download_url,
        checksum: target.digest,
        size: target.size,
        expires_in,
    }))
}

/// `GET /v1/workers/:id/stats`
pub async fn get_stats(State(state): State<AppState>, Path(worker_id): Path<String>) -> Result<Json<V1Stats>, V1Error> {
    let stats = state.registry.worker_stats(&worker_id).await?;
    Ok(Json(V1Stats::of(&worker_id, stats)))
}
