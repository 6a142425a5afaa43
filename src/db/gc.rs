//! Queries of garbage collection, which span `blobs`, `repository_blobs`,
//! `manifest_references` and `upload_sessions`. The rules that use them are in
//! `services::gc`; every condition that makes something garbage is re-checked inside the
//! statement that deletes it, so a concurrent push that touched it wins.

use super::blobs::BlobObject;
use super::{digest_at, DbError};
use sqlx::{Any, AnyConnection, Executor, Row};

use crate::oci::Digest;

/// A blob that no manifest references and no repository linked within the grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarbageBlob {
    pub digest: Digest,
    pub size: i64,
}

/// Links untouched since `cutoff` that no manifest of their repository references:
/// the count a sweep would remove.
pub async fn count_stale_links<'c, E>(executor: E, cutoff: i64) -> Result<i64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT COUNT(*) FROM repository_blobs rb WHERE rb.touched_at < $1 AND NOT EXISTS (\
           SELECT 1 FROM manifest_references mr WHERE mr.repository_id = rb.repository_id \
           AND mr.child_kind = 'blob' AND mr.child_digest = rb.digest)",
    )
    .bind(cutoff)
    .fetch_one(executor)
    .await?;
    Ok(row.try_get(0)?)
}

/// Removes the links [`count_stale_links`] counts. A manifest push touches (and so locks)
/// the links it relies on, so this either waits and then keeps them, or removes them first
/// and the push fails with `MANIFEST_BLOB_UNKNOWN`.
pub async fn delete_stale_links<'c, E>(executor: E, cutoff: i64) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "DELETE FROM repository_blobs WHERE touched_at < $1 AND NOT EXISTS (\
           SELECT 1 FROM manifest_references mr WHERE mr.repository_id = repository_blobs.repository_id \
           AND mr.child_kind = 'blob' AND mr.child_digest = repository_blobs.digest)",
    )
    .bind(cutoff)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// Blobs untouched since `cutoff`, referenced by no manifest, with no link touched since
/// `cutoff` (stale links go in the same sweep), in digest order.
pub async fn garbage_blobs<'c, E>(executor: E, cutoff: i64) -> Result<Vec<GarbageBlob>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT b.digest, b.size FROM blobs b WHERE b.touched_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.touched_at >= $1) \
         AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_kind = 'blob' AND mr.child_digest = b.digest) \
         ORDER BY b.digest",
    )
    .bind(cutoff)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(GarbageBlob {
                digest: digest_at(row, 0)?,
                size: row.try_get(1)?,
            })
        })
        .collect()
}

/// Deletes one blob's row if it is still garbage; returns where its bytes were when it did.
/// Call inside a transaction and delete the bytes before committing: the deleted row stays
/// locked until then, so an upload claiming the same digest waits and then writes the bytes
/// anew.
pub async fn delete_blob_if_garbage(
    connection: &mut AnyConnection,
    digest: &Digest,
    cutoff: i64,
) -> Result<Option<BlobObject>, DbError> {
    let row = sqlx::query(
        "DELETE FROM blobs WHERE digest = $1 AND touched_at < $2 \
         AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = blobs.digest) \
         AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_kind = 'blob' AND mr.child_digest = blobs.digest) \
         RETURNING held_session, held_part",
    )
    .bind(digest.to_string())
    .bind(cutoff)
    .fetch_optional(&mut *connection)
    .await?;
    row.map(|row| BlobObject::at(&row, 0)).transpose()
}

/// Whether the upload object `session_id`/`part_id` is owned: its session exists, or it is a
/// blob's bytes (`blobs.held_session`, `held_part`).
pub async fn upload_object_owned<'c, E>(executor: E, session_id: &str, part_id: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT 1 FROM upload_sessions WHERE id = $1 \
         UNION ALL SELECT 1 FROM blobs WHERE held_session = $1 AND held_part = $2",
    )
    .bind(session_id)
    .bind(part_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}
