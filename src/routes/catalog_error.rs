//! The one place where catalog API errors become HTTP, in the two shapes the catalog speaks:
//! the legacy one (`{"error": "Worker not found"}`, LEGACY-API.md) and the v1 one
//! (`{"error": {"code", "message", …what exists}}`, spec/openapi.yaml).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::webhook::SignatureError;
use crate::services::catalog::CatalogError;
use crate::services::workers::WorkerError;
use crate::services::RegistryError;

/// An error of the catalog-sync endpoints (`/v1/catalog/…`), in the v1 shape.
#[derive(Debug)]
pub enum CatalogApiError {
    /// No webhook secret is configured, so no request can be trusted to trigger a sync.
    NoSecret,
    /// The webhook signature is missing (401) or wrong (403).
    Signature(SignatureError),
    /// The request body could not be read (too large, cut off).
    Body(String),
    Catalog(CatalogError),
}

impl From<CatalogError> for CatalogApiError {
    fn from(error: CatalogError) -> Self {
        CatalogApiError::Catalog(error)
    }
}

impl IntoResponse for CatalogApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            CatalogApiError::NoSecret => (
                StatusCode::FORBIDDEN,
                "DENIED",
                "no catalog.webhook_secret is configured: syncs are triggered by a signed push webhook, the admin token or `rbee-registry catalog sync`".to_string(),
            ),
            CatalogApiError::Signature(error @ SignatureError::Missing) => {
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", error.to_string())
            }
            CatalogApiError::Signature(error) => (StatusCode::FORBIDDEN, "DENIED", error.to_string()),
            CatalogApiError::Body(message) => (StatusCode::BAD_REQUEST, "INVALID_BODY", message),
            CatalogApiError::Catalog(CatalogError::Registry(error)) => {
                return V1Error(WorkerError::Registry(error)).into_response();
            }
            CatalogApiError::Catalog(error @ (CatalogError::Git(_) | CatalogError::RemoteSource(_))) => {
                (StatusCode::BAD_GATEWAY, "SYNC_FAILED", error.to_string())
            }
            CatalogApiError::Catalog(error @ CatalogError::InvalidWorker(_)) => {
                (StatusCode::BAD_REQUEST, "INVALID_WORKER", error.to_string())
            }
            CatalogApiError::Catalog(error @ CatalogError::Task(_)) => {
                tracing::error!(%error, "catalog request failed on a server fault");
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal server error".to_string())
            }
        };
        (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
    }
}

/// A catalog error answered in the legacy shape.
#[derive(Debug)]
pub struct LegacyError(pub WorkerError);

/// A catalog error answered in the v1 shape.
#[derive(Debug)]
pub struct V1Error(pub WorkerError);

impl From<WorkerError> for LegacyError {
    fn from(error: WorkerError) -> Self {
        LegacyError(error)
    }
}

impl From<WorkerError> for V1Error {
    fn from(error: WorkerError) -> Self {
        V1Error(error)
    }
}

/// The status of a catalog request that failed inside the registry: `503` with `Retry-After`
/// when it may succeed on a retry (a busy database, a shutdown), `500` otherwise. Logged here.
fn server_fault(error: &RegistryError) -> (StatusCode, Option<(header::HeaderName, HeaderValue)>) {
    if let RegistryError::Unavailable(_) = error {
        tracing::warn!(%error, "catalog request answered 503: the registry is busy or shutting down");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Some((header::RETRY_AFTER, HeaderValue::from_static("1"))),
        );
    }
    tracing::error!(%error, "catalog request failed on a server fault");
    (StatusCode::INTERNAL_SERVER_ERROR, None)
}

