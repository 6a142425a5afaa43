//! `GET`/`POST /licenses/check`: a license holder's check of a license token. The token is
//! posted (never in a URL), checked by the same service call as `POST /v1/licenses/verify`
//! and translated by the same function, and never written back into the page.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::session::{page, same_origin, FormFields};
use crate::routes::edge::BaseUrl;
use crate::routes::licenses::V1LicenseVerdict;
use crate::routes::AppState;
use crate::web::forms::FormState;
use crate::web::license_check::{license_check_page, CheckAnswer};

pub async fn get_license_check() -> Response {
    page(StatusCode::OK, license_check_page(None, &FormState::default()))
}

pub async fn post_license_check(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !same_origin(&headers, &base) {
        return super::session::forbidden_form();
    }
    let fields = match FormFields::read(body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let token = fields.get("token");
    if token.is_empty() {
        let mut form = FormState::default();
        form.add_error("token", "Paste a license token to check.");
        return page(StatusCode::BAD_REQUEST, license_check_page(None, &form));
    }
    let verdict = match state.registry.verify_license(token).await {
        Ok(verdict) => V1LicenseVerdict::from(verdict),
        Err(error) => return super::session::fault(error),
    };
    let answer = match verdict {
        V1LicenseVerdict {
            valid: true,
            worker_ids: Some(workers),
            expires_at: Some(expires_at),
            ..
        } => CheckAnswer::Valid { workers, expires_at },
        V1LicenseVerdict { reason, .. } => CheckAnswer::Invalid(reason.unwrap_or("invalid")),
    };
    page(StatusCode::OK, license_check_page(Some(&answer), &FormState::default()))
}
