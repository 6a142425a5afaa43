//! `POST /w/{id}/star`: the worker page's star form (a license or publisher token in the
//! form, `action` = `star` or `unstar`), answered with a redirect back to the page.
//!
//! Cross-site requests are refused before anything else (403): a browser's
//! `Sec-Fetch-Site` must say `same-origin` (or `none`: typed by the user), and an `Origin`
//! header must be the registry's public origin. The token field is itself the credential,
//! so a forged form would need the victim's token; the check still keeps other sites from
//! posting forms here at all.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::html_page;
use crate::artifact::WorkerId;
use crate::routes::edge::BaseUrl;
use crate::routes::AppState;
use crate::services::workers::WorkerError;
use crate::web::catalog::worker_href;
use crate::web::worker::refused_page;

#[derive(Debug, Deserialize)]
pub struct StarForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    action: String,
}

/// `scheme://host[:port]` of a base URL (its path dropped).
fn origin_of(base: &str) -> &str {
    let after_scheme = base.find("://").map_or(0, |at| at + 3);
    match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    }
}

/// Whether the request may come from this registry's own page (see the module doc).
pub fn same_origin(headers: &HeaderMap, base: &str) -> bool {
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_none_or(|site| matches!(site, "same-origin" | "none"));
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|origin| origin.eq_ignore_ascii_case(origin_of(base)));
    site_ok && origin_ok
}

/// `POST /w/{id}/star`.
pub async fn post_star(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StarForm>,
) -> Response {
    let back = worker_href(&id);
    if !same_origin(&headers, base.as_str()) {
        let page = refused_page(
            "Request refused",
            "This form can only be sent from this registry's own page.",
            &back,
        );
        return (StatusCode::FORBIDDEN, html_page(page)).into_response();
    }
    let Ok(worker_id) = WorkerId::parse(&id) else {
        return super::worker::not_found(&id);
    };
    let on = match form.action.as_str() {
        "star" => true,
        "unstar" => false,
        _ => {
            let page = refused_page("Request refused", "Choose Star or Remove my star.", &back);
            return (StatusCode::BAD_REQUEST, html_page(page)).into_response();
        }
    };
    let token = form.token.trim();
    let secret = (!token.is_empty()).then_some(token);
    match state.registry.set_star(&worker_id, secret, on).await {
        Ok(outcome) => {
            let notice = match (on, outcome.changed) {
                (true, true) => "added",
                (true, false) => "kept",
                (false, true) => "removed",
                (false, false) => "none",
            };
            Redirect::to(&format!("{back}?star={notice}#stars-heading")).into_response()
        }
        Err(WorkerError::CredentialRefused) => {
            let page = refused_page(
                "Token not accepted",
                "That is not a valid license or publisher token. Nothing was changed.",
                &back,
            );
            (StatusCode::UNAUTHORIZED, html_page(page)).into_response()
        }
        Err(WorkerError::WorkerNotFound { .. }) => super::worker::not_found(&id),
        Err(error) => super::page_error(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_origin_may_post() {
        let base = "http://127.0.0.1:8787";
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().unwrap());
            }
            same_origin(&headers, base)
        };
        assert!(with(&[]));
        assert!(with(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://127.0.0.1:8787")
        ]));
        assert!(!with(&[("sec-fetch-site", "cross-site")]));
        assert!(!with(&[("sec-fetch-site", "same-site")]));
        assert!(!with(&[("origin", "https://evil.example")]));
        assert!(!with(&[("origin", "null")]));
        assert_eq!(origin_of("https://example.com/registry"), "https://example.com");
    }
}
