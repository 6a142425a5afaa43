//! Success responses of the distribution API. Each type owns its status and headers, so a
//! handler cannot forget `Location`, `Docker-Content-Digest` or `Range`.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;

use crate::oci::{media_types, Digest, RepoName};
use crate::services::blobs::BlobContent;
use crate::services::discovery::{Page, Referrer};
use crate::services::manifests::ManifestContent;

pub const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
pub const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
pub const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
pub const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn empty(status: StatusCode, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    let mut response = (status, Body::empty()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response.headers_mut().extend(headers);
    response
}

/// `201 Created` for a blob that is now in the repository.
pub struct BlobCreated {
    pub name: RepoName,
    pub digest: Digest,
}

impl IntoResponse for BlobCreated {
    fn into_response(self) -> Response {
        empty(
            StatusCode::CREATED,
            vec![
                (
                    header::LOCATION,
                    value(&format!("/v2/{}/blobs/{}", self.name, self.digest)),
                ),
                (DOCKER_CONTENT_DIGEST, value(&self.digest.to_string())),
            ],
        )
    }
}

/// `202 Accepted` (after `POST`/`PATCH`) or `204 No Content` (status `GET`) for an upload.
pub struct UploadProgress {
    pub status: StatusCode,
    pub name: RepoName,
    pub session_id: String,
    /// Bytes received so far.
    pub size: u64,
}

impl IntoResponse for UploadProgress {
    fn into_response(self) -> Response {
        empty(
            self.status,
            vec![
                (
                    header::LOCATION,
                    value(&format!("/v2/{}/blobs/uploads/{}", self.name, self.session_id)),
                ),
                (header::RANGE, value(&format!("0-{}", self.size.saturating_sub(1)))),
                (DOCKER_UPLOAD_UUID, value(&self.session_id)),
            ],
        )
    }
}

/// A blob's bytes (`200`/`206`), or only its headers for `HEAD`.
pub struct BlobBody {
    pub content: BlobContent,
    pub head: bool,
}

impl IntoResponse for BlobBody {
    fn into_response(self) -> Response {
        let BlobContent {
            digest,
            size,
            range,
            body,
        } = self.content;
        let (status, length) = match range {
            Some(range) => (StatusCode::PARTIAL_CONTENT, range.len()),
            None => (StatusCode::OK, size),
        };
        let body = if self.head {
            Body::empty()
        } else {
            Body::from_stream(body.map_err(std::io::Error::other))
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, value(&length.to_string()));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
        headers.insert(header::ETAG, value(&format!("\"{digest}\"")));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=31536000"));
        if let Some(range) = range {
            headers.insert(
                header::CONTENT_RANGE,
                value(&format!("bytes {}-{}/{}", range.start, range.end, size)),
            );
        }
        response
    }
}

/// `416` for a `Range` outside the blob.
pub struct RangeNotSatisfiable {
    pub size: u64,
}

impl IntoResponse for RangeNotSatisfiable {
    fn into_response(self) -> Response {
        empty(
            StatusCode::RANGE_NOT_SATISFIABLE,
            vec![(header::CONTENT_RANGE, value(&format!("bytes */{}", self.size)))],
        )
    }
}

/// A manifest (`200`), or only its headers for `HEAD`.
pub struct ManifestBody {
    pub manifest: ManifestContent,
    pub head: bool,
}

impl IntoResponse for ManifestBody {
    fn into_response(self) -> Response {
        let ManifestContent {
            digest,
            media_type,
            content,
        } = self.manifest;
        let length = content.len();
        let body = if self.head { Body::empty() } else { Body::from(content) };
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, value(&length.to_string()));
        headers.insert(header::CONTENT_TYPE, value(&media_type));
        headers.insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
        headers.insert(header::ETAG, value(&format!("\"{digest}\"")));
        response
    }
}

/// `201 Created` for a stored manifest.
pub struct ManifestCreated {
    pub name: RepoName,
    pub digest: Digest,
    pub subject: Option<Digest>,
}

impl IntoResponse for ManifestCreated {
    fn into_response(self) -> Response {
        let mut headers = vec![
            (
                header::LOCATION,
                value(&format!("/v2/{}/manifests/{}", self.name, self.digest)),
            ),
            (DOCKER_CONTENT_DIGEST, value(&self.digest.to_string())),
        ];
        if let Some(subject) = self.subject {
            headers.push((OCI_SUBJECT, value(&subject.to_string())));
        }
        empty(StatusCode::CREATED, headers)
    }
}

/// `202 Accepted` for a deletion.
pub struct Deleted;

impl IntoResponse for Deleted {
    fn into_response(self) -> Response {
        empty(StatusCode::ACCEPTED, Vec::new())
    }
}

