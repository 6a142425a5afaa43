//! Queries on `signing_keys`: the token signing keys every process on the database shares.

use super::DbError;
use sqlx::{Any, Executor, Row};

/// One stored key. `private_key` is secret: never logged (`Debug` omits it).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    /// PKCS#8, base64url.
    pub private_key: String,
    /// Raw public key, base64url.
    pub public_key: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

pub async fn insert<'c, E>(executor: E, key: &KeyRow) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_key, public_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.kid)
    .bind(&key.private_key)
    .bind(&key.public_key)
    .bind(key.created_at)
    .bind(key.retired_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// Every key, newest first (the first unretired one signs).
pub async fn list<'c, E>(executor: E) -> Result<Vec<KeyRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys \
         ORDER BY created_at DESC, kid DESC LIMIT 256",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(KeyRow {
                kid: row.try_get(0)?,
                private_key: row.try_get(1)?,
                public_key: row.try_get(2)?,
                created_at: row.try_get(3)?,
                retired_at: row.try_get(4)?,
            })
        })
        .collect()
}

/// The id of the key that signs now: the newest unretired one.
pub async fn current_kid<'c, E>(executor: E) -> Result<Option<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row =
        sqlx::query("SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1")
            .fetch_optional(executor)
            .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Retires every key but `keep` (from `now`), when not retired yet.
pub async fn retire_others<'c, E>(executor: E, keep: &str, now: i64) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND kid <> $2")
        .bind(now)
        .bind(keep)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}

/// Removes keys retired before `cutoff`: no token they signed is valid any more.
pub async fn remove_retired_before<'c, E>(executor: E, cutoff: i64) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
        .bind(cutoff)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}
