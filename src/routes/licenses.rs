//! Handlers of the license side of the v1 API: `POST /v1/licenses/verify` and the
//! registry's self-signed download URLs (`GET /v1/blobs/{digest}?repository&expires
//! &signature`), plus [`credential_of`], the credential a v1 request presents
//! (`Authorization: Bearer rbee_lic_…`, or a license or publisher token as the Basic
//! password). Errors are answered by `catalog_error` in the v1 shape.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::catalog_error::V1Error;
use super::catalog_wire::rfc3339;
use super::responses::{BlobBody, BlobRedirect, RangeNotSatisfiable};
use super::AppState;
use crate::services::analytics::DownloadClient;
use crate::services::blobs::BlobRead;
use crate::services::licenses::LicenseVerdict;
use crate::services::signed_urls::SignedUrlQuery;
use crate::services::workers::WorkerError;
use crate::services::RegistryError;

/// The secret a request presents in `Authorization`: a bearer token as is, or the password
/// of Basic credentials (any user name), as registry clients send license tokens.
pub fn credential_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string()).filter(|token| !token.is_empty());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text.split_once(':').map(|(_, password)| password.to_string());
    }
    None
}

#[derive(Debug, Deserialize)]
struct VerifyRequest {
    token: String,
}

/// `POST /v1/licenses/verify`: the design's `{valid, worker_ids, expires_at}`, or
/// `{valid: false, reason}` with `reason` one of `invalid`, `expired`, `revoked`.
#[derive(Debug, Serialize)]
pub struct V1LicenseVerdict {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl From<LicenseVerdict> for V1LicenseVerdict {
    /// The one translation of a verdict, shared with the `/licenses/check` page.
    fn from(verdict: LicenseVerdict) -> Self {
        match verdict {
            LicenseVerdict::Valid(claims) => V1LicenseVerdict {
                valid: true,
                worker_ids: Some(claims.workers),
                expires_at: Some(rfc3339(claims.expires_at.saturating_mul(1000))),
                reason: None,
            },
            LicenseVerdict::Invalid(reason) => V1LicenseVerdict {
                valid: false,
                worker_ids: None,
                expires_at: None,
                reason: Some(reason),
            },
        }
    }
}

/// `POST /v1/licenses/verify` with `{"token": "rbee_lic_…"}`.
pub async fn verify_license(State(state): State<AppState>, body: Bytes) -> Result<Response, V1Error> {
    let request: VerifyRequest = serde_json::from_slice(&body)
        .map_err(|_| WorkerError::InvalidQuery("the body must be a JSON object {\"token\": \"rbee_lic_…\"}".into()))?;
    let verdict = state
        .registry
        .verify_license(&request.token)
        .await
        .map_err(WorkerError::Registry)?;
    let mut response = Json(V1LicenseVerdict::from(verdict)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct SignedQuery {
    repository: Option<String>,
    expires: Option<String>,
    signature: Option<String>,
}

/// `GET /v1/blobs/{digest}?repository=&expires=&signature=`: a download URL the registry
/// signed. Served (ranges included) while intact and unexpired, counted like a `/v2` fetch.
pub async fn get_signed_blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    Query(query): Query<SignedQuery>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, V1Error> {
    let query = SignedUrlQuery {
        repository: query.repository,
        expires: query.expires,
        signature: query.signature,
    };
    let (repository, digest) = state.registry.check_signed_blob_url(&digest, &query).await?;
    let client = DownloadClient {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
        address: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip()),
    };
    let range = headers.get(header::RANGE).and_then(|value| value.to_str().ok());
    let read = match state
        .registry
        .download_blob(&repository, &digest, range, true, client)
        .await
    {
        Ok(read) => read,
        Err(RegistryError::BlobUnknown(_) | RegistryError::NameUnknown(_)) => {
            return Err(WorkerError::DownloadUrlBlobUnknown.into())
        }
        Err(error) => return Err(WorkerError::Registry(error).into()),
    };
    let mut response = match read {
        BlobRead::Content(content) => BlobBody { content, head: false }.into_response(),
        BlobRead::RangeNotSatisfiable { size } => RangeNotSatisfiable { size }.into_response(),
        BlobRead::Redirect { digest, location } => BlobRedirect { digest, location }.into_response(),
    };
    // The URL is someone's license-bound link: no shared cache keeps the bytes.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
