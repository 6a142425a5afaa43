//! The one place where catalog API errors become HTTP, in the two shapes the catalog speaks:
//! the legacy one (`{"error": "Worker not found"}`, LEGACY-API.md) and the v1 one
//! (`{"error": {"code", "message", …what exists}}`, spec/openapi.yaml).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::services::workers::WorkerError;
use crate::services::RegistryError;

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

fn log_server_fault(error: &RegistryError) {
    tracing::error!(%error, "catalog request failed on a server fault");
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
            WorkerError::Registry(error) => {
                log_server_fault(error);
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error".to_string())
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
            WorkerError::Registry(error) => {
                log_server_fault(&error);
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": { "code": "INTERNAL", "message": "internal server error" } })),
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
