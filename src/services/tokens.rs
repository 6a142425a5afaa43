//! The token service: what `/token` answers and how `/v2` checks a bearer token.
//!
//! Issuing: the credential (none, a secret, or a refresh token) is resolved to a principal
//! (`credentials`), each requested scope is intersected with what the access policy
//! (`auth::policy::permitted`) allows that principal on that repository, and what is left
//! (possibly nothing: never an error) is signed into a token with the current key. A token
//! never grants more than was asked. Refresh tokens (OAuth2 form, `access_type=offline`)
//! seal the credential (`auth::secrets`), so using one authenticates the credential again:
//! a revoked license or publisher cannot refresh.

use std::time::Duration;

use super::discovery::Page;
use super::token_cache::CachedToken;
use super::{Registry, RegistryError};
use crate::auth::policy::{permitted, PolicySettings};
use crate::auth::principal::Principal;
use crate::auth::scope::Actions;
use crate::auth::scopes::Access;
use crate::auth::secrets::{open_refresh, random_bytes, refresh_id_hash, seal_refresh};
use crate::auth::token::{self, Claims, TokenError, Validation};
use crate::db::{now_millis, refresh_tokens};
use crate::observability::record_auth_failure;
use crate::oci::RepoName;

/// Clock difference tolerated on a token's `exp` and `nbf`, seconds.
pub const CLOCK_SKEW_SECS: i64 = 30;
/// Default token lifetime.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Default `service` (the tokens' audience and issuer).
pub const DEFAULT_SERVICE: &str = "rbee-registry";
/// How long a refresh token works.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Settings of the token service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// The `service` of challenges, and the tokens' `aud` and `iss`.
    pub service: String,
    /// Lifetime of an access token.
    pub lifetime: Duration,
    /// Anonymous callers may pull open repositories.
    pub anonymous_pull: bool,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            service: DEFAULT_SERVICE.into(),
            lifetime: DEFAULT_TOKEN_LIFETIME,
            anonymous_pull: true,
        }
    }
}

impl TokenSettings {
    fn policy(&self) -> PolicySettings {
        PolicySettings {
            anonymous_pull: self.anonymous_pull,
        }
    }
}

/// The credential a token request presents.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    Anonymous,
    /// A secret (`rbee_adm_…`, `rbee_pub_…`, `rbee_lic_…`), the password of Basic auth or of
    /// the OAuth2 password grant.
    Secret(&'a str),
    /// A refresh token (`rbee_rft_…`).
    Refresh(&'a str),
}

/// A token request, parsed.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub grant: Grant<'a>,
    pub scopes: Vec<Access>,
    /// Also hand out a refresh token (OAuth2 `access_type=offline`).
    pub offline: bool,
}

/// A signed token and what the answer says about it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
    /// RFC 3339.
    pub issued_at: String,
    pub refresh_token: Option<String>,
    pub granted: Vec<Access>,
}

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenRequestError {
    /// The credential proves nothing (unknown, revoked, expired, forged): no detail given.
    #[error("invalid credentials")]
    BadCredentials,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// A bearer token that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub subject: String,
    pub access: Vec<Access>,
}

