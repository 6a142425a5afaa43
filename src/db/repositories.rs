//! Queries on `repositories`.

use super::DbError;
use crate::oci::RepoName;
use sqlx::{Any, AnyConnection, Executor, Row};

/// Returns the id of repository `name`, creating the repository if needed.
pub async fn ensure(connection: &mut AnyConnection, name: &RepoName, now: i64) -> Result<i64, DbError> {
    // The insert comes first even when the repository exists: in a SQLite transaction the
    // first statement decides the lock, and a transaction that starts by reading and then
    // writes fails (SQLITE_BUSY_SNAPSHOT) when another process wrote in between.
    sqlx::query("INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name.as_str())
        .bind(now)
        .execute(&mut *connection)
        .await?;
    let row = sqlx::query("SELECT id FROM repositories WHERE name = $1")
        .bind(name.as_str())
        .fetch_one(&mut *connection)
        .await?;
    Ok(row.try_get(0)?)
}

/// The id of repository `name`, if it exists.
pub async fn find<'c, E>(executor: E, name: &RepoName) -> Result<Option<i64>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT id FROM repositories WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Repository names after `last` in byte order, at most `limit`.
pub async fn list<'c, E>(executor: E, last: Option<&str>, limit: i64) -> Result<Vec<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2")
        .bind(last.unwrap_or(""))
        .bind(limit)
        .fetch_all(executor)
        .await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}
