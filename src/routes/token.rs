//! The token endpoint (`/token`) and the public keys (`/.well-known/jwks.json`). Thin: the
//! request is parsed here, `services::tokens` decides.
//!
//! - `GET /token?service=…&scope=…&account=…` with `Authorization: Basic` (any user name,
//!   the secret as password) or none (anonymous): the Docker token spec.
//! - `POST /token` with a form (`grant_type=password` and `username`/`password`, or
//!   `grant_type=refresh_token` and `refresh_token`; `client_id`, `access_type=offline`,
//!   `scope`, `service`): the OAuth2 form containerd and oras-go use.
//!
//! Both answer `{token, access_token, expires_in, issued_at}` (the same JWT twice), the
//! `POST` form with `refresh_token` when asked. Wrong credentials: `401` with
//! `WWW-Authenticate: Basic`. Each client address gets `token_rate_limit` requests a minute
//! (`429` with `Retry-After` past it).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use super::edge::BaseUrl;
use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::auth::scopes::parse_scopes;
use crate::observability::record_auth_failure;
use crate::services::tokens::{Grant, IssuedToken, TokenRequest, TokenRequestError};
use crate::services::PublicUrl;

/// Largest `POST /token` form read.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Client addresses remembered by the rate limit at most (stale ones are dropped first).
const MAX_TRACKED_CLIENTS: usize = 65_536;
const WINDOW: Duration = Duration::from_secs(60);

/// Per client address: when its window started and how many requests it made in it.
type Windows = HashMap<Option<IpAddr>, (Instant, u64)>;

/// Token requests per client address per minute (a fixed window per address).
#[derive(Clone, Debug)]
pub struct TokenRateLimit {
    per_minute: u64,
    windows: Arc<Mutex<Windows>>,
}

impl TokenRateLimit {
    pub fn new(per_minute: u64) -> Self {
        TokenRateLimit {
            per_minute,
            windows: Arc::default(),
        }
    }

    /// Counts a request of `client`; `Err(seconds to wait)` past the limit.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() >= MAX_TRACKED_CLIENTS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_TRACKED_CLIENTS {
                windows.clear();
            }
        }
        let (start, count) = windows.entry(client).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            let wait = WINDOW.saturating_sub(now.duration_since(*start)).as_secs().max(1);
            return Err(wait);
        }
        *count += 1;
        Ok(())
    }
}

fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// The `429` for a client past the rate limit, if it is.
fn rate_limited(state: &AppState, client: Option<IpAddr>) -> Option<Response> {
    let wait = state.token_rate_limit.check(client).err()?;
    record_auth_failure("rate_limited");
    Some(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyRequests,
            "too many token requests; retry later",
        )
        .with_header(header::RETRY_AFTER, wait.to_string())
        .into_response(),
    )
}

/// The secret of `Authorization: Basic` (its password) or `Bearer` (the secret itself).
/// `Err` for a header that is neither valid Basic nor Bearer.
fn presented_secret(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(drop)?;
    let (scheme, rest) = value.split_once(' ').ok_or(())?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest.trim()).map_err(drop)?;
        let text = String::from_utf8(decoded).map_err(drop)?;
        let (_user, password) = text.split_once(':').ok_or(())?;
        Ok(Some(password.to_string()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(rest.trim().to_string()))
    } else {
        Err(())
    }
}

fn bad_credentials(base: &PublicUrl) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "invalid credentials")
        .with_header(
            header::WWW_AUTHENTICATE,
            format!("Basic realm=\"{}\"", base.join("/token")),
        )
        .into_response()
}

fn answer(issued: IssuedToken, oauth: bool) -> Response {
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    });
    if oauth {
        if let Some(refresh) = issued.refresh_token {
            body["refresh_token"] = json!(refresh);
        }
        body["scope"] = json!(issued
            .granted
            .iter()
            .map(|access| access.to_scope())
            .collect::<Vec<_>>()
            .join(" "));
    }
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

fn failed(error: TokenRequestError, base: &PublicUrl) -> Response {
    match error {
        TokenRequestError::BadCredentials => bad_credentials(base),
        TokenRequestError::Registry(error) => ApiError::from(error).into_response(),
    }
}

/// `GET /token`: the Docker token spec's request.
pub async fn get_token(State(state): State<AppState>, BaseUrl(base): BaseUrl, request: Request) -> Response {
    if let Some(response) = rate_limited(&state, peer_of(&request)) {
        return response;
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let scopes = parse_scopes(
        query
            .iter()
            .filter(|(key, _)| key == "scope")
            .map(|(_, value)| value.as_str()),
    );
    let secret = match presented_secret(request.headers()) {
        Ok(secret) => secret,
        Err(()) => {
            record_auth_failure("credentials");
            return bad_credentials(&base);
        }
    };
    let grant = secret.as_deref().map_or(Grant::Anonymous, Grant::Secret);
    let request = TokenRequest {
        grant,
        scopes,
        offline: false,
    };
    match state.registry.issue_token(request).await {
        Ok(issued) => answer(issued, false),
        Err(error) => failed(error, &base),
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// `POST /token`: the OAuth2 form (password and refresh-token grants).
pub async fn post_token(State(state): State<AppState>, BaseUrl(base): BaseUrl, request: Request) -> Response {
    if let Some(response) = rate_limited(&state, peer_of(&request)) {
        return response;
    }
    let body: Body = request.into_body();
    let Ok(form) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the form is too large or unreadable",
        );
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&form).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let scopes = parse_scopes(
        form.iter()
            .filter(|(key, _)| key == "scope")
            .map(|(_, value)| value.as_str()),
    );
    let offline = field("access_type") == Some("offline");
    let grant = match field("grant_type") {
        Some("password") => match field("password") {
            Some(password) => Grant::Secret(password),
            None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "password is missing"),
        },
        Some("refresh_token") => match field("refresh_token") {
            Some(refresh) => Grant::Refresh(refresh),
            None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is missing"),
        },
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use grant_type password or refresh_token",
            )
        }
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is missing"),
    };
    let request = TokenRequest { grant, scopes, offline };
    match state.registry.issue_token(request).await {
        Ok(issued) => answer(issued, true),
        Err(error) => failed(error, &base),
    }
}

/// `GET /.well-known/jwks.json`: the public keys that verify tokens (RFC 7517, OKP keys).
pub async fn get_jwks(State(state): State<AppState>) -> Response {
    match state.registry.verification_keys(None).await {
        Ok(keys) => Json(json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() })).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_per_client() {
        let limit = TokenRateLimit::new(2);
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        assert!(limit.check(a).is_ok());
        assert!(limit.check(a).is_ok());
        let wait = limit.check(a).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limit.check(b).is_ok());
    }

    #[test]
    fn secrets_from_authorization() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            presented_secret(&headers)
        };
        assert_eq!(presented_secret(&HeaderMap::new()), Ok(None));
        let basic = format!("Basic {}", STANDARD.encode("any:rbee_adm_x:y"));
        assert_eq!(with(&basic), Ok(Some("rbee_adm_x:y".into())));
        assert_eq!(with("Bearer rbee_lic_x"), Ok(Some("rbee_lic_x".into())));
        assert_eq!(with("Basic !!!"), Err(()));
        assert_eq!(with(&format!("Basic {}", STANDARD.encode("nocolon"))), Err(()));
        assert_eq!(with("Digest x"), Err(()));
    }
}
