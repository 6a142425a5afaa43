//! `/catalog.git`: the catalog repository over Git's smart HTTP protocol, read-only
//! (gitprotocol-http; the protocol itself is `git::http`). These routes are specified by
//! Git's protocol documents and spec/catalog.md, not by spec/openapi.yaml, so they live in
//! their own table ([`GIT_ROUTES`]).

use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{named, AppState, NamedRoute};
use crate::git::http::{self as git_http, BodyError, CatalogGit, Service};

/// The Git routes: path, the name metrics and logs label it with, handlers.
#[rustfmt::skip]
pub(super) const GIT_ROUTES: &[NamedRoute] = &[
    named("/catalog.git/info/refs", "git_info_refs", || get(info_refs)),
    named("/catalog.git/git-upload-pack", "git_upload_pack", || post(upload_pack)),
    named("/catalog.git/git-receive-pack", "git_receive_pack", || post(receive_pack)),
];

/// A plain-text answer that is not part of the Git protocol (HTTP-level refusals).
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

/// The served repository, if it exists.
fn catalog(state: &AppState) -> Option<&CatalogGit> {
    state.catalog_git.as_ref().filter(|catalog| catalog.exists())
}

/// The answer while there is no repository to serve.
fn no_catalog() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "this registry has no Git catalog repository (create one with `rbee-registry catalog init`)",
    )
}

fn git_answer(content_type: &'static str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /catalog.git/info/refs?service=…` (gitprotocol-http, "Smart Clients").
pub async fn info_refs(State(state): State<AppState>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let Some(catalog) = catalog(&state) else {
        return no_catalog();
    };
    let service = query
        .as_deref()
        .and_then(|query| query.strip_prefix("service="))
        .and_then(Service::parse);
    let Some(service) = service else {
        return text(
            StatusCode::FORBIDDEN,
            "only the smart HTTP protocol is served: ask for ?service=git-upload-pack (the dumb protocol is not offered)",
        );
    };
    let protocol = headers.get("git-protocol").and_then(|value| value.to_str().ok());
    let advertisement = catalog.advertisement(service, git_http::wants_protocol_v2(protocol));
    git_answer(advertisement.content_type, Body::from(advertisement.body))
}

/// `POST /catalog.git/git-upload-pack` (gitprotocol-v2: `ls-refs`, `fetch`).
pub async fn upload_pack(State(state): State<AppState>, request: Request) -> Response {
    let Some(catalog) = catalog(&state).cloned() else {
        return no_catalog();
    };
    let (parts, body) = request.into_parts();
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?"));
    let body = match git_http::read_body(encoding, body).await {
        Ok(body) => body,
        Err(error) => {
            let status = match error {
                BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                BodyError::BadGzip(_) | BodyError::Read => StatusCode::BAD_REQUEST,
            };
            return text(status, &error.to_string());
        }
    };
    git_answer(
        git_http::RESULT_CONTENT_TYPE,
        Body::from_stream(catalog.upload_pack(body)),
    )
}

/// `POST /catalog.git/git-receive-pack`: pushing is not accepted.
pub async fn receive_pack() -> Response {
    text(StatusCode::FORBIDDEN, git_http::PUSH_REFUSED)
}
