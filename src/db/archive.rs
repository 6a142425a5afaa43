//! What `export` reads of a repository at once (its tags, manifests, references and blob
//! links, without manifest bodies) and the presence checks `import` makes. The writes of an
//! import reuse the ordinary queries (`repositories`, `blobs`, `manifests`, `tags`).

use sqlx::{Any, Executor, Row};

use super::{digest_at, DbError};
use crate::oci::{Digest, RepoName};

/// A repository: id and name.
#[derive(Debug, Clone)]
pub struct RepositoryRow {
    pub id: i64,
    pub name: RepoName,
}

/// A tag with the manifest it points to and when it last moved.
#[derive(Debug, Clone)]
pub struct TagRow {
    pub name: String,
    pub digest: Digest,
    pub updated_at: i64,
}

/// A stored manifest without its body.
#[derive(Debug, Clone)]
pub struct ManifestMeta {
    pub digest: Digest,
    pub media_type: String,
    pub subject: Option<Digest>,
    pub size: i64,
    pub created_at: i64,
}

/// A manifest's reference to a blob (`is_manifest` false) or a child manifest.
#[derive(Debug, Clone)]
pub struct ReferenceRow {
    pub manifest: Digest,
    pub is_manifest: bool,
    pub child: Digest,
}

/// A blob linked to a repository: its size and when the link was made.
#[derive(Debug, Clone)]
pub struct LinkedBlobRow {
    pub digest: Digest,
    pub size: i64,
    pub linked_at: i64,
}

/// Every repository, by name.
pub async fn repositories<'c, E>(executor: E) -> Result<Vec<RepositoryRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT id, name FROM repositories ORDER BY name")
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(1)?;
            Ok(RepositoryRow {
                id: row.try_get(0)?,
                name: RepoName::parse(&name)
                    .map_err(|_| DbError::Damaged(format!("stored repository name {name:?} is not valid")))?,
            })
        })
        .collect()
}

/// The tags of a repository, by name.
pub async fn tags<'c, E>(executor: E, repository_id: i64) -> Result<Vec<TagRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT name, manifest_digest, updated_at FROM tags WHERE repository_id = $1 ORDER BY name")
        .bind(repository_id)
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(TagRow {
                name: row.try_get(0)?,
                digest: digest_at(row, 1)?,
                updated_at: row.try_get(2)?,
            })
        })
        .collect()
}

/// The manifests of a repository (no bodies), oldest first.
pub async fn manifests<'c, E>(executor: E, repository_id: i64) -> Result<Vec<ManifestMeta>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT digest, media_type, subject_digest, size, created_at FROM manifests WHERE repository_id = $1 \
         ORDER BY created_at, digest",
    )
    .bind(repository_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let subject: Option<String> = row.try_get(2)?;
            Ok(ManifestMeta {
                digest: digest_at(row, 0)?,
                media_type: row.try_get(1)?,
                subject: subject.as_deref().map(super::parse_digest).transpose()?,
                size: row.try_get(3)?,
                created_at: row.try_get(4)?,
            })
        })
        .collect()
}

/// Every reference of the repository's manifests.
pub async fn references<'c, E>(executor: E, repository_id: i64) -> Result<Vec<ReferenceRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT manifest_digest, child_kind, child_digest FROM manifest_references WHERE repository_id = $1 \
         ORDER BY manifest_digest, child_kind, child_digest",
    )
    .bind(repository_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get(1)?;
            Ok(ReferenceRow {
                manifest: digest_at(row, 0)?,
                is_manifest: kind == "manifest",
                child: digest_at(row, 2)?,
            })
        })
        .collect()
}

/// The blobs linked to a repository, with their sizes.
pub async fn linked_blobs<'c, E>(executor: E, repository_id: i64) -> Result<Vec<LinkedBlobRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT l.digest, b.size, l.created_at FROM repository_blobs l JOIN blobs b ON b.digest = l.digest \
         WHERE l.repository_id = $1 ORDER BY l.digest",
    )
    .bind(repository_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LinkedBlobRow {
                digest: digest_at(row, 0)?,
                size: row.try_get(1)?,
                linked_at: row.try_get(2)?,
            })
        })
        .collect()
}

/// The recorded size of a blob, if this registry has it.
pub async fn blob_size<'c, E>(executor: E, digest: &Digest) -> Result<Option<i64>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT size FROM blobs WHERE digest = $1")
        .bind(digest.to_string())
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Whether blob `digest` is linked to repository `repository_id`.
pub async fn is_linked<'c, E>(executor: E, repository_id: i64, digest: &Digest) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT 1 FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
        .bind(repository_id)
        .bind(digest.to_string())
        .fetch_optional(executor)
        .await?;
    Ok(row.is_some())
}
