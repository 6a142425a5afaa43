//! The admin pages' handlers: sign-in and sign-out, the overview, licenses (list, issue,
//! revoke) and publisher tokens (list, create, revoke). Each calls the same service method
//! as the `rbee-registry license|publisher` commands, so a revocation here holds at once at
//! `/token` and `/v1/licenses/verify` on every process. Access rules: `session`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::session::{
    admin_for_get, admin_for_post, cleared_cookie, cookie_value, fault, forbidden_form, login_cookie, page, refusal,
    same_origin, see_other, session_cookie, FormFields, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::artifact::WorkerId;
use crate::auth::csrf::{form_token, form_token_valid, FormPurpose};
use crate::auth::principal::RepoPattern;
use crate::auth::secrets::random_secret;
use crate::routes::catalog_wire::rfc3339;
use crate::routes::edge::BaseUrl;
use crate::routes::AppState;
use crate::services::expiry::expiry_secs;
use crate::services::licenses::{CredentialError, License};
use crate::services::publishers::Publisher;
use crate::web::admin::{self as views, LicenseView, PublisherView};
use crate::web::forms::{FormState, FORM_TOKEN_FIELD};

/// Prefix of the sign-in form's nonce.
const LOGIN_NONCE_PREFIX: &str = "rbee_nonce_";

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

fn license_view(license: License) -> LicenseView {
    LicenseView {
        expires: rfc3339(license.expires_at.saturating_mul(1000)),
        status: license.status.as_str(),
        id: license.id,
        holder: license.holder,
        workers: license.workers,
    }
}

fn publisher_view(publisher: Publisher) -> PublisherView {
    let now = now_millis();
    let status = if publisher.revoked_at.is_some() {
        "revoked"
    } else if publisher.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    };
    PublisherView {
        expires: publisher.expires_at.map(rfc3339),
        status,
        name: publisher.name,
        patterns: publisher.patterns,
        allow_delete: publisher.allow_delete,
    }
}

/// Splits a list typed as words separated by spaces, commas or lines.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| !word.is_empty())
}

// ---- Sign-in and sign-out ----

/// `GET /admin/login`: the sign-in form, bound to a fresh nonce cookie (or the one the
/// browser already has); signed in already: to the overview.
pub async fn get_login(State(state): State<AppState>, BaseUrl(base): BaseUrl, headers: HeaderMap) -> Response {
    if admin_for_get(&state, &headers).await.is_ok() {
        return see_other("/admin");
    }
    let nonce = cookie_value(&headers, LOGIN_COOKIE)
        .filter(|nonce| nonce.starts_with(LOGIN_NONCE_PREFIX))
        .unwrap_or_else(|| random_secret(LOGIN_NONCE_PREFIX));
    let token = form_token(&nonce, FormPurpose::Login);
    let mut response = page(StatusCode::OK, views::login_page(&token, &FormState::default()));
    response
        .headers_mut()
        .append(header::SET_COOKIE, login_cookie(&nonce, &base));
    response
}

/// `POST /admin/login`: same origin, the form token of the nonce cookie, then the admin
/// token; success sets the session cookie and goes to the overview.
pub async fn post_login(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !same_origin(&headers, &base) {
        return forbidden_form();
    }
    let Some(nonce) = cookie_value(&headers, LOGIN_COOKIE) else {
        return forbidden_form();
    };
    let fields = match FormFields::read(body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    if !form_token_valid(&nonce, FormPurpose::Login, fields.get(FORM_TOKEN_FIELD)) {
        return forbidden_form();
    }
    match state.registry.start_admin_session(fields.get("admin_token")).await {
        Ok(Some(session)) => {
            let mut response = see_other("/admin");
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, session_cookie(&session.secret, &base));
            headers.append(header::SET_COOKIE, cleared_cookie(LOGIN_COOKIE, &base));
            response
        }
        Ok(None) => {
            let mut form = FormState::default();
            form.add_error("admin_token", "That is not this registry's admin token.");
            page(
                StatusCode::FORBIDDEN,
                views::login_page(&form_token(&nonce, FormPurpose::Login), &form),
            )
        }
        Err(error) => fault(error),
    }
}

