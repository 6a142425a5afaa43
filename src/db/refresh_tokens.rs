//! Queries on `refresh_tokens`: sealed credentials of OAuth2 refresh tokens.

use super::DbError;
use sqlx::{Any, Executor, Row};

pub async fn insert<'c, E>(
    executor: E,
    id_hash: &str,
    sealed: &str,
    subject: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (id_hash, sealed, subject, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id_hash)
    .bind(sealed)
    .bind(subject)
    .bind(now)
    .bind(expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// The sealed credential of an unexpired record.
pub async fn find<'c, E>(executor: E, id_hash: &str, now: i64) -> Result<Option<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT sealed FROM refresh_tokens WHERE id_hash = $1 AND expires_at > $2")
        .bind(id_hash)
        .bind(now)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Removes expired records.
pub async fn remove_expired<'c, E>(executor: E, now: i64) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}
