//! Queries on `admin_tokens`: the hash of the one admin token.

use super::DbError;
use sqlx::{Any, Executor, Row};

/// Stores the admin token's hash unless one is stored already; whether this call stored it.
pub async fn insert_once<'c, E>(executor: E, token_hash: &str, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "INSERT INTO admin_tokens (id, token_hash, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(token_hash)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The stored hash, if the admin token was created.
pub async fn hash<'c, E>(executor: E) -> Result<Option<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT token_hash FROM admin_tokens WHERE id = 1")
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}
