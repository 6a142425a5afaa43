//! Queries on `blobs` (verified, stored blobs) and `repository_blobs` (which repository may
//! serve which blob).

use super::DbError;
use crate::oci::{Digest, RepoName};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// Where a blob's bytes are (migration 0016): at the blob's own key, or in the upload part
/// they were written to, which became the blob without a copy (on stores where a move is a
/// copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobObject {
    Own,
    Held { session_id: String, part_id: String },
}

impl BlobObject {
    /// From the row's `held_session`, `held_part` at columns `at`, `at + 1`.
    pub(crate) fn at(row: &AnyRow, at: usize) -> Result<Self, DbError> {
        let session: Option<String> = row.try_get(at)?;
        let part: Option<String> = row.try_get(at + 1)?;
        Ok(match (session, part) {
            (Some(session_id), Some(part_id)) => BlobObject::Held { session_id, part_id },
            _ => BlobObject::Own,
        })
    }
}

/// Records a verified blob, or marks an existing one as touched now. Idempotent.
///
/// Also the *claim* an upload makes before it puts verified bytes at the blob's key: once
/// this committed, `gc` leaves the blob alone for its grace period; while `gc` is deleting
/// the blob this waits for it (row lock), so the upload then writes the bytes anew.
pub async fn insert<'c, E>(executor: E, digest: &Digest, size: i64, now: i64) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at",
    )
    .bind(digest.to_string())
    .bind(size)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Marks an existing blob as touched now; false when there is no such blob (any more).
pub async fn touch<'c, E>(executor: E, digest: &Digest, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("UPDATE blobs SET touched_at = $1 WHERE digest = $2")
        .bind(now)
        .bind(digest.to_string())
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Makes a stored blob servable from a repository. Idempotent.
pub async fn link<'c, E>(executor: E, repository_id: i64, digest: &Digest, now: i64) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at, touched_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = excluded.touched_at",
    )
    .bind(repository_id)
    .bind(digest.to_string())
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Links a recorded blob to the repository called `repository`, in one statement; false when
/// there is no such repository (yet). Idempotent.
pub async fn link_by_name<'c, E>(executor: E, repository: &RepoName, digest: &Digest, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at, touched_at) \
         SELECT id, $2, $3, $3 FROM repositories WHERE name = $1 \
         ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = excluded.touched_at",
    )
    .bind(repository.as_str())
    .bind(digest.to_string())
    .bind(now)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Removes a blob from a repository; returns whether it was linked.
pub async fn unlink<'c, E>(executor: E, repository_id: i64, digest: &Digest) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
        .bind(repository_id)
        .bind(digest.to_string())
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Size of a blob linked to repository `name` and where its bytes are, if it is linked.
pub async fn linked_blob<'c, E>(
    executor: E,
    repository: &RepoName,
    digest: &Digest,
) -> Result<Option<(i64, BlobObject)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT b.size, b.held_session, b.held_part FROM repository_blobs rb \
         JOIN repositories r ON r.id = rb.repository_id \
         JOIN blobs b ON b.digest = rb.digest \
         WHERE r.name = $1 AND rb.digest = $2",
    )
    .bind(repository.as_str())
    .bind(digest.to_string())
    .fetch_optional(executor)
    .await?;
    row.map(|row| Ok((row.try_get(0)?, BlobObject::at(&row, 1)?)))
        .transpose()
}

/// Where a recorded blob's bytes are; `None` when there is no such blob.
pub async fn object_of<'c, E>(executor: E, digest: &Digest) -> Result<Option<BlobObject>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT held_session, held_part FROM blobs WHERE digest = $1")
        .bind(digest.to_string())
        .fetch_optional(executor)
        .await?;
    row.map(|row| BlobObject::at(&row, 0)).transpose()
}

/// Makes the upload part `session_id`/`part_id` the recorded blob's bytes, unless the row
/// names a part already; true when it did. The caller checked that the blob's own key holds
/// nothing.
pub async fn hold<'c, E>(executor: E, digest: &Digest, session_id: &str, part_id: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result =
        sqlx::query("UPDATE blobs SET held_session = $2, held_part = $3 WHERE digest = $1 AND held_session IS NULL")
            .bind(digest.to_string())
            .bind(session_id)
            .bind(part_id)
            .execute(executor)
            .await?;
    Ok(result.rows_affected() > 0)
}

/// The parts of upload `session_id` that are blobs' bytes.
pub async fn held_parts_of<'c, E>(executor: E, session_id: &str) -> Result<Vec<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT held_part FROM blobs WHERE held_session = $1")
        .bind(session_id)
        .fetch_all(executor)
        .await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

/// Size of a blob linked to repository `name`, if it is.
pub async fn linked_size<'c, E>(executor: E, repository: &RepoName, digest: &Digest) -> Result<Option<i64>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    Ok(linked_blob(executor, repository, digest).await?.map(|(size, _)| size))
}
