//! Queries on `admin_sessions`: the browser pages' admin sessions, by the SHA-256 of the
//! cookie's secret.

use super::DbError;
use sqlx::{Any, Executor, Row};

pub async fn insert<'c, E>(executor: E, id_hash: &str, now: i64, expires_at: i64) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query("INSERT INTO admin_sessions (id_hash, created_at, expires_at) VALUES ($1, $2, $3)")
        .bind(id_hash)
        .bind(now)
        .bind(expires_at)
        .execute(executor)
        .await?;
    Ok(())
}

/// When the unexpired session `id_hash` expires; `None` when there is no such session.
pub async fn find<'c, E>(executor: E, id_hash: &str, now: i64) -> Result<Option<i64>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT expires_at FROM admin_sessions WHERE id_hash = $1 AND expires_at > $2")
        .bind(id_hash)
        .bind(now)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Ends the session `id_hash`; whether there was one.
pub async fn remove<'c, E>(executor: E, id_hash: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Removes expired sessions.
pub async fn remove_expired<'c, E>(executor: E, now: i64) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}
