//! Queries on `manifests` and `manifest_references`.

use super::DbError;
use sqlx::{Any, AnyConnection, Executor, Row};

/// A stored manifest as the registry serves it.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub digest: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// A manifest that names another as its `subject`, as the referrers API lists it.
#[derive(Debug, Clone)]
pub struct ReferrerRow {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: i64,
    pub annotations: Option<String>,
}

/// A manifest to insert, with what it references.
pub struct NewManifest<'a> {
    pub repository_id: i64,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub artifact_type: Option<&'a str>,
    pub subject_digest: Option<&'a str>,
    pub annotations: Option<&'a str>,
    pub content: &'a [u8],
    pub blob_references: &'a [String],
    pub manifest_references: &'a [String],
}

/// Stores a manifest and its references. Storing the same digest twice is a no-op.
pub async fn insert(connection: &mut AnyConnection, manifest: &NewManifest<'_>, now: i64) -> Result<(), DbError> {
    let inserted = sqlx::query(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest, annotations, size, content, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(manifest.repository_id)
    .bind(manifest.digest)
    .bind(manifest.media_type)
    .bind(manifest.artifact_type)
    .bind(manifest.subject_digest)
    .bind(manifest.annotations)
    .bind(manifest.content.len() as i64)
    .bind(manifest.content)
    .bind(now)
    .execute(&mut *connection)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(());
    }
    let children = manifest
        .blob_references
        .iter()
        .map(|digest| ("blob", digest))
        .chain(manifest.manifest_references.iter().map(|digest| ("manifest", digest)));
    for (kind, child) in children {
        sqlx::query(
            "INSERT INTO manifest_references (repository_id, manifest_digest, child_kind, child_digest) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(manifest.repository_id)
        .bind(manifest.digest)
        .bind(kind)
        .bind(child.as_str())
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

fn manifest_row(row: &sqlx::any::AnyRow) -> Result<ManifestRow, DbError> {
    Ok(ManifestRow {
        digest: row.try_get(0)?,
        media_type: row.try_get(1)?,
        content: row.try_get(2)?,
    })
}

/// A manifest of repository `name` by digest.
pub async fn find_by_digest<'c, E>(executor: E, repository: &str, digest: &str) -> Result<Option<ManifestRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT m.digest, m.media_type, m.content FROM manifests m JOIN repositories r ON r.id = m.repository_id \
         WHERE r.name = $1 AND m.digest = $2",
    )
    .bind(repository)
    .bind(digest)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(manifest_row).transpose()
}

/// The manifest a tag of repository `name` points to.
pub async fn find_by_tag<'c, E>(executor: E, repository: &str, tag: &str) -> Result<Option<ManifestRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT m.digest, m.media_type, m.content FROM tags t \
         JOIN repositories r ON r.id = t.repository_id \
         JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
         WHERE r.name = $1 AND t.name = $2",
    )
    .bind(repository)
    .bind(tag)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(manifest_row).transpose()
}

/// Which of `digests` are manifests of the repository.
pub async fn present_among<'c, E>(executor: E, repository_id: i64, digests: &[String]) -> Result<Vec<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..digests.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT digest FROM manifests WHERE repository_id = $1 AND digest IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(repository_id);
    for digest in digests {
        query = query.bind(digest);
    }
    let rows = query.fetch_all(executor).await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

/// Deletes a manifest (its tags and references go with it); returns whether it existed.
pub async fn delete(connection: &mut AnyConnection, repository_id: i64, digest: &str) -> Result<bool, DbError> {
    for statement in [
        "DELETE FROM tags WHERE repository_id = $1 AND manifest_digest = $2",
        "DELETE FROM manifest_references WHERE repository_id = $1 AND manifest_digest = $2",
    ] {
        sqlx::query(statement)
            .bind(repository_id)
            .bind(digest)
            .execute(&mut *connection)
            .await?;
    }
    let result = sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
        .bind(repository_id)
        .bind(digest)
        .execute(&mut *connection)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Manifests of the repository whose `subject` is `subject_digest`, optionally of one artifact type.
pub async fn referrers<'c, E>(
    executor: E,
    repository: &str,
    subject_digest: &str,
    artifact_type: Option<&str>,
) -> Result<Vec<ReferrerRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT m.digest, m.media_type, m.artifact_type, m.size, m.annotations FROM manifests m \
         JOIN repositories r ON r.id = m.repository_id \
         WHERE r.name = $1 AND m.subject_digest = $2 AND ($3 = '' OR m.artifact_type = $3) \
         ORDER BY m.created_at, m.digest",
    )
    .bind(repository)
    .bind(subject_digest)
    .bind(artifact_type.unwrap_or(""))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ReferrerRow {
                digest: row.try_get(0)?,
                media_type: row.try_get(1)?,
                artifact_type: row.try_get(2)?,
                size: row.try_get(3)?,
                annotations: row.try_get(4)?,
            })
        })
        .collect()
}
