//! What every admin page and form relies on (spec/auth.md, "Admin sessions"): the session
//! and login cookies, the same-origin check of posted forms (`Origin`, `Sec-Fetch-Site`),
//! the form token check, and the answers of a refusal (a signed-out `GET` is sent to the
//! sign-in page; a refused `POST` gets `403` and changes nothing).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::Markup;

use super::super::AppState;
use crate::auth::csrf::{form_token, form_token_valid, FormPurpose};
use crate::services::admin_sessions::ADMIN_SESSION_LIFETIME;
use crate::services::PublicUrl;
use crate::web;

/// The session cookie: the session's secret.
pub const SESSION_COOKIE: &str = "rbee_admin_session";
/// The sign-in form's cookie: a random nonce its form token is bound to.
pub const LOGIN_COOKIE: &str = "rbee_admin_login";
/// Both cookies are sent only to the admin pages.
const COOKIE_PATH: &str = "/admin";
/// How long the sign-in form's nonce lives.
const LOGIN_COOKIE_SECONDS: u64 = 3600;
/// Largest form body read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/admin`, `Max-Age`, and
/// `Secure` when the registry is served over HTTPS (its public base is `https`).
pub fn cookie(name: &str, value: &str, max_age_seconds: u64, base: &PublicUrl) -> HeaderValue {
    let secure = if base.scheme() == "https" { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age_seconds}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are base64url")
}

/// The session cookie of a new session.
pub fn session_cookie(secret: &str, base: &PublicUrl) -> HeaderValue {
    cookie(SESSION_COOKIE, secret, ADMIN_SESSION_LIFETIME.as_secs(), base)
}

/// The login cookie of the sign-in form.
pub fn login_cookie(nonce: &str, base: &PublicUrl) -> HeaderValue {
    cookie(LOGIN_COOKIE, nonce, LOGIN_COOKIE_SECONDS, base)
}

/// A cookie that removes `name`.
pub fn cleared_cookie(name: &str, base: &PublicUrl) -> HeaderValue {
    cookie(name, "", 0, base)
}

/// The value of the cookie `name` the request sends (the first one).
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// Whether a posted form comes from a page of this registry: `Sec-Fetch-Site`, when sent,
/// is `same-origin`; `Origin`, when sent, is the public base's origin or the origin of the
/// `Host` the request was sent to. Clients that send neither (not browsers) are held to the
/// form token alone.
pub fn same_origin(headers: &HeaderMap, base: &PublicUrl) -> bool {
    let text = |name: &header::HeaderName| headers.get(name).map(|value| value.to_str().unwrap_or("\u{0}"));
    if let Some(site) = text(&header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" {
            return false;
        }
    }
    let Some(origin) = text(&header::ORIGIN) else {
        return true;
    };
    let base_origin = url::Url::parse(base.as_str())
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_default();
    if origin == base_origin {
        return true;
    }
    text(&header::HOST).is_some_and(|host| origin == format!("{}://{host}", base.scheme()))
}

/// The fields of a posted `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// Reads a form body of at most 64 KiB.
    pub async fn read(body: Body) -> Result<FormFields, Response> {
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
            refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "The form was larger than this registry reads.",
            )
        })?;
        Ok(FormFields(url::form_urlencoded::parse(&bytes).into_owned().collect()))
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.trim())
    }
}

/// A page answer: HTML, never stored by any cache (admin pages show secrets and state).
pub fn page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A refusal as a page with `status`.
pub fn refusal(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        web::admin::message_page(title, message, ("/admin", "Go to the admin pages")),
    )
}

/// The `403` of a form refused before anything was done.
pub fn forbidden_form() -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form was not sent from this registry's own page of your session, or the session has \
         ended. Nothing was changed. Open the page again and resend the form.",
    )
}

/// A `303` to `location`, not stored.
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, HeaderValue::from_str(location).expect("our own path")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

/// A server fault as a page (the error itself goes to the log only).
pub fn fault(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "admin page failed");
    refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The registry could not do this now. Try again; the log has the details.",
    )
}

/// A signed-in admin: the session's secret and the form token of its forms.
pub struct Admin {
    pub session: String,
    pub form_token: String,
}

/// The admin of a `GET`: the valid session, or a `303` to the sign-in page.
pub async fn admin_for_get(state: &AppState, headers: &HeaderMap) -> Result<Admin, Response> {
    match session_of(state, headers).await? {
        Some(admin) => Ok(admin),
        None => Err(see_other("/admin/login")),
    }
}

/// The admin and fields of a `POST`: same origin, a valid session, and the session's form
/// token in the form; anything else is a `403` before any change.
pub async fn admin_for_post(
    state: &AppState,
    base: &PublicUrl,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Admin, FormFields), Response> {
    if !same_origin(headers, base) {
        return Err(forbidden_form());
    }
    let Some(admin) = session_of(state, headers).await? else {
        return Err(forbidden_form());
    };
    let fields = FormFields::read(body).await?;
    if !form_token_valid(
        &admin.session,
        FormPurpose::Admin,
        fields.get(web::forms::FORM_TOKEN_FIELD),
    ) {
        return Err(forbidden_form());
    }
    Ok((admin, fields))
}

async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Option<Admin>, Response> {
    let Some(session) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let active = state.registry.admin_session_active(&session).await.map_err(fault)?;
    Ok(active.then(|| Admin {
        form_token: form_token(&session, FormPurpose::Admin),
        session,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn cookies_carry_their_attributes() {
        let http = PublicUrl::parse("http://127.0.0.1:8787").unwrap();
        let https = PublicUrl::parse("https://registry.example.com").unwrap();
        let plain = session_cookie("s", &http);
        assert_eq!(
            plain,
            "rbee_admin_session=s; Path=/admin; Max-Age=28800; HttpOnly; SameSite=Strict"
        );
        assert!(session_cookie("s", &https).to_str().unwrap().ends_with("; Secure"));
        assert!(cleared_cookie(LOGIN_COOKIE, &http)
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }

    #[test]
    fn cookie_values_are_found_by_name() {
        let map = headers(&[("cookie", "a=1; rbee_admin_session=xyz"), ("cookie", "b=2")]);
        assert_eq!(cookie_value(&map, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&map, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(&map, "rbee_admin"), None);
    }

    #[test]
    fn only_same_origin_forms_pass() {
        let base = PublicUrl::parse("https://registry.example.com").unwrap();
        assert!(same_origin(&headers(&[]), &base));
        assert!(same_origin(
            &headers(&[
                ("origin", "https://registry.example.com"),
                ("sec-fetch-site", "same-origin")
            ]),
            &base
        ));
        assert!(same_origin(
            &headers(&[("origin", "https://10.0.0.5:8443"), ("host", "10.0.0.5:8443")]),
            &base
        ));
        for refused in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "null")][..],
            &[("sec-fetch-site", "cross-site")][..],
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://registry.example.com"),
            ][..],
            &[
                ("origin", "http://registry.example.com"),
                ("host", "registry.example.com"),
            ][..],
        ] {
            assert!(!same_origin(&headers(refused), &base), "{refused:?}");
        }
    }
}
