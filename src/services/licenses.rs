//! License tokens: issuing (signed with the newest key of `license_keys`, recorded in
//! `licenses` with only a hash of the token), listing, revoking, and checking a presented
//! token (`authenticate_license` on every token request, `verify_license` for
//! `POST /v1/licenses/verify`). A token is valid when its Ed25519 signature verifies with a
//! key of this database or of the configured public-key file (`license.verify_keys`), it has
//! not expired, and, when this database knows the license, its record is active: the status
//! is read from the database on every check, so a revocation holds at once on every process.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::{Registry, RegistryError};
use crate::artifact::WorkerId;
use crate::auth::license_token::{self, LicenseClaims, SigningKey, VerifyKey};
use crate::auth::principal::Principal;
use crate::auth::secrets::{secret_hash, secrets_equal};
use crate::db::{licenses, now_millis, replica_licenses, DbError};

/// Default lifetime of a download URL the registry hands out (the design's `expires_in`).
pub const DEFAULT_DOWNLOAD_URL_EXPIRY: Duration = Duration::from_secs(3600);
/// A license's `last_verified_at` is written at most this often (milliseconds).
const LAST_VERIFIED_COARSENESS_MS: i64 = 60_000;

/// What the registry knows about licenses besides its database, from the configuration.
#[derive(Debug, Clone)]
pub struct LicenseSettings {
    /// Public keys that verify licenses offline (`license.verify_keys`), besides the
    /// database's own keys.
    pub verify_keys: Vec<VerifyKey>,
    /// How long a download URL handed out by `GET /v1/workers/:id/:version/download` works.
    pub download_url_expiry: Duration,
}

impl Default for LicenseSettings {
    fn default() -> Self {
        LicenseSettings {
            verify_keys: Vec::new(),
            download_url_expiry: DEFAULT_DOWNLOAD_URL_EXPIRY,
        }
    }
}

impl LicenseSettings {
    /// Reads a public-key file (`rbee-registry license public-key` prints one).
    pub fn load_verify_keys(path: &std::path::Path) -> Result<Vec<VerifyKey>, String> {
        let text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
        let keys = VerifyKey::parse_file(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        if keys.is_empty() {
            return Err(format!("{}: no public key in the file", path.display()));
        }
        Ok(keys)
    }
}

/// Why a credential-management request (the CLI's) cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<DbError> for CredentialError {
    fn from(error: DbError) -> Self {
        CredentialError::Registry(error.into())
    }
}

/// A license's status as shown: its record's, or `expired` once its time has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseStatus {
    Active,
    Expired,
    Cancelled,
}

impl LicenseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseStatus::Active => "active",
            LicenseStatus::Expired => "expired",
            LicenseStatus::Cancelled => "cancelled",
        }
    }
}

/// A license record (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub id: String,
    pub holder: String,
    pub workers: Vec<String>,
    pub status: LicenseStatus,
    /// Unix seconds.
    pub expires_at: i64,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub last_verified_at: Option<i64>,
}

impl License {
    fn of(row: licenses::LicenseRow, now_secs: i64) -> License {
        let status = if row.status != "active" {
            LicenseStatus::Cancelled
        } else if row.expires_at_secs <= now_secs {
            LicenseStatus::Expired
        } else {
            LicenseStatus::Active
        };
        License {
            id: row.id,
            holder: row.holder_email,
            workers: row.worker_ids,
            status,
            expires_at: row.expires_at_secs,
            created_at: row.created_at,
            last_verified_at: row.last_verified_at,
        }
    }
}