/// `POST /admin/logout`: ends the session everywhere and clears the cookie.
pub async fn post_logout(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (admin, _) = match admin_for_post(&state, &base, &headers, body).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    if let Err(error) = state.registry.end_admin_session(&admin.session).await {
        return fault(error);
    }
    let mut response = see_other("/admin/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, cleared_cookie(SESSION_COOKIE, &base));
    response
}

// ---- Overview ----

/// `GET /admin`
pub async fn get_overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let admin = match admin_for_get(&state, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let (licenses, publishers) = match (
        state.registry.list_licenses().await,
        state.registry.list_publishers().await,
    ) {
        (Ok(licenses), Ok(publishers)) => (licenses, publishers),
        (Err(error), _) | (_, Err(error)) => return fault(error),
    };
    let licenses: Vec<LicenseView> = licenses.into_iter().map(license_view).collect();
    let publishers: Vec<PublisherView> = publishers.into_iter().map(publisher_view).collect();
    page(
        StatusCode::OK,
        views::overview_page(&admin.form_token, &licenses, &publishers),
    )
}

// ---- Licenses ----

#[derive(Debug, Deserialize)]
pub struct RevokedNotice {
    revoked: Option<String>,
}

async fn licenses_list(
    state: &AppState,
    token: &str,
    form: &FormState,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    match state.registry.list_licenses().await {
        Ok(licenses) => {
            let licenses: Vec<LicenseView> = licenses.into_iter().map(license_view).collect();
            page(status, views::licenses_page(token, &licenses, form, notice))
        }
        Err(error) => fault(error),
    }
}

/// `GET /admin/licenses`
pub async fn get_licenses(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RevokedNotice>,
) -> Response {
    let admin = match admin_for_get(&state, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let notice = query
        .revoked
        .filter(|id| is_license_id(id))
        .map(|id| format!("License {id} was revoked."));
    licenses_list(
        &state,
        &admin.form_token,
        &FormState::default(),
        notice.as_deref(),
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/licenses`: issues a license; the answer is the only page showing its token.
pub async fn post_licenses(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (admin, fields) = match admin_for_post(&state, &base, &headers, body).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let (holder, workers_text, expires_text) = (fields.get("holder"), fields.get("workers"), fields.get("expires"));
    let mut form = FormState::default()
        .with_value("holder", holder)
        .with_value("workers", workers_text)
        .with_value("expires", expires_text);
    if holder.is_empty() {
        form.add_error("holder", "Enter the holder's e-mail address.");
    }
    let mut workers = Vec::new();
    for word in words(workers_text) {
        match WorkerId::parse(word) {
            Ok(worker) => workers.push(worker),
            Err(error) => form.add_error("workers", format!("{word:?} is not a worker id: {error}")),
        }
    }
    if workers_text.trim().is_empty() {
        form.add_error("workers", "Name at least one worker.");
    }
    let expires_at = match expiry_secs(expires_text, now_secs()) {
        Ok(at) => Some(at),
        Err(error) => {
            form.add_error("expires", error.to_string());
            None
        }
    };
    let Some(expires_at) = expires_at.filter(|_| !form.has_errors()) else {
        return licenses_list(&state, &admin.form_token, &form, None, StatusCode::BAD_REQUEST).await;
    };
    match state.registry.issue_license(holder, &workers, expires_at).await {
        Ok((license, secret)) => page(
            StatusCode::OK,
            views::license_issued_page(&admin.form_token, &license_view(license), &secret),
        ),
        Err(CredentialError::Invalid(message)) => {
            if message.contains("e-mail") {
                form.add_error("holder", message);
            } else if message.contains("expiry") {
                form.add_error("expires", message);
            } else {
                form.form_error = Some(message);
            }
            licenses_list(&state, &admin.form_token, &form, None, StatusCode::BAD_REQUEST).await
        }
        Err(error) => fault(error),
    }
}

/// A license id as the registry makes them (hex); anything else names no license.
fn is_license_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn find_license(state: &AppState, id: &str) -> Result<LicenseView, Response> {
    let not_found = || {
        refusal(
            StatusCode::NOT_FOUND,
            "No such license",
            "This registry has no license with that id.",
        )
    };
    if !is_license_id(id) {
        return Err(not_found());
    }
    match state.registry.find_license(id).await {
        Ok(license) => Ok(license_view(license)),
        Err(CredentialError::NotFound(_)) => Err(not_found()),
        Err(error) => Err(fault(error)),
    }
}

/// `GET /admin/licenses/{id}/revoke`: the confirmation step.
pub async fn get_revoke_license(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let admin = match admin_for_get(&state, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    match find_license(&state, &id).await {
        Ok(license) => page(
            StatusCode::OK,
            views::revoke_license_page(&admin.form_token, &license, None),
        ),
        Err(response) => response,
    }
}

/// `POST /admin/licenses/{id}/revoke` with `confirm=yes`: revokes (the CLI's call).
pub async fn post_revoke_license(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (admin, fields) = match admin_for_post(&state, &base, &headers, body).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let license = match find_license(&state, &id).await {
        Ok(license) => license,
        Err(response) => return response,
    };
    if fields.get("confirm") != "yes" {
        let error = "Tick the box to confirm; nothing was revoked.";
        return page(
            StatusCode::BAD_REQUEST,
            views::revoke_license_page(&admin.form_token, &license, Some(error)),
        );
    }
    match state.registry.revoke_license(&license.id).await {
        Ok(_) => see_other(&format!("/admin/licenses?revoked={}", license.id)),
        Err(error) => fault(error),
    }
}

// ---- Publisher tokens ----

async fn publishers_list(
    state: &AppState,
    token: &str,
    form: &FormState,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    match state.registry.list_publishers().await {
        Ok(publishers) => {
            let publishers: Vec<PublisherView> = publishers.into_iter().map(publisher_view).collect();
            page(status, views::publishers_page(token, &publishers, form, notice))
        }
        Err(error) => fault(error),
    }
}

/// `GET /admin/publishers`
pub async fn get_publishers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RevokedNotice>,
) -> Response {
    let admin = match admin_for_get(&state, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let notice = query.revoked.map(|name| format!("Publisher token {name} was revoked."));
    publishers_list(
        &state,
        &admin.form_token,
        &FormState::default(),
        notice.as_deref(),
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/publishers`: creates a publisher token; the answer is the only page
/// showing it.
pub async fn post_publishers(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (admin, fields) = match admin_for_post(&state, &base, &headers, body).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let (name, repos_text, expires_text) = (fields.get("name"), fields.get("repos"), fields.get("expires"));
    let allow_delete = fields.get("allow_delete") == "yes";
    let mut form = FormState::default()
        .with_value("name", name)
        .with_value("repos", repos_text)
        .with_value("expires", expires_text)
        .with_value("allow_delete", if allow_delete { "yes" } else { "" });
    let mut patterns = Vec::new();
    for word in words(repos_text) {
        match RepoPattern::parse(word) {
            Ok(pattern) => patterns.push(pattern),
            Err(error) => form.add_error("repos", format!("{word:?}: {error}")),
        }
    }
    if repos_text.trim().is_empty() {
        form.add_error("repos", "Name at least one repository pattern.");
    }
    let mut expires_at = None;
    if !expires_text.is_empty() {
        match expiry_secs(expires_text, now_secs()) {
            Ok(at) => expires_at = Some(at.saturating_mul(1000)),
            Err(error) => form.add_error("expires", error.to_string()),
        }
    }
    if form.has_errors() {
        return publishers_list(&state, &admin.form_token, &form, None, StatusCode::BAD_REQUEST).await;
    }
    match state
        .registry
        .create_publisher(name, &patterns, allow_delete, expires_at)
        .await
    {
        Ok((publisher, secret)) => page(
            StatusCode::OK,
            views::publisher_created_page(&admin.form_token, &publisher_view(publisher), &secret),
        ),
        Err(CredentialError::Invalid(message) | CredentialError::Conflict(message)) => {
            if message.contains("expiry") {
                form.add_error("expires", message);
            } else if message.contains("name") {
                form.add_error("name", message);
            } else {
                form.form_error = Some(message);
            }
            publishers_list(&state, &admin.form_token, &form, None, StatusCode::BAD_REQUEST).await
        }
        Err(error) => fault(error),
    }
}

/// The active publisher called `name` (a listed name: never a token).
async fn find_active_publisher(state: &AppState, name: &str) -> Result<PublisherView, Response> {
    let publishers = state.registry.list_publishers().await.map_err(fault)?;
    publishers
        .into_iter()
        .map(publisher_view)
        .find(|publisher| publisher.name == name && publisher.status == "active")
        .ok_or_else(|| {
            refusal(
                StatusCode::NOT_FOUND,
                "No such publisher token",
                "This registry has no active publisher token with that name.",
            )
        })
}

/// `GET /admin/publishers/{name}/revoke`: the confirmation step.
pub async fn get_revoke_publisher(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let admin = match admin_for_get(&state, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    match find_active_publisher(&state, &name).await {
        Ok(publisher) => page(
            StatusCode::OK,
            views::revoke_publisher_page(&admin.form_token, &publisher, None),
        ),
        Err(response) => response,
    }
}

/// `POST /admin/publishers/{name}/revoke` with `confirm=yes`: revokes (the CLI's call).
pub async fn post_revoke_publisher(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> Response {
    let (admin, fields) = match admin_for_post(&state, &base, &headers, body).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let publisher = match find_active_publisher(&state, &name).await {
        Ok(publisher) => publisher,
        Err(response) => return response,
    };
    if fields.get("confirm") != "yes" {
        let error = "Tick the box to confirm; nothing was revoked.";
        return page(
            StatusCode::BAD_REQUEST,
            views::revoke_publisher_page(&admin.form_token, &publisher, Some(error)),
        );
    }
    match state.registry.revoke_publisher(&publisher.name).await {
        Ok(()) => {
            let location = url::form_urlencoded::Serializer::new(String::from("/admin/publishers?"))
                .append_pair("revoked", &publisher.name)
                .finish();
            see_other(&location)
        }
        Err(error) => fault(error),
    }
}
