//! The one place where errors become HTTP responses: the table of OCI error codes and the
//! mapping from every service error to a status and a code.
//!
//! Bodies follow the distribution spec: `{"errors":[{"code":…,"message":…,"detail":…}]}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oci::ParseError;
use crate::services::RegistryError;

/// The error codes of the distribution spec, plus distribution's `TAG_INVALID` and
/// `UNAVAILABLE` (503: the registry is shutting down or its database is busy; clients retry
/// it) and `UNKNOWN` for server faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    /// Distribution's code for a tag that is not one (its v2 API's table; OCI's has no
    /// narrower code for it).
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    Unavailable,
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }
}

/// An error response: status, code, message and any extra headers.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value) {
            self.headers.push((name, value));
        }
        self
    }

    pub fn unsupported_endpoint() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::Unsupported, "no such endpoint")
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            "the endpoint does not support this method",
        )
    }
}

impl From<ParseError> for ApiError {
    fn from(error: ParseError) -> Self {
        let (status, code) = match &error {
            ParseError::Digest(_) => (StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid),
            ParseError::Name(_) => (StatusCode::BAD_REQUEST, ErrorCode::NameInvalid),
            ParseError::Tag(_) => (StatusCode::BAD_REQUEST, ErrorCode::TagInvalid),
            ParseError::UploadId(_) => (StatusCode::NOT_FOUND, ErrorCode::BlobUploadUnknown),
            ParseError::ContentRange(_) => (StatusCode::BAD_REQUEST, ErrorCode::BlobUploadInvalid),
            ParseError::Manifest(_) => (StatusCode::BAD_REQUEST, ErrorCode::ManifestInvalid),
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        let message = error.to_string();
        match error {
            RegistryError::Invalid(parse) => parse.into(),
            RegistryError::BlobUnknown(digest) => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::BlobUnknown, message)
                .with_detail(json!({ "digest": digest })),
            RegistryError::UploadUnknown => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::BlobUploadUnknown, message),
            RegistryError::UploadInvalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BlobUploadInvalid, message)
            }
            RegistryError::ChunkOutOfOrder { size, .. } => {
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, ErrorCode::BlobUploadInvalid, message)
                    .with_header(header::RANGE, format!("0-{}", size.saturating_sub(1)))
            }
            RegistryError::DigestMismatch { declared, computed } => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid, message)
                    .with_detail(json!({ "declared": declared, "computed": computed }))
            }
            RegistryError::ManifestUnknown(_) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::ManifestUnknown, message)
            }
            RegistryError::ManifestBlobUnknown(digest) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::ManifestBlobUnknown, message)
                    .with_detail(json!({ "digest": digest }))
            }
            RegistryError::ManifestTooLarge { limit } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ManifestInvalid, message)
                    .with_detail(json!({ "limit": limit }))
            }
            RegistryError::BlobTooLarge { limit } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::SizeInvalid, message)
                    .with_detail(json!({ "limit": limit }))
            }
            RegistryError::StorageFull(_) => {
                tracing::error!(error = %message, "blob storage is full");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    ErrorCode::Unknown,
                    "the registry's storage is full",
                )
            }
            RegistryError::WorkerVersionInvalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::ManifestInvalid, message)
            }
            RegistryError::NameUnknown(_) => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NameUnknown, message),
            RegistryError::StoredObjectMissing(_) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::BlobUnknown, message)
            }
            RegistryError::Unavailable(_) => {
                tracing::warn!(error = %message, "request refused while the registry is unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, message)
                    .with_header(header::RETRY_AFTER, "1".into())
            }
            RegistryError::Upstream(_) => {
                tracing::warn!(error = %message, "pull-through request failed upstream");
                ApiError::new(StatusCode::BAD_GATEWAY, ErrorCode::Unknown, message)
            }
            RegistryError::Database(_) | RegistryError::Storage(_) | RegistryError::Corrupt(_) => {
                tracing::error!(error = %message, "request failed on a server fault");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Unknown,
                    "internal server error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut entry = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(detail) = self.detail {
            entry["detail"] = detail;
        }
        let body = json!({ "errors": [entry] }).to_string();
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_is_a_retryable_server_answer() {
        let error = ApiError::from(RegistryError::Unavailable("shutting down".into()));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code.as_str(), "UNAVAILABLE");
        assert!(error.headers.iter().any(|(name, _)| name == header::RETRY_AFTER));
    }
}
