//! Admin sessions of the browser pages (spec/auth.md, "Admin sessions"): signing in with the
//! admin token makes a random session secret (the cookie's value) whose SHA-256 is stored in
//! `admin_sessions` with an expiry, so every process sharing the database accepts it and
//! signing out ends it everywhere. The admin token itself is checked by `admin_token`.

use std::time::Duration;

use super::{Registry, RegistryError};
use crate::auth::principal::Principal;
use crate::auth::secrets::{random_secret, secret_hash};
use crate::db::{admin_sessions, now_millis};

/// Prefix of admin session secrets (the cookie's value).
pub const ADMIN_SESSION_PREFIX: &str = "rbee_ses_";
/// How long a session lasts from signing in.
pub const ADMIN_SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// A new session: its secret (for the cookie only; the database keeps its hash) and expiry.
pub struct AdminSession {
    pub secret: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

impl std::fmt::Debug for AdminSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminSession(expires {})", self.expires_at)
    }
}

impl Registry {
    /// Signs in with `admin_token`: a new session, or `None` when the token is not the
    /// admin token (the caller answers as for a wrong password).
    pub async fn start_admin_session(&self, admin_token: &str) -> Result<Option<AdminSession>, RegistryError> {
        if self.authenticate_secret(admin_token).await? != Some(Principal::Admin) {
            return Ok(None);
        }
        let now = now_millis();
        admin_sessions::remove_expired(self.db.writer(), now).await?;
        let secret = random_secret(ADMIN_SESSION_PREFIX);
        let expires_at = now + ADMIN_SESSION_LIFETIME.as_millis() as i64;
        admin_sessions::insert(self.db.writer(), &secret_hash(&secret), now, expires_at).await?;
        tracing::info!("admin signed in to the pages");
        Ok(Some(AdminSession { secret, expires_at }))
    }

    /// Whether `secret` is the secret of an unexpired admin session.
    pub async fn admin_session_active(&self, secret: &str) -> Result<bool, RegistryError> {
        if !secret.starts_with(ADMIN_SESSION_PREFIX) {
            return Ok(false);
        }
        Ok(
            admin_sessions::find(self.db.reader(), &secret_hash(secret), now_millis())
                .await?
                .is_some(),
        )
    }

    /// Signs out: the session `secret` is refused from now on, on every process.
    pub async fn end_admin_session(&self, secret: &str) -> Result<(), RegistryError> {
        if admin_sessions::remove(self.db.writer(), &secret_hash(secret)).await? {
            tracing::info!("admin signed out of the pages");
        }
        Ok(())
    }
}
