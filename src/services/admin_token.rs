//! The admin token (`rbee_adm_…`): made once, by the first `serve` on a database, from the
//! system's random source; the database keeps only its SHA-256 (so every process sharing it
//! knows the token), and the token itself is written once to `<data_dir>/admin-token`, mode
//! 0600. Presented tokens are compared with the stored hash in constant time.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::credentials::ADMIN_TOKEN_PREFIX;
use super::{Registry, RegistryError};
use crate::auth::principal::Principal;
use crate::auth::secrets::{random_secret, secret_hash, secrets_equal};
use crate::db::{admin_tokens, now_millis};

/// The file name of the admin token in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// What starting found or did about the admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// Made now and written to this file.
    Created(PathBuf),
    /// The database already had one.
    Existing,
}

impl Registry {
    pub(super) async fn authenticate_admin(&self, secret: &str) -> Result<Option<Principal>, RegistryError> {
        let Some(stored) = admin_tokens::hash(self.db.reader()).await? else {
            return Ok(None);
        };
        Ok(secrets_equal(&secret_hash(secret), &stored).then_some(Principal::Admin))
    }

    /// Makes the admin token unless the database has one: the token goes to
    /// `<data_dir>/admin-token` (mode 0600, written before the hash is stored, so a token
    /// whose hash is stored is never lost), its hash to the database.
    pub async fn create_admin_token_once(&self, data_dir: &Path) -> Result<AdminToken, RegistryError> {
        if admin_tokens::hash(self.db.writer()).await?.is_some() {
            return Ok(AdminToken::Existing);
        }
        let token = random_secret(ADMIN_TOKEN_PREFIX);
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        let staging = data_dir.join(format!("{ADMIN_TOKEN_FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
        write_secret_file(&staging, &token)
            .map_err(|error| RegistryError::Corrupt(format!("cannot write {}: {error}", staging.display())))?;
        let stored = admin_tokens::insert_once(self.db.writer(), &secret_hash(&token), now_millis()).await;
        match stored {
            Ok(true) => {
                std::fs::rename(&staging, &path)
                    .map_err(|error| RegistryError::Corrupt(format!("cannot write {}: {error}", path.display())))?;
                Ok(AdminToken::Created(path))
            }
            Ok(false) => {
                let _ = std::fs::remove_file(&staging);
                Ok(AdminToken::Existing)
            }
            Err(error) => {
                let _ = std::fs::remove_file(&staging);
                Err(error.into())
            }
        }
    }
}

/// Writes `secret` to a new file readable by the owner only, synced.
fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
