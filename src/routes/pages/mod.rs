//! The browser pages (`crate::web` renders them): their routes and the headers every page
//! and static file carries. Pages are HTML for people; the JSON APIs (`/v2`, `/workers`,
//! `/v1`) and `/catalog.git` keep their own routes and answer as before. Page routes live
//! in their own table ([`PAGE_ROUTES`]): spec/openapi.yaml describes the APIs, not pages.

pub mod admin;
pub mod assets;
pub mod catalog;
pub mod license_check;
pub mod session;
pub mod stars;
pub mod worker;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

use super::{named, NamedRoute};

/// The page routes: path, the name metrics and logs label it with, handlers.
#[rustfmt::skip]
pub(super) const PAGE_ROUTES: &[NamedRoute] = &[
    named("/static/{file}", "page_static", || get(assets::get_static)),
    named("/", "page_catalog", || get(catalog::get_catalog)),
    named("/favicon.ico", "page_favicon", || get(assets::get_favicon)),
    named("/w/{id}", "page_worker", || get(worker::get_worker)),
    named("/w/{id}/star", "page_star", || post(stars::post_star)),
    named("/admin/login", "page_admin_login", || get(admin::get_login).post(admin::post_login)),
    named("/admin/logout", "page_admin_logout", || post(admin::post_logout)),
    named("/admin", "page_admin", || get(admin::get_overview)),
    named("/admin/licenses", "page_admin_licenses", || get(admin::get_licenses).post(admin::post_licenses)),
    named("/admin/licenses/{id}/revoke", "page_admin_revoke_license", || get(admin::get_revoke_license).post(admin::post_revoke_license)),
    named("/admin/publishers", "page_admin_publishers", || get(admin::get_publishers).post(admin::post_publishers)),
    named("/admin/publishers/{name}/revoke", "page_admin_revoke_publisher", || get(admin::get_revoke_publisher).post(admin::post_revoke_publisher)),
    named("/licenses/check", "page_license_check", || get(license_check::get_license_check).post(license_check::post_license_check)),
];

/// What every page and static file may load: its own stylesheet, scripts and images (SVG
/// charts are inline markup), forms posting only to this origin, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Middleware of the page routes: the security headers of every page answer.
pub async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// An HTML page answer (`text/html`, not cached: counts and stars change).
pub fn html_page(markup: maud::Markup) -> Response {
    use axum::response::IntoResponse;
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A server fault while building a page: 503 (with `Retry-After`) for a busy database,
/// else 500, as a short page; the detail goes to the log only.
pub fn page_error(error: crate::services::workers::WorkerError) -> Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let busy = matches!(
        &error,
        crate::services::workers::WorkerError::Registry(crate::services::RegistryError::Unavailable(_))
    );
    tracing::error!(%error, "a page could not be built");
    let (status, text) = if busy {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "The registry is busy; try again in a moment.",
        )
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be built.")
    };
    let page = crate::web::worker::refused_page("Something went wrong", text, "/");
    let mut response = (status, html_page(page)).into_response();
    if busy {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
