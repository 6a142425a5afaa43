//! Queries on `pull_through_tags`: when the pull-through cache last checked a tag against
//! its upstream (migration 0011).

use sqlx::{Any, Executor, Row};

use super::DbError;
use crate::oci::{RepoName, Tag};

/// When `tag` of `repository` was last checked against an upstream (milliseconds), if ever.
pub async fn tag_checked_at<'c, E>(executor: E, repository: &RepoName, tag: &Tag) -> Result<Option<i64>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT checked_at FROM pull_through_tags WHERE repository_name = $1 AND tag = $2")
        .bind(repository.as_str())
        .bind(tag.as_str())
        .fetch_optional(executor)
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get::<i64, _>(0)?),
        None => None,
    })
}

/// Records that `tag` was checked against `upstream` at `now` and named `manifest_digest`.
pub async fn record_tag_check<'c, E>(
    executor: E,
    repository: &RepoName,
    tag: &Tag,
    upstream: &str,
    manifest_digest: &str,
    now: i64,
) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO pull_through_tags (repository_name, tag, upstream, manifest_digest, checked_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (repository_name, tag) DO UPDATE SET upstream = excluded.upstream, \
         manifest_digest = excluded.manifest_digest, checked_at = excluded.checked_at",
    )
    .bind(repository.as_str())
    .bind(tag.as_str())
    .bind(upstream)
    .bind(manifest_digest)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}
