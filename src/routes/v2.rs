//! Handlers of the distribution API under `/v2/`. Each extracts typed input, calls one
//! service method and returns a typed response. The spec's endpoint ids are noted.

use std::collections::HashMap;

use axum::body::Body;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::bearer;
use super::error::ApiError;
use super::observe::ParsedV2Path;
use super::responses::*;
use super::AppState;
use crate::auth::access::MountQuery;
use crate::oci::{parse_content_range, parse_v2_path, Digest, Reference, RepoName, V2Path};
use crate::services::analytics::DownloadClient;
use crate::services::blobs::BlobRead;
use crate::services::tokens::VerifiedToken;
use crate::services::{BodyStream, Registry, RegistryError};

type Handled = Result<Response, ApiError>;

/// Entry point for every `/v2/…` request: takes the path `observe` parsed (or parses it,
/// when called without that layer), then dispatches.
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let parsed = parts.extensions.remove::<ParsedV2Path>();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let rest = uri.path().strip_prefix("/v2").unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let query = Query::parse(uri.query());
    let parsed = parsed.map_or_else(|| parse_v2_path(rest), |ParsedV2Path(parsed)| parsed);
    let result = match parsed {
        Ok(Some(path)) => match bearer::check_access(&state, &method, &path, query.mount(), &headers, peer).await {
            Ok(viewer) => {
                route(
                    &state.registry,
                    method,
                    path,
                    &query,
                    &headers,
                    peer,
                    body,
                    viewer.as_ref(),
                )
                .await
            }
            Err(error) => Err(error),
        },
        Ok(None) => Err(ApiError::unsupported_endpoint()),
        Err(error) => Err(error.into()),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

#[allow(clippy::too_many_arguments)]
async fn route(
    registry: &Registry,
    method: Method,
    path: V2Path,
    query: &Query,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    body: Body,
    viewer: Option<&VerifiedToken>,
) -> Handled {
    let head = method == Method::HEAD;
    match (method, path) {
        // end-1
        (Method::GET | Method::HEAD, V2Path::ApiBase) => Ok(ApiBase.into_response()),
        (Method::GET, V2Path::Catalog) => list_repositories(registry, query, viewer).await,
        // end-2 (GET, HEAD), end-10 (DELETE)
        (Method::GET | Method::HEAD, V2Path::Blob { name, digest }) => {
            get_blob(registry, name, digest, headers, peer, head, query.get("ns")).await
        }
        (Method::DELETE, V2Path::Blob { name, digest }) => delete_blob(registry, name, digest).await,
        // end-4a, end-4b, end-11
        (Method::POST, V2Path::Uploads { name }) => start_upload(registry, name, query, body).await,
        // end-13
        (Method::GET, V2Path::Upload { name, session_id }) => get_upload(registry, name, session_id).await,
        // end-5
        (Method::PATCH, V2Path::Upload { name, session_id }) => {
            patch_upload(registry, name, session_id, headers, body).await
        }
        // end-6
        (Method::PUT, V2Path::Upload { name, session_id }) => {
            finish_upload(registry, name, session_id, query, headers, body).await
        }
        (Method::DELETE, V2Path::Upload { name, session_id }) => cancel_upload(registry, name, session_id).await,
        // end-3 (GET, HEAD), end-7 (PUT), end-9 (DELETE)
        (Method::GET | Method::HEAD, V2Path::Manifest { name, reference }) => {
            get_manifest(registry, name, reference, headers, head, query.get("ns")).await
        }
        (Method::PUT, V2Path::Manifest { name, reference }) => {
            put_manifest(registry, name, reference, headers, body).await
        }
        (Method::DELETE, V2Path::Manifest { name, reference }) => delete_manifest(registry, name, reference).await,
        // A reference that is neither a tag nor a digest names no manifest: reading or deleting
        // it finds none (distribution, zot and the OCI conformance suite agree on the 404);
        // pushing under it is refused (`TAG_INVALID`, or `DIGEST_INVALID` for a digest's shape).
        (Method::GET | Method::HEAD | Method::DELETE, V2Path::InvalidManifestReference { reference, .. }) => {
            Err(RegistryError::ManifestUnknown(reference).into())
        }
        (Method::PUT, V2Path::InvalidManifestReference { error, .. }) => Err(error.into()),
        // end-8a, end-8b
        (Method::GET, V2Path::Tags { name }) => list_tags(registry, name, query).await,
        // end-12a, end-12b
        (Method::GET, V2Path::Referrers { name, digest }) => list_referrers(registry, name, digest, query).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The query string, decoded once.
struct Query(HashMap<String, String>);

impl Query {
    fn parse(query: Option<&str>) -> Self {
        Query(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn page_size(&self) -> Result<Option<u64>, ApiError> {
        self.get("n")
            .map(|n| {
                n.parse().map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        super::error::ErrorCode::Unsupported,
                        "n must be a number",
                    )
                })
            })
            .transpose()
    }

    /// The parameters of a cross-repository mount.
    fn mount(&self) -> MountQuery<'_> {
        MountQuery {
            mount: self.get("mount"),
            from: self.get("from"),
        }
    }

    fn digest(&self) -> Result<Option<Digest>, ApiError> {
        Ok(self.get("digest").map(str::parse).transpose()?)
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn body_stream(body: Body) -> BodyStream {
    TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other).boxed()
}

/// Whether the request carries a body at all (a length above zero or a chunked encoding).
fn has_body(headers: &HeaderMap) -> bool {
    match header_text(headers, header::CONTENT_LENGTH) {
        Some(length) => length.trim() != "0",
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

async fn get_blob(
    registry: &Registry,
    name: RepoName,
    digest: Digest,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    head: bool,
    ns: Option<&str>,
) -> Handled {
    let range = header_text(headers, header::RANGE);
    let client = DownloadClient {
        user_agent: header_text(headers, header::USER_AGENT).map(str::to_string),
        address: peer,
    };
    match registry
        .download_blob_through(&name, &digest, range, !head, client, ns)
        .await?
    {
        BlobRead::Content(content) => Ok(BlobBody { content, head }.into_response()),
        BlobRead::RangeNotSatisfiable { size } => Ok(RangeNotSatisfiable { size }.into_response()),
        BlobRead::Redirect { digest, location } => Ok(BlobRedirect { digest, location }.into_response()),
    }
}

async fn delete_blob(registry: &Registry, name: RepoName, digest: Digest) -> Handled {
    registry.delete_blob(&name, &digest).await?;
    Ok(Deleted.into_response())
}

async fn start_upload(registry: &Registry, name: RepoName, query: &Query, body: Body) -> Handled {
    if let Some(mount) = query.get("mount") {
        let digest: Digest = mount.parse()?;
        if let Some(from) = query.get("from").and_then(|from| RepoName::parse(from).ok()) {
            if let Some(blob) = registry.mount_blob(&name, &digest, &from).await? {
                return Ok(BlobCreated {
                    name,
                    digest: blob.digest,
                }
                .into_response());
            }
        }
    } else if let Some(digest) = query.digest()? {
        let blob = registry.upload_monolithic(&name, &digest, body_stream(body)).await?;
        return Ok(BlobCreated {
            name,
            digest: blob.digest,
        }
        .into_response());
    }
    let status = registry.start_upload(&name).await?;
    Ok(UploadProgress {
        status: StatusCode::ACCEPTED,
        name,
        session_id: status.session_id,
        size: status.size,
    }
    .into_response())
}

async fn get_upload(registry: &Registry, name: RepoName, session_id: String) -> Handled {
    let status = registry.upload_status(&name, &session_id).await?;
    Ok(UploadProgress {
        status: StatusCode::NO_CONTENT,
        name,
        session_id: status.session_id,
        size: status.size,
    }
    .into_response())
}

async fn patch_upload(
    registry: &Registry,
    name: RepoName,
    session_id: String,
    headers: &HeaderMap,
    body: Body,
) -> Handled {
    let content_range = header_text(headers, header::CONTENT_RANGE)
        .map(parse_content_range)
        .transpose()?;
    let status = registry
        .append_upload(&name, &session_id, content_range, body_stream(body))
        .await?;
    Ok(UploadProgress {
        status: StatusCode::ACCEPTED,
        name,
        session_id: status.session_id,
        size: status.size,
    }
    .into_response())
}

async fn finish_upload(
    registry: &Registry,
    name: RepoName,
    session_id: String,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Handled {
    let Some(digest) = query.digest()? else {
        return Err(RegistryError::UploadInvalid("PUT needs a digest query parameter".into()).into());
    };
    let body = has_body(headers).then(|| body_stream(body));
    let blob = registry.finish_upload(&name, &session_id, &digest, body).await?;
    Ok(BlobCreated {
        name,
        digest: blob.digest,
    }
    .into_response())
}

async fn cancel_upload(registry: &Registry, name: RepoName, session_id: String) -> Handled {
    registry.cancel_upload(&name, &session_id).await?;
    Ok(NoContent.into_response())
}

async fn get_manifest(
    registry: &Registry,
    name: RepoName,
    reference: Reference,
    headers: &HeaderMap,
    head: bool,
    ns: Option<&str>,
) -> Handled {
    let accept: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|media_type| media_type.split(';').next().unwrap_or("").trim().to_string())
        .filter(|media_type| !media_type.is_empty())
        .collect();
    let manifest = registry.get_manifest_through(&name, &reference, &accept, ns).await?;
    Ok(ManifestBody { manifest, head }.into_response())
}

async fn put_manifest(
    registry: &Registry,
    name: RepoName,
    reference: Reference,
    headers: &HeaderMap,
    body: Body,
) -> Handled {
    let limit = registry.limits().max_manifest_bytes;
    let mut frames = body.into_data_stream();
    let mut manifest = Vec::new();
    while let Some(frame) = frames.next().await {
        let frame =
            frame.map_err(|error| RegistryError::UploadInvalid(format!("could not read the manifest: {error}")))?;
        if manifest.len() + frame.len() > limit {
            // Read (and drop) a bounded remainder so the client sees the 413 rather than a
            // connection reset in the middle of its upload.
            let mut discarded = 0usize;
            while discarded < DRAIN_LIMIT {
                match frames.next().await {
                    Some(Ok(rest)) => discarded += rest.len(),
                    _ => break,
                }
            }
            return Err(RegistryError::ManifestTooLarge { limit }.into());
        }
        manifest.extend_from_slice(&frame);
    }
    let content_type = header_text(headers, header::CONTENT_TYPE);
    let stored = registry
        .put_manifest(&name, &reference, content_type, Bytes::from(manifest))
        .await?;
    Ok(ManifestCreated {
        name,
        digest: stored.digest,
        subject: stored.subject,
    }
    .into_response())
}

/// How much of an oversized manifest is read and dropped before answering `413`.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

async fn delete_manifest(registry: &Registry, name: RepoName, reference: Reference) -> Handled {
    registry.delete_manifest(&name, &reference).await?;
    Ok(Deleted.into_response())
}

async fn list_tags(registry: &Registry, name: RepoName, query: &Query) -> Handled {
    let n = query.page_size()?;
    let page = registry.list_tags(&name, n, query.get("last")).await?;
    Ok(TagList { name, n, page }.into_response())
}

async fn list_repositories(registry: &Registry, query: &Query, viewer: Option<&VerifiedToken>) -> Handled {
    let n = query.page_size()?;
    let page = match viewer {
        Some(viewer) => registry.list_visible_repositories(viewer, n, query.get("last")).await?,
        None => registry.list_repositories(n, query.get("last")).await?,
    };
    Ok(Catalog { n, page }.into_response())
}

async fn list_referrers(registry: &Registry, name: RepoName, digest: Digest, query: &Query) -> Handled {
    let artifact_type = query.get("artifactType").filter(|t| !t.is_empty());
    let referrers = registry.list_referrers(&name, &digest, artifact_type).await?;
    Ok(ReferrerIndex {
        referrers,
        filtered_by_artifact_type: artifact_type.is_some(),
    }
    .into_response())
}
