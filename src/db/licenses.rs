//! Queries on `license_keys` (the Ed25519 keys that sign license tokens) and `licenses` (the
//! issued licenses; only a hash of each token). Worker ids are stored as a JSON array.

use super::DbError;
use sqlx::{Any, Executor, Row};

/// A stored signing key: key id, public key (base64url), PKCS#8 document (base64url).
#[derive(Clone)]
pub struct LicenseKeyRow {
    pub kid: String,
    pub public_key: String,
    pub private_key: String,
    pub created_at: i64,
}

impl std::fmt::Debug for LicenseKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LicenseKeyRow({}, created {})", self.kid, self.created_at)
    }
}

/// One issued license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRow {
    pub id: String,
    pub token_hash: String,
    pub holder_email: String,
    pub worker_ids: Vec<String>,
    pub status: String,
    pub expires_at_secs: i64,
    pub created_at: i64,
    pub last_verified_at: Option<i64>,
}

pub async fn insert_key<'c, E>(executor: E, key: &LicenseKeyRow) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query("INSERT INTO license_keys (kid, public_key, private_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&key.kid)
        .bind(&key.public_key)
        .bind(&key.private_key)
        .bind(key.created_at)
        .execute(executor)
        .await?;
    Ok(())
}

/// Every key, newest first.
pub async fn keys<'c, E>(executor: E) -> Result<Vec<LicenseKeyRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows =
        sqlx::query("SELECT kid, public_key, private_key, created_at FROM license_keys ORDER BY created_at DESC, kid")
            .fetch_all(executor)
            .await?;
    rows.iter()
        .map(|row| {
            Ok(LicenseKeyRow {
                kid: row.try_get(0)?,
                public_key: row.try_get(1)?,
                private_key: row.try_get(2)?,
                created_at: row.try_get(3)?,
            })
        })
        .collect()
}

/// The public key of `kid` (base64url), if this database has it.
pub async fn public_key<'c, E>(executor: E, kid: &str) -> Result<Option<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT public_key FROM license_keys WHERE kid = $1")
        .bind(kid)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

pub async fn insert<'c, E>(executor: E, license: &LicenseRow) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO licenses (id, token_hash, holder_email, worker_ids, status, expires_at_secs, created_at, \
         last_verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&license.id)
    .bind(&license.token_hash)
    .bind(&license.holder_email)
    .bind(serde_json::to_string(&license.worker_ids).expect("strings serialize"))
    .bind(&license.status)
    .bind(license.expires_at_secs)
    .bind(license.created_at)
    .bind(license.last_verified_at)
    .execute(executor)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, token_hash, holder_email, worker_ids, status, expires_at_secs, created_at, last_verified_at";

fn license_of(row: &sqlx::any::AnyRow) -> Result<LicenseRow, DbError> {
    let workers: String = row.try_get(3)?;
    Ok(LicenseRow {
        id: row.try_get(0)?,
        token_hash: row.try_get(1)?,
        holder_email: row.try_get(2)?,
        worker_ids: serde_json::from_str(&workers)
            .map_err(|error| DbError::Damaged(format!("licenses.worker_ids: {error}")))?,
        status: row.try_get(4)?,
        expires_at_secs: row.try_get(5)?,
        created_at: row.try_get(6)?,
        last_verified_at: row.try_get(7)?,
    })
}

/// The license with `id`.
pub async fn find<'c, E>(executor: E, id: &str) -> Result<Option<LicenseRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM licenses WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(license_of).transpose()
}

/// Every license, oldest first.
pub async fn all<'c, E>(executor: E) -> Result<Vec<LicenseRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM licenses ORDER BY created_at, id"))
        .fetch_all(executor)
        .await?;
    rows.iter().map(license_of).collect()
}

/// Sets a license's status; whether it exists.
pub async fn set_status<'c, E>(executor: E, id: &str, status: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("UPDATE licenses SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Records a verification at `now`, unless one was recorded within `coarseness` ms (so a
/// busy license costs at most one write per `coarseness`).
pub async fn touch_verified<'c, E>(executor: E, id: &str, now: i64, coarseness: i64) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "UPDATE licenses SET last_verified_at = $1 WHERE id = $2 \
         AND (last_verified_at IS NULL OR last_verified_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - coarseness)
    .execute(executor)
    .await?;
    Ok(())
}
