//! Queries on `replica_license_keys` and `replica_license_revocations` (migration 0012):
//! the license public keys and revoked license ids an archive import brought from the origin.

use super::DbError;
use sqlx::{Any, Executor, Row};

/// Records an imported public key (base64url); whether it was new.
pub async fn insert_key<'c, E>(executor: E, kid: &str, public_key: &str, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "INSERT INTO replica_license_keys (kid, public_key, imported_at) VALUES ($1, $2, $3) \
         ON CONFLICT (kid) DO NOTHING",
    )
    .bind(kid)
    .bind(public_key)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Records an imported revocation; whether it was new.
pub async fn insert_revocation<'c, E>(executor: E, license_id: &str, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "INSERT INTO replica_license_revocations (license_id, imported_at) VALUES ($1, $2) \
         ON CONFLICT (license_id) DO NOTHING",
    )
    .bind(license_id)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// The imported public key of `kid` (base64url), if any.
pub async fn public_key<'c, E>(executor: E, kid: &str) -> Result<Option<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT public_key FROM replica_license_keys WHERE kid = $1")
        .bind(kid)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Every imported public key as (kid, base64url), by kid.
pub async fn keys<'c, E>(executor: E) -> Result<Vec<(String, String)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT kid, public_key FROM replica_license_keys ORDER BY kid")
        .fetch_all(executor)
        .await?;
    rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
}

/// Whether the origin revoked license `license_id`.
pub async fn is_revoked<'c, E>(executor: E, license_id: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT 1 FROM replica_license_revocations WHERE license_id = $1")
        .bind(license_id)
        .fetch_optional(executor)
        .await?;
    Ok(row.is_some())
}

/// Every revoked license id this database knows: its own cancelled licenses and the
/// imported revocations, sorted, each once.
pub async fn revoked_ids<'c, E>(executor: E) -> Result<Vec<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT id FROM licenses WHERE status <> 'active' \
         UNION SELECT license_id FROM replica_license_revocations ORDER BY 1",
    )
    .fetch_all(executor)
    .await?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}