/// The answer about a presented license token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseVerdict {
    Valid(LicenseClaims),
    /// Why not, in words that help no forger: `invalid`, `expired` or `revoked`.
    Invalid(&'static str),
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

/// Whether `holder` looks like an e-mail address.
fn check_holder(holder: &str) -> Result<(), CredentialError> {
    let plausible = holder.len() <= 254
        && holder
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !holder.chars().any(|c| c.is_whitespace() || c.is_control());
    if plausible {
        Ok(())
    } else {
        Err(CredentialError::Invalid(format!("{holder:?} is not an e-mail address")))
    }
}

impl Registry {
    /// The newest signing key of this database, created when there is none.
    async fn signing_key(&self) -> Result<SigningKey, CredentialError> {
        if let Some(row) = licenses::keys(self.db.reader()).await?.into_iter().next() {
            let document = URL_SAFE_NO_PAD
                .decode(&row.private_key)
                .map_err(|_| RegistryError::Corrupt(format!("license key {} is not base64url", row.kid)))?;
            return SigningKey::from_pkcs8(&document)
                .map_err(|_| RegistryError::Corrupt(format!("license key {} does not parse", row.kid)).into());
        }
        if !self.licensing.verify_keys.is_empty() {
            return Err(CredentialError::Invalid(
                "this registry verifies licenses with configured public keys only (license.verify_keys); \
                 issue licenses on the registry that holds the signing key"
                    .into(),
            ));
        }
        Ok(self.rotate_license_key().await?.0)
    }

    /// Creates a new signing key; new licenses are signed with it, older ones keep verifying.
    pub async fn rotate_license_key(&self) -> Result<(SigningKey, VerifyKey), CredentialError> {
        let (key, document) =
            SigningKey::generate().map_err(|_| CredentialError::Invalid("cannot generate a key".into()))?;
        let public = key.public_key();
        licenses::insert_key(
            self.db.writer(),
            &licenses::LicenseKeyRow {
                kid: key.kid().to_string(),
                public_key: URL_SAFE_NO_PAD.encode(&public.public_key),
                private_key: URL_SAFE_NO_PAD.encode(document),
                created_at: now_millis(),
            },
        )
        .await?;
        tracing::info!(kid = key.kid(), "new license signing key");
        Ok((key, public))
    }

    /// The public keys that verify licenses here: the database's (newest first), those an
    /// archive import brought, then the configured file's. `rbee-registry license
    /// public-key` prints them for replicas; `export` puts them in the archive.
    pub async fn license_public_keys(&self) -> Result<Vec<VerifyKey>, CredentialError> {
        let mut keys = Vec::new();
        for row in licenses::keys(self.db.reader()).await? {
            let bytes = URL_SAFE_NO_PAD
                .decode(&row.public_key)
                .map_err(|_| RegistryError::Corrupt(format!("license key {} is not base64url", row.kid)))?;
            keys.push(
                VerifyKey::from_public_key(bytes)
                    .map_err(|_| RegistryError::Corrupt(format!("license key {} is not a key", row.kid)))?,
            );
        }
        for (kid, public) in replica_licenses::keys(self.db.reader()).await? {
            let bytes = URL_SAFE_NO_PAD
                .decode(&public)
                .map_err(|_| RegistryError::Corrupt(format!("imported license key {kid} is not base64url")))?;
            keys.push(
                VerifyKey::from_public_key(bytes)
                    .map_err(|_| RegistryError::Corrupt(format!("imported license key {kid} is not a key")))?,
            );
        }
        keys.extend(self.licensing.verify_keys.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        keys.retain(|key| seen.insert(key.kid.clone()));
        Ok(keys)
    }

    /// Issues a license for `holder` on `workers` until `expires_at` (Unix seconds): the record
    /// and the token (shown once; only its hash is kept).
    pub async fn issue_license(
        &self,
        holder: &str,
        workers: &[WorkerId],
        expires_at: i64,
    ) -> Result<(License, String), CredentialError> {
        check_holder(holder)?;
        if workers.is_empty() {
            return Err(CredentialError::Invalid("a license names at least one worker".into()));
        }
        if expires_at <= now_secs() {
            return Err(CredentialError::Invalid("the expiry is in the past".into()));
        }
        let key = self.signing_key().await?;
        let mut worker_ids: Vec<String> = workers.iter().map(|w| w.to_string()).collect();
        worker_ids.sort();
        worker_ids.dedup();
        let claims = LicenseClaims {
            kid: key.kid().to_string(),
            license_id: uuid::Uuid::new_v4().simple().to_string(),
            holder: holder.to_string(),
            workers: worker_ids,
            expires_at,
        };
        let token = key.sign(&claims);
        let row = licenses::LicenseRow {
            id: claims.license_id.clone(),
            token_hash: secret_hash(&token),
            holder_email: claims.holder.clone(),
            worker_ids: claims.workers.clone(),
            status: "active".into(),
            expires_at_secs: expires_at,
            created_at: now_millis(),
            last_verified_at: None,
        };
        licenses::insert(self.db.writer(), &row).await?;
        Ok((License::of(row, now_secs()), token))
    }

    /// Every license this database issued.
    pub async fn list_licenses(&self) -> Result<Vec<License>, CredentialError> {
        let now = now_secs();
        Ok(licenses::all(self.db.reader())
            .await?
            .into_iter()
            .map(|row| License::of(row, now))
            .collect())
    }

    /// The license named by its id or by its token.
    pub async fn find_license(&self, id_or_token: &str) -> Result<License, CredentialError> {
        let id = match license_token::peek(id_or_token) {
            Ok(claims) => claims.license_id,
            Err(_) => id_or_token.to_string(),
        };
        match licenses::find(self.db.reader(), &id).await? {
            Some(row) => Ok(License::of(row, now_secs())),
            None => Err(CredentialError::NotFound(format!("no license {id:?} in this database"))),
        }
    }

    /// Cancels a license (by id or token): every process sharing the database refuses it
    /// from its next check on.
    pub async fn revoke_license(&self, id_or_token: &str) -> Result<License, CredentialError> {
        let license = self.find_license(id_or_token).await?;
        licenses::set_status(self.db.writer(), &license.id, "cancelled").await?;
        tracing::info!(license = %license.id, "license revoked");
        self.find_license(&license.id).await
    }

    /// Checks a presented license token (signature, expiry, the record's status).
    pub async fn verify_license(&self, token: &str) -> Result<LicenseVerdict, RegistryError> {
        let Ok(unchecked) = license_token::peek(token) else {
            return Ok(LicenseVerdict::Invalid("invalid"));
        };
        let mut keys: Vec<VerifyKey> = self.licensing.verify_keys.clone();
        // The database's own key, else one an archive import brought from the origin.
        let public = match licenses::public_key(self.db.reader(), &unchecked.kid).await? {
            Some(public) => Some(public),
            None => replica_licenses::public_key(self.db.reader(), &unchecked.kid).await?,
        };
        if let Some(public) = public {
            if let Some(key) = URL_SAFE_NO_PAD
                .decode(public)
                .ok()
                .and_then(|bytes| VerifyKey::from_public_key(bytes).ok())
            {
                keys.push(key);
            }
        }
        let claims = match license_token::verify(token, &keys) {
            Ok(claims) => claims,
            Err(error) => {
                // The kind only (malformed, unknown key, bad signature); never the token.
                tracing::debug!(%error, "license token refused");
                return Ok(LicenseVerdict::Invalid("invalid"));
            }
        };
        if let Some(row) = licenses::find(self.db.reader(), &claims.license_id).await? {
            if !secrets_equal(&row.token_hash, &secret_hash(token)) {
                return Ok(LicenseVerdict::Invalid("invalid"));
            }
            if row.status != "active" {
                return Ok(LicenseVerdict::Invalid("revoked"));
            }
            let (db, id) = (self.db.clone(), row.id.clone());
            tokio::spawn(async move {
                if let Err(error) =
                    licenses::touch_verified(db.writer(), &id, now_millis(), LAST_VERIFIED_COARSENESS_MS).await
                {
                    tracing::debug!(%error, "last_verified_at not recorded");
                }
            });
        }
        // Revoked on the origin (the revocation list an archive import brought).
        if replica_licenses::is_revoked(self.db.reader(), &claims.license_id).await? {
            return Ok(LicenseVerdict::Invalid("revoked"));
        }
        if claims.expires_at <= now_secs() {
            return Ok(LicenseVerdict::Invalid("expired"));
        }
        Ok(LicenseVerdict::Valid(claims))
    }

    /// The principal of the license `id` while its record is active: what a token's
    /// subject `license:<id>` may see in `_catalog` (a replica without the record: nothing
    /// beyond the open repositories).
    pub(super) async fn active_license_principal(&self, id: &str) -> Result<Option<Principal>, RegistryError> {
        let Some(row) = licenses::find(self.db.reader(), id).await? else {
            return Ok(None);
        };
        let license = License::of(row, now_secs());
        Ok((license.status == LicenseStatus::Active).then_some(Principal::License {
            license_id: license.id,
            holder: license.holder,
            workers: license.workers,
            expires_at: license.expires_at,
        }))
    }

    pub(super) async fn authenticate_license(&self, secret: &str) -> Result<Option<Principal>, RegistryError> {
        Ok(match self.verify_license(secret).await? {
            LicenseVerdict::Valid(claims) => Some(Principal::License {
                license_id: claims.license_id,
                holder: claims.holder,
                workers: claims.workers,
                expires_at: claims.expires_at,
            }),
            LicenseVerdict::Invalid(_) => None,
        })
    }
}