/// Why a bearer token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("{0}")]
    Invalid(TokenError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

impl Registry {
    /// The token service's settings.
    pub fn token_settings(&self) -> &TokenSettings {
        &self.tokens
    }

    /// Uses `settings` for tokens.
    pub fn with_token_settings(mut self, settings: TokenSettings) -> Self {
        self.tokens = settings;
        self
    }

    async fn principal_of(&self, grant: Grant<'_>) -> Result<(Principal, Option<String>), TokenRequestError> {
        let refused = || {
            record_auth_failure("credentials");
            TokenRequestError::BadCredentials
        };
        match grant {
            Grant::Anonymous => Ok((Principal::Anonymous, None)),
            Grant::Secret(secret) => match self.authenticate_secret(secret).await? {
                Some(principal) => Ok((principal, Some(secret.to_string()))),
                None => Err(refused()),
            },
            Grant::Refresh(refresh) => {
                let Some(id_hash) = refresh_id_hash(refresh) else {
                    return Err(refused());
                };
                let Some(sealed) = refresh_tokens::find(self.db.reader(), &id_hash, now_millis())
                    .await
                    .map_err(RegistryError::from)?
                else {
                    return Err(refused());
                };
                let Some(secret) = open_refresh(refresh, &sealed) else {
                    return Err(refused());
                };
                match self.authenticate_secret(&secret).await? {
                    Some(principal) => Ok((principal, Some(secret))),
                    None => Err(refused()),
                }
            }
        }
    }

    /// The requested scopes, each cut down to what `principal` may do; empty ones left out.
    pub async fn grant_scopes(
        &self,
        principal: &Principal,
        requested: &[Access],
    ) -> Result<Vec<Access>, RegistryError> {
        let mut granted = Vec::new();
        for access in requested {
            match access {
                Access::Catalog => {
                    if *principal != Principal::Anonymous || self.tokens.anonymous_pull {
                        granted.push(Access::Catalog);
                    }
                }
                Access::Repository { name, actions } => {
                    let facts = self.repo_facts(name).await?;
                    let allowed = actions.intersect(permitted(principal, name, facts, self.tokens.policy()));
                    if !allowed.is_empty() {
                        granted.push(Access::Repository {
                            name: name.clone(),
                            actions: allowed,
                        });
                    }
                }
            }
        }
        Ok(granted)
    }

    /// Answers a token request.
    pub async fn issue_token(&self, request: TokenRequest<'_>) -> Result<IssuedToken, TokenRequestError> {
        let (principal, secret) = self.principal_of(request.grant).await?;
        let granted = self.grant_scopes(&principal, &request.scopes).await?;
        let key = self.current_signing_key().await?;
        let now = now_secs();
        let lifetime = self.tokens.lifetime.as_secs().max(1);
        let claims = Claims {
            iss: self.tokens.service.clone(),
            sub: principal.subject(),
            aud: self.tokens.service.clone(),
            exp: now + lifetime as i64,
            nbf: now,
            iat: now,
            jti: hex::encode(random_bytes(16)),
            access: granted.iter().map(Access::to_entry).collect(),
        };
        let token = token::sign(&claims, &key);
        let refresh_token = match (request.grant, secret) {
            (Grant::Refresh(refresh), _) => Some(refresh.to_string()),
            (_, Some(secret)) if request.offline => {
                let sealed = seal_refresh(&secret);
                let now_ms = now_millis();
                refresh_tokens::insert(
                    self.db.writer(),
                    &sealed.id_hash,
                    &sealed.sealed,
                    &claims.sub,
                    now_ms,
                    now_ms + REFRESH_TOKEN_LIFETIME.as_millis() as i64,
                )
                .await
                .map_err(RegistryError::from)?;
                // Now and then, clear out expired records (cheap: an indexed range).
                if random_bytes(1)[0] < 8 {
                    let _ = refresh_tokens::remove_expired(self.db.writer(), now_ms).await;
                }
                Some(sealed.token)
            }
            _ => None,
        };
        let issued_at = time::OffsetDateTime::from_unix_timestamp(now)
            .ok()
            .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        Ok(IssuedToken {
            token,
            expires_in: lifetime,
            issued_at,
            refresh_token,
            granted,
        })
    }

    /// Checks a bearer token: signature by a stored key, `EdDSA`, expiry within the skew,
    /// audience and issuer. The access it grants.
    /// A token verified before is taken from the cache of verified tokens (`token_cache`)
    /// until its expiry, while its signing key is still stored.
    pub async fn verify_token(&self, bearer: &str) -> Result<VerifiedToken, TokenRejection> {
        let now = now_secs();
        if let Some(cached) = self.verified_tokens.get(bearer, now) {
            if self.verifies_with(&cached.kid).await? {
                return Ok(cached.verified.clone());
            }
        }
        let kid = token::kid_of_token(bearer);
        let keys = self.verification_keys(kid.as_deref()).await?;
        let validation = Validation {
            issuer: &self.tokens.service,
            audience: &self.tokens.service,
            now,
            skew: CLOCK_SKEW_SECS,
        };
        let claims = token::verify(bearer, &keys, &validation).map_err(TokenRejection::Invalid)?;
        let verified = VerifiedToken {
            access: claims.access.iter().filter_map(|entry| entry.to_access()).collect(),
            subject: claims.sub,
        };
        if let Some(kid) = kid {
            let cached = CachedToken {
                verified: verified.clone(),
                kid,
                valid_until: claims.exp.saturating_add(CLOCK_SKEW_SECS),
            };
            self.verified_tokens.insert(bearer, cached, now);
        }
        Ok(verified)
    }

    /// `GET /v2/_catalog` for the holder of `viewer`: the page with only the repositories
    /// it may pull (the admin sees all; others the open ones, those its token grants `pull`
    /// on, and those its license or publisher record lets it pull). The page's continuation
    /// is the unfiltered one.
    pub async fn list_visible_repositories(
        &self,
        viewer: &VerifiedToken,
        n: Option<u64>,
        last: Option<&str>,
    ) -> Result<Page, RegistryError> {
        let mut page = self.list_repositories(n, last).await?;
        if viewer.subject == Principal::Admin.subject() {
            return Ok(page);
        }
        let anonymous = viewer.subject == Principal::Anonymous.subject();
        // The token carries only `registry:catalog:*`; what its credential may pull beyond
        // the open repositories is read from the credential's record (revocation included).
        let holder = match viewer.subject.split_once(':') {
            Some(("license", id)) => self.active_license_principal(id).await?,
            Some(("publisher", name)) => self.active_publisher_principal(name).await?,
            _ => None,
        };
        let mut visible = Vec::with_capacity(page.entries.len());
        for entry in page.entries {
            let Ok(name) = RepoName::parse(&entry) else {
                continue;
            };
            let granted = crate::auth::access::covers(
                &viewer.access,
                &Access::Repository {
                    name: name.clone(),
                    actions: Actions::PULL,
                },
            );
            let facts = self.repo_facts(&name).await?;
            let open = (!anonymous || self.tokens.anonymous_pull) && !facts.requires_license;
            let held = holder
                .as_ref()
                .is_some_and(|holder| permitted(holder, &name, facts, self.tokens.policy()).contains(Actions::PULL));
            if granted || open || held {
                visible.push(entry);
            }
        }
        page.entries = visible;
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;
    use crate::services::RegistryLimits;
    use crate::storage::BlobStore;

    async fn registry(dir: &std::path::Path) -> Registry {
        let url = format!("sqlite://{}?mode=rwc", dir.join("registry.db").display());
        let db = Database::connect(&url).await.unwrap();
        let store = BlobStore::local(dir.join("blobs"), false).unwrap();
        Registry::new(db, store, RegistryLimits::default())
    }

    fn anonymous() -> TokenRequest<'static> {
        TokenRequest {
            grant: Grant::Anonymous,
            scopes: Vec::new(),
            offline: false,
        }
    }

    /// A verified token is cached, and the cache does not outlive the key that signed it.
    #[tokio::test]
    async fn a_cached_token_is_refused_once_its_signing_key_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path()).await;
        let issued = registry.issue_token(anonymous()).await.unwrap();
        assert_eq!(registry.verify_token(&issued.token).await.unwrap().subject, "anonymous");
        assert_eq!(registry.verified_tokens.len(), 1);
        assert!(registry.verify_token(&issued.token).await.is_ok());
        assert_eq!(registry.verified_tokens.len(), 1, "the second check was a hit");
        assert!(registry.verify_token("x.y.z").await.is_err());
        assert_eq!(registry.verified_tokens.len(), 1, "refused tokens are not cached");

        // Retired, the key still verifies; removed (retired longer than the retention), not.
        registry.rotate_signing_key(Duration::ZERO).await.unwrap();
        assert!(registry.verify_token(&issued.token).await.is_ok());
        tokio::time::sleep(Duration::from_millis(5)).await;
        registry.rotate_signing_key(Duration::ZERO).await.unwrap();
        match registry.verify_token(&issued.token).await {
            Err(TokenRejection::Invalid(TokenError::UnknownKey)) => {}
            other => panic!("a token of a removed key: {other:?}"),
        }
    }
}
