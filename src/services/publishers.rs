//! Publisher tokens (`rbee_pub_…`, for CI): created with repository patterns and whether
//! they may delete, kept as a hash only, checked on every token request (revocation and
//! expiry read from the database each time, so every process agrees at once).

use super::credentials::PUBLISHER_TOKEN_PREFIX;
use super::licenses::CredentialError;
use super::{Registry, RegistryError};
use crate::auth::principal::{Principal, RepoPattern};
use crate::auth::secrets::{random_secret, secret_hash, secrets_equal};
use crate::db::{now_millis, publishers};

/// A publisher's record (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub name: String,
    pub patterns: Vec<String>,
    pub allow_delete: bool,
    /// Milliseconds since the epoch.
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl From<publishers::PublisherRow> for Publisher {
    fn from(row: publishers::PublisherRow) -> Self {
        Publisher {
            name: row.name,
            patterns: row.patterns,
            allow_delete: row.allow_delete,
            expires_at: row.expires_at,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Whether `name` is a publisher name: 1 to 64 of `a-z 0-9 . _ -`.
fn check_name(name: &str) -> Result<(), CredentialError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(CredentialError::Invalid(format!(
            "publisher name {name:?}: use 1 to 64 of a-z, 0-9, '.', '_', '-'"
        )))
    }
}

impl Registry {
    /// Creates a publisher token: the record and the token (shown once).
    pub async fn create_publisher(
        &self,
        name: &str,
        patterns: &[RepoPattern],
        allow_delete: bool,
        expires_at: Option<i64>,
    ) -> Result<(Publisher, String), CredentialError> {
        check_name(name)?;
        if patterns.is_empty() {
            return Err(CredentialError::Invalid(
                "a publisher needs at least one --repo pattern".into(),
            ));
        }
        if expires_at.is_some_and(|at| at <= now_millis()) {
            return Err(CredentialError::Invalid("the expiry is in the past".into()));
        }
        let token = random_secret(PUBLISHER_TOKEN_PREFIX);
        let row = publishers::PublisherRow {
            name: name.to_string(),
            token_hash: secret_hash(&token),
            patterns: patterns.iter().map(|p| p.as_str().to_string()).collect(),
            allow_delete,
            expires_at,
            created_at: now_millis(),
            revoked_at: None,
        };
        if !publishers::insert(self.db.writer(), &row).await? {
            return Err(CredentialError::Conflict(format!(
                "a publisher named {name:?} exists; revoke it first"
            )));
        }
        Ok((row.into(), token))
    }

    pub async fn list_publishers(&self) -> Result<Vec<Publisher>, CredentialError> {
        Ok(publishers::all(self.db.reader())
            .await?
            .into_iter()
            .map(Publisher::from)
            .collect())
    }

    /// Revokes the publisher named `name_or_token` or holding that token.
    pub async fn revoke_publisher(&self, name_or_token: &str) -> Result<(), CredentialError> {
        let revoked = publishers::revoke(
            self.db.writer(),
            name_or_token,
            &secret_hash(name_or_token),
            now_millis(),
        )
        .await?;
        if revoked == 0 {
            return Err(CredentialError::NotFound(
                "no active publisher has that name or token".to_string(),
            ));
        }
        Ok(())
    }

    pub(super) async fn authenticate_publisher(&self, secret: &str) -> Result<Option<Principal>, RegistryError> {
        let hash = secret_hash(secret);
        let Some(row) = publishers::find_by_hash(self.db.reader(), &hash).await? else {
            return Ok(None);
        };
        if !secrets_equal(&row.token_hash, &hash) {
            return Ok(None);
        }
        active_principal(row)
    }

    /// The principal of the active (not revoked, not expired) publisher named `name`, read
    /// from the database: what a token's subject `publisher:<name>` may see in `_catalog`.
    pub(super) async fn active_publisher_principal(&self, name: &str) -> Result<Option<Principal>, RegistryError> {
        for row in publishers::all(self.db.reader()).await? {
            if row.name == name {
                if let Some(principal) = active_principal(row)? {
                    return Ok(Some(principal));
                }
            }
        }
        Ok(None)
    }
}

/// The principal of a publisher record, unless it is revoked or expired.
fn active_principal(row: publishers::PublisherRow) -> Result<Option<Principal>, RegistryError> {
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|at| at <= now_millis()) {
        return Ok(None);
    }
    let mut patterns = Vec::new();
    for text in &row.patterns {
        match RepoPattern::parse(text) {
            Ok(pattern) => patterns.push(pattern),
            Err(error) => return Err(RegistryError::Corrupt(format!("publisher {}: {error}", row.name))),
        }
    }
    Ok(Some(Principal::Publisher {
        name: row.name,
        patterns,
        allow_delete: row.allow_delete,
    }))
}
