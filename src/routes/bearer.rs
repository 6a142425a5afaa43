//! The `/v2` access check, run by the dispatcher before any handler: the access the request
//! needs (`auth::access::required`) against the bearer token it carries. Without a token,
//! or with one that does not cover the need, the answer is the token spec's `401` with a
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge (`error="invalid_token"`
//! for an expired or bad token, `error="insufficient_scope"` for one that lacks the scope,
//! so clients such as containerd drop a cached token). The realm is `<public base>/token`,
//! the base from `edge::PublicBase` (never a client's unchecked `Host`).

use std::net::IpAddr;

use axum::http::{header, HeaderMap, Method, StatusCode};

use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::auth::access::{self, MountQuery, Required};
use crate::auth::token::TokenError;
use crate::auth::AuthMode;
use crate::observability::record_auth_failure;
use crate::oci::V2Path;
use crate::services::tokens::{TokenRejection, VerifiedToken};
use crate::services::{PublicUrl, Registry};

/// What a challenge says besides realm and service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// No token: no `error`.
    None,
    InvalidToken,
    InsufficientScope,
}

/// `Bearer realm="…",service="…"[,scope="…"][,error="…"]`.
pub fn challenge(base: &PublicUrl, service: &str, required: &Required, error: ChallengeError) -> String {
    let mut text = format!(
        "Bearer realm=\"{}\",service=\"{}\"",
        quoted(&base.join("/token")),
        quoted(service)
    );
    if let Some(scope) = required.scope_text() {
        text.push_str(&format!(",scope=\"{}\"", quoted(&scope)));
    }
    match error {
        ChallengeError::None => {}
        ChallengeError::InvalidToken => text.push_str(",error=\"invalid_token\""),
        ChallengeError::InsufficientScope => text.push_str(",error=\"insufficient_scope\""),
    }
    text
}

/// A quoted-string's content: `"` and `\` escaped (neither occurs in URLs, services or
/// scopes this registry makes, but nothing unescaped reaches a header).
fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The bearer token of `Authorization: Bearer …`, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn unauthorized(base: &PublicUrl, service: &str, required: &Required, error: ChallengeError) -> ApiError {
    let message = match error {
        ChallengeError::None => "authentication required",
        ChallengeError::InvalidToken => "invalid token",
        ChallengeError::InsufficientScope => "the token does not grant this access",
    };
    ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
        .with_header(header::WWW_AUTHENTICATE, challenge(base, service, required, error))
}

/// Checks the request's token against `required`: the verified token, or the `401`.
pub async fn authorize(
    registry: &Registry,
    base: &PublicUrl,
    headers: &HeaderMap,
    required: &Required,
) -> Result<VerifiedToken, ApiError> {
    let service = &registry.token_settings().service;
    let Some(token) = bearer_token(headers) else {
        return Err(unauthorized(base, service, required, ChallengeError::None));
    };
    let verified = match registry.verify_token(token).await {
        Ok(verified) => verified,
        Err(TokenRejection::Invalid(error)) => {
            record_auth_failure("invalid_token");
            tracing::debug!(reason = invalid_reason(error), "bearer token refused");
            return Err(unauthorized(base, service, required, ChallengeError::InvalidToken));
        }
        Err(TokenRejection::Registry(error)) => return Err(error.into()),
    };
    if !required.covered_by(&verified.access) {
        record_auth_failure("insufficient_scope");
        return Err(unauthorized(base, service, required, ChallengeError::InsufficientScope));
    }
    Ok(verified)
}

/// The access check before any `/v2` handler: a method the endpoint has no row for is
/// refused (`405`); with auth on, the bearer token must cover the need. The verified token,
/// when auth is on.
pub async fn check_access(
    state: &AppState,
    method: &Method,
    path: &V2Path,
    mount: MountQuery<'_>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<Option<VerifiedToken>, ApiError> {
    let Some(required) = access::required(method.as_str(), path, mount) else {
        return Err(ApiError::method_not_allowed());
    };
    if state.auth_mode == AuthMode::Off {
        return Ok(None);
    }
    let base = state.public_base.for_request(peer, headers);
    authorize(&state.registry, &base, headers, &required).await.map(Some)
}

fn invalid_reason(error: TokenError) -> &'static str {
    error.label()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scope::Actions;
    use crate::auth::scopes::Access;
    use crate::oci::RepoName;

    #[test]
    fn challenges() {
        let base = PublicUrl::parse("https://registry.example.com/r").unwrap();
        let pull = Required::Scopes(vec![Access::Repository {
            name: RepoName::parse("workers/a").unwrap(),
            actions: Actions::PULL,
        }]);
        assert_eq!(
            challenge(&base, "rbee", &pull, ChallengeError::None),
            "Bearer realm=\"https://registry.example.com/r/token\",service=\"rbee\",scope=\"repository:workers/a:pull\""
        );
        assert_eq!(
            challenge(&base, "rbee", &Required::Authenticated, ChallengeError::InvalidToken),
            "Bearer realm=\"https://registry.example.com/r/token\",service=\"rbee\",error=\"invalid_token\""
        );
        assert!(challenge(&base, "rbee", &pull, ChallengeError::InsufficientScope)
            .ends_with(",error=\"insufficient_scope\""));
    }

    #[test]
    fn bearer_tokens() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc.def".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc.def"));
        headers.insert(header::AUTHORIZATION, "bearer  x".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("x"));
        headers.insert(header::AUTHORIZATION, "Basic eDp5".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
