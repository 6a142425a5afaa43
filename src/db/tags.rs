//! Queries on `tags`. Tags arrive as [`Tag`] and digests as [`Digest`]; they become text here.

use sqlx::{Any, Executor, Row};

use super::{Backend, Database, DbError};
use crate::oci::{Digest, Tag};

/// Points `tag` at a manifest, replacing what it pointed to before.
pub async fn upsert<'c, E>(
    executor: E,
    repository_id: i64,
    tag: &Tag,
    manifest_digest: &Digest,
    now: i64,
) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at",
    )
    .bind(repository_id)
    .bind(tag.as_str())
    .bind(manifest_digest.to_string())
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Removes a tag; returns whether it existed.
pub async fn delete<'c, E>(executor: E, repository_id: i64, tag: &Tag) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND name = $2")
        .bind(repository_id)
        .bind(tag.as_str())
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Tag names of a repository after `last` in byte order, at most `limit`. `last` is the
/// client's cursor, compared as bytes: any text, not necessarily a tag (distribution pages
/// after whatever it is given), so it stays a `&str`.
///
/// The page comes back as one row, the names joined by newlines (a tag cannot contain one):
/// decoding a row through `sqlx::Any` costs about a microsecond, so a 1000-tag page read
/// row by row spent most of its time there.
pub async fn list(
    database: &Database,
    repository_id: i64,
    last: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let join = match database.backend() {
        Backend::Sqlite => "group_concat(name, char(10))",
        Backend::Postgres => "string_agg(name, chr(10) ORDER BY name)",
    };
    let sql = format!(
        "SELECT {join} FROM (SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3) AS page"
    );
    let joined: Option<String> = sqlx::query(&sql)
        .bind(repository_id)
        .bind(last.unwrap_or(""))
        .bind(limit)
        .fetch_one(database.reader())
        .await?
        .try_get(0)?;
    let mut names: Vec<String> = joined
        .map(|text| text.split('\n').map(str::to_string).collect())
        .unwrap_or_default();
    // group_concat does not promise to keep the subquery's order.
    names.sort_unstable();
    Ok(names)
}
