//! `GET /static/{file}`: the pages' static files, with ETags and `If-None-Match`.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::assets;

/// One year: links carry the file's hash, so a changed file has a new link.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

pub async fn get_static(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = assets::find(&file) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    answer(asset, &headers)
}

/// `GET /favicon.ico`: the site icon, where browsers ask for it without a link.
pub async fn get_favicon(headers: HeaderMap) -> Response {
    answer(&assets::ICON, &headers)
}

fn answer(asset: &assets::Asset, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&asset.etag).expect("hex ETag");
    let cache = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL)),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == asset.etag || tag.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.bytes,
    )
        .into_response()
}