impl IntoResponse for LegacyError {
    fn into_response(self) -> Response {
        let (status, message) = match &self.0 {
            WorkerError::WorkerNotFound { .. } => (StatusCode::NOT_FOUND, "Worker not found".to_string()),
            WorkerError::PkgbuildNotFound { .. } => (StatusCode::NOT_FOUND, "PKGBUILD not found".to_string()),
            WorkerError::VersionNotFound { .. }
            | WorkerError::PlatformRequired { .. }
            | WorkerError::PlatformNotFound { .. } => (StatusCode::NOT_FOUND, self.0.to_string()),
            WorkerError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, self.0.to_string()),
            WorkerError::LicenseRequired { .. } | WorkerError::DownloadUrlRefused { .. } => {
                (StatusCode::FORBIDDEN, self.0.to_string())
            }
            WorkerError::DownloadUrlBlobUnknown => (StatusCode::NOT_FOUND, self.0.to_string()),
            WorkerError::CredentialRefused => (StatusCode::UNAUTHORIZED, self.0.to_string()),
            WorkerError::Registry(error) => {
                let (status, retry) = server_fault(error);
                let message = match status {
                    StatusCode::SERVICE_UNAVAILABLE => "Service unavailable, try again",
                    _ => "Internal server error",
                };
                return (
                    status,
                    retry.into_iter().collect::<HeaderMap>(),
                    Json(json!({ "error": message })),
                )
                    .into_response();
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let message = self.0.to_string();
        let (status, code, details): (StatusCode, &str, Value) = match self.0 {
            WorkerError::WorkerNotFound { worker_id, known } => (
                StatusCode::NOT_FOUND,
                "WORKER_NOT_FOUND",
                json!({ "worker": worker_id, "available_workers": known }),
            ),
            WorkerError::VersionNotFound {
                worker_id,
                version,
                available,
            } => (
                StatusCode::NOT_FOUND,
                "VERSION_NOT_FOUND",
                json!({ "worker": worker_id, "version": version, "available_versions": available }),
            ),
            WorkerError::PlatformRequired {
                worker_id,
                version,
                available,
            } => (
                StatusCode::BAD_REQUEST,
                "PLATFORM_REQUIRED",
                json!({ "worker": worker_id, "version": version, "available_platforms": available }),
            ),
            WorkerError::PlatformNotFound {
                worker_id,
                version,
                platform,
                available,
            } => (
                StatusCode::NOT_FOUND,
                "PLATFORM_NOT_FOUND",
                json!({ "worker": worker_id, "version": version, "platform": platform, "available_platforms": available }),
            ),
            WorkerError::PkgbuildNotFound { worker_id } => (
                StatusCode::NOT_FOUND,
                "PKGBUILD_NOT_FOUND",
                json!({ "worker": worker_id }),
            ),
            WorkerError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "INVALID_QUERY", json!({})),
            // The design document's shape: `{error, purchase_url}` at the top level.
            WorkerError::LicenseRequired {
                worker_id,
                licensed,
                purchase_url,
            } => {
                let error = if licensed {
                    "Invalid license"
                } else {
                    "License required"
                };
                return (
                    StatusCode::FORBIDDEN,
                    Json(json!({
                        "error": error,
                        "code": "LICENSE_REQUIRED",
                        "worker": worker_id,
                        "purchase_url": purchase_url,
                    })),
                )
                    .into_response();
            }
            WorkerError::DownloadUrlRefused { expired } => (
                StatusCode::FORBIDDEN,
                if expired {
                    "DOWNLOAD_URL_EXPIRED"
                } else {
                    "DOWNLOAD_URL_INVALID"
                },
                json!({}),
            ),
            WorkerError::DownloadUrlBlobUnknown => (StatusCode::NOT_FOUND, "BLOB_NOT_FOUND", json!({})),
            // A star without a valid license or publisher token (Bearer, or the Basic password).
            WorkerError::CredentialRefused => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"rbee\""),
                    )],
                    Json(json!({ "error": { "code": "UNAUTHORIZED", "message": message } })),
                )
                    .into_response();
            }
            WorkerError::Registry(error) => {
                let (status, retry) = server_fault(&error);
                let (code, message) = match status {
                    StatusCode::SERVICE_UNAVAILABLE => ("UNAVAILABLE", "service unavailable, try again"),
                    _ => ("INTERNAL", "internal server error"),
                };
                return (
                    status,
                    retry.into_iter().collect::<HeaderMap>(),
                    Json(json!({ "error": { "code": code, "message": message } })),
                )
                    .into_response();
            }
        };
        let mut error = json!({ "code": code, "message": message });
        if let (Some(error), Some(details)) = (error.as_object_mut(), details.as_object()) {
            error.extend(details.clone());
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_registry_is_a_retryable_answer_in_both_shapes() {
        let busy = || WorkerError::Registry(RegistryError::Unavailable("the database is busy".into()));
        for response in [LegacyError(busy()).into_response(), V1Error(busy()).into_response()] {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        }
        let broken = V1Error(WorkerError::Registry(RegistryError::Corrupt("x".into()))).into_response();
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(broken.headers().get(header::RETRY_AFTER).is_none());
    }
}