/// `204 No Content` after cancelling an upload.
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        empty(StatusCode::NO_CONTENT, Vec::new())
    }
}

/// `GET /v2/`: the API is here.
pub struct ApiBase;

impl IntoResponse for ApiBase {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, "{}".to_string(), "application/json")
    }
}

fn json_response(status: StatusCode, body: String, content_type: &str) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, value(content_type));
    response
}

/// `Link: <…>; rel="next"` for a page with more entries after it.
fn with_next_link(mut response: Response, base_path: &str, n: Option<u64>, page: &Page) -> Response {
    if let Some(last) = &page.next_last {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(n) = n {
            query.append_pair("n", &n.to_string());
        }
        query.append_pair("last", last);
        let link = format!("<{base_path}?{}>; rel=\"next\"", query.finish());
        response.headers_mut().insert(header::LINK, value(&link));
    }
    response
}

/// `GET /v2/<name>/tags/list`.
pub struct TagList {
    pub name: RepoName,
    pub n: Option<u64>,
    pub page: Page,
}

impl IntoResponse for TagList {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "name": self.name.as_str(), "tags": self.page.entries }).to_string();
        let response = json_response(StatusCode::OK, body, "application/json");
        with_next_link(response, &format!("/v2/{}/tags/list", self.name), self.n, &self.page)
    }
}

/// `GET /v2/_catalog`.
pub struct Catalog {
    pub n: Option<u64>,
    pub page: Page,
}

impl IntoResponse for Catalog {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "repositories": self.page.entries }).to_string();
        let response = json_response(StatusCode::OK, body, "application/json");
        with_next_link(response, "/v2/_catalog", self.n, &self.page)
    }
}

/// `GET /v2/<name>/referrers/<digest>`: an image index of the referrers.
pub struct ReferrerIndex {
    pub referrers: Vec<Referrer>,
    pub filtered_by_artifact_type: bool,
}

impl IntoResponse for ReferrerIndex {
    fn into_response(self) -> Response {
        let manifests: Vec<serde_json::Value> = self
            .referrers
            .into_iter()
            .map(|referrer| {
                let mut descriptor = serde_json::json!({
                    "mediaType": referrer.media_type,
                    "digest": referrer.digest,
                    "size": referrer.size,
                });
                if let Some(artifact_type) = referrer.artifact_type {
                    descriptor["artifactType"] = artifact_type.into();
                }
                if let Some(annotations) = referrer.annotations {
                    descriptor["annotations"] = serde_json::json!(annotations);
                }
                descriptor
            })
            .collect();
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_INDEX,
            "manifests": manifests,
        })
        .to_string();
        let mut response = json_response(StatusCode::OK, body, media_types::OCI_INDEX);
        if self.filtered_by_artifact_type {
            response
                .headers_mut()
                .insert(OCI_FILTERS_APPLIED, HeaderValue::from_static("artifactType"));
        }
        response
    }
}

/// `307 Temporary Redirect` of a blob download to a presigned object-store URL.
pub struct BlobRedirect {
    pub digest: Digest,
    pub location: String,
}

impl IntoResponse for BlobRedirect {
    fn into_response(self) -> Response {
        empty(
            StatusCode::TEMPORARY_REDIRECT,
            vec![
                (header::LOCATION, value(&self.location)),
                (DOCKER_CONTENT_DIGEST, value(&self.digest.to_string())),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_redirect_headers() {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let response = BlobRedirect {
            digest: digest.clone(),
            location: "http://127.0.0.1:9000/bucket/blobs/x?X-Amz-Signature=s".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            response.headers()[header::LOCATION],
            "http://127.0.0.1:9000/bucket/blobs/x?X-Amz-Signature=s"
        );
        assert_eq!(response.headers()[DOCKER_CONTENT_DIGEST], digest.to_string().as_str());
    }

    #[test]
    fn upload_progress_headers() {
        let response = UploadProgress {
            status: StatusCode::ACCEPTED,
            name: RepoName::parse("a/b").unwrap(),
            session_id: "0-1".into(),
            size: 10,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.headers()[header::LOCATION], "/v2/a/b/blobs/uploads/0-1");
        assert_eq!(response.headers()[header::RANGE], "0-9");
        assert_eq!(response.headers()[DOCKER_UPLOAD_UUID], "0-1");
    }

    #[test]
    fn tag_list_links_to_the_next_page() {
        let response = TagList {
            name: RepoName::parse("a").unwrap(),
            n: Some(2),
            page: Page {
                entries: vec!["x".into(), "y".into()],
                next_last: Some("y".into()),
            },
        }
        .into_response();
        assert_eq!(
            response.headers()[header::LINK],
            "</v2/a/tags/list?n=2&last=y>; rel=\"next\""
        );
    }
}
