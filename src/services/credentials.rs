//! Credentials: which principal a presented secret proves, and the per-repository facts the
//! access policy (`auth::policy`) needs. Each kind of secret is checked by its own module:
//! the admin token (`admin_token`), publisher tokens (`publishers`), license tokens
//! (`licenses`); the policy's data is `policies`.

use super::{Registry, RegistryError};
use crate::auth::policy::RepoFacts;
use crate::auth::principal::Principal;
use crate::oci::RepoName;

/// Prefix of the admin token.
pub const ADMIN_TOKEN_PREFIX: &str = "rbee_adm_";
/// Prefix of publisher tokens.
pub const PUBLISHER_TOKEN_PREFIX: &str = "rbee_pub_";
/// Prefix of license tokens (the design document's format; `auth::license_token`).
pub use crate::auth::license_token::LICENSE_TOKEN_PREFIX;

impl Registry {
    /// The principal `secret` proves, or `None` when it proves nothing (unknown, revoked,
    /// expired, forged): the caller answers as for a wrong password, with no detail.
    pub async fn authenticate_secret(&self, secret: &str) -> Result<Option<Principal>, RegistryError> {
        if secret.starts_with(ADMIN_TOKEN_PREFIX) {
            self.authenticate_admin(secret).await
        } else if secret.starts_with(PUBLISHER_TOKEN_PREFIX) {
            self.authenticate_publisher(secret).await
        } else if secret.starts_with(LICENSE_TOKEN_PREFIX) {
            self.authenticate_license(secret).await
        } else {
            Ok(None)
        }
    }

    /// What the access policy needs to know about `repo`.
    pub async fn repo_facts(&self, repo: &RepoName) -> Result<RepoFacts, RegistryError> {
        self.policy_facts(repo).await
    }
}
