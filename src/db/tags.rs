//! Queries on `tags`.

use sqlx::{Any, Executor, Row};

/// Points `tag` at a manifest, replacing what it pointed to before.
pub async fn upsert<'c, E>(
    executor: E,
    repository_id: i64,
    tag: &str,
    manifest_digest: &str,
    now: i64,
) -> Result<(), sqlx::Error>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at",
    )
    .bind(repository_id)
    .bind(tag)
    .bind(manifest_digest)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Removes a tag; returns whether it existed.
pub async fn delete<'c, E>(executor: E, repository_id: i64, tag: &str) -> Result<bool, sqlx::Error>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND name = $2")
        .bind(repository_id)
        .bind(tag)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Tag names of a repository after `last` in byte order, at most `limit`.
pub async fn list<'c, E>(
    executor: E,
    repository_id: i64,
    last: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3")
        .bind(repository_id)
        .bind(last.unwrap_or(""))
        .bind(limit)
        .fetch_all(executor)
        .await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}
