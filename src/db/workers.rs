//! Queries on `worker_versions` and `worker_platforms`: the derived index of worker versions
//! (rebuildable from the manifests; written in the tag's transaction). Worker ids arrive as
//! [`WorkerId`] and versions as `semver::Version`, digests as [`Digest`], repository names
//! as [`RepoName`] and tags as [`Tag`]; they become text here, once. Digests read back are
//! parsed where the row is read.

use super::{digest_at, DbError};
use sqlx::{Any, AnyConnection, Executor, Row};

use crate::artifact::WorkerId;
use crate::oci::{Digest, RepoName, Tag};

/// One indexed worker version.
#[derive(Debug, Clone)]
pub struct WorkerVersionRow {
    pub worker_id: String,
    pub version: String,
    pub index_digest: Digest,
    pub metadata: String,
    pub indexed_at: i64,
}

/// One platform of an indexed version.
#[derive(Debug, Clone)]
pub struct WorkerPlatformRow {
    pub version: String,
    pub platform: String,
    pub manifest_digest: Digest,
    pub package_digest: Digest,
    pub package_size: i64,
}

/// A version to index, with its platforms.
pub struct NewWorkerVersion<'a> {
    pub repository_id: i64,
    pub tag: &'a Tag,
    pub worker_id: &'a WorkerId,
    pub index_digest: &'a Digest,
    pub metadata: &'a str,
    pub platforms: &'a [NewWorkerPlatform],
}

#[derive(Debug, Clone)]
pub struct NewWorkerPlatform {
    pub platform: String,
    pub manifest_digest: Digest,
    pub package_digest: Digest,
    pub package_size: i64,
    pub metadata_digest: Digest,
}

/// The worker list's generation (`worker_list_generation`, migration 0015): triggers move it
/// on with every change to `worker_versions`, `worker_platforms` or `catalog_workers`
/// (cascaded deletes included), so an unchanged value means an unchanged merged list.
pub async fn list_generation<'c, E>(executor: E) -> Result<i64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT value FROM worker_list_generation WHERE id = 1")
        .fetch_one(executor)
        .await?;
    Ok(row.try_get(0)?)
}

/// Forgets what a tag indexed (its platforms go with it).
pub async fn remove(connection: &mut AnyConnection, repository_id: i64, tag: &Tag) -> Result<(), DbError> {
    sqlx::query("DELETE FROM worker_platforms WHERE repository_id = $1 AND tag = $2")
        .bind(repository_id)
        .bind(tag.as_str())
        .execute(&mut *connection)
        .await?;
    sqlx::query("DELETE FROM worker_versions WHERE repository_id = $1 AND tag = $2")
        .bind(repository_id)
        .bind(tag.as_str())
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Indexes a version, replacing what the tag indexed before.
pub async fn replace(connection: &mut AnyConnection, version: &NewWorkerVersion<'_>, now: i64) -> Result<(), DbError> {
    remove(connection, version.repository_id, version.tag).await?;
    sqlx::query(
        "INSERT INTO worker_versions (repository_id, tag, worker_id, version, index_digest, metadata, indexed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(version.repository_id)
    .bind(version.tag.as_str())
    .bind(version.worker_id.as_str())
    .bind(version.tag.as_str())
    .bind(version.index_digest.to_string())
    .bind(version.metadata)
    .bind(now)
    .execute(&mut *connection)
    .await?;
    for platform in version.platforms {
        sqlx::query(
            "INSERT INTO worker_platforms (repository_id, tag, platform, manifest_digest, package_digest, package_size, metadata_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(version.repository_id)
        .bind(version.tag.as_str())
        .bind(platform.platform.as_str())
        .bind(platform.manifest_digest.to_string())
        .bind(platform.package_digest.to_string())
        .bind(platform.package_size)
        .bind(platform.metadata_digest.to_string())
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

fn version_row(row: &sqlx::any::AnyRow) -> Result<WorkerVersionRow, DbError> {
    Ok(WorkerVersionRow {
        worker_id: row.try_get(0)?,
        version: row.try_get(1)?,
        index_digest: digest_at(row, 2)?,
        metadata: row.try_get(3)?,
        indexed_at: row.try_get(4)?,
    })
}

/// Every indexed version of every worker, ordered by worker id.
pub async fn all_versions<'c, E>(executor: E) -> Result<Vec<WorkerVersionRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT worker_id, version, index_digest, metadata, indexed_at FROM worker_versions ORDER BY worker_id, version",
    )
    .fetch_all(executor)
    .await?;
    rows.iter().map(version_row).collect()
}

/// The indexed versions of one worker.
pub async fn versions_of<'c, E>(executor: E, worker_id: &WorkerId) -> Result<Vec<WorkerVersionRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT worker_id, version, index_digest, metadata, indexed_at FROM worker_versions WHERE worker_id = $1 ORDER BY version",
    )
    .bind(worker_id.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter().map(version_row).collect()
}

fn platform_row(row: &sqlx::any::AnyRow) -> Result<WorkerPlatformRow, DbError> {
    Ok(WorkerPlatformRow {
        version: row.try_get(0)?,
        platform: row.try_get(1)?,
        manifest_digest: digest_at(row, 2)?,
        package_digest: digest_at(row, 3)?,
        package_size: row.try_get(4)?,
    })
}

/// The platforms of every version of one worker, ordered by version and platform.
pub async fn platforms_of<'c, E>(executor: E, worker_id: &WorkerId) -> Result<Vec<WorkerPlatformRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT v.version, p.platform, p.manifest_digest, p.package_digest, p.package_size FROM worker_platforms p \
         JOIN worker_versions v ON v.repository_id = p.repository_id AND v.tag = p.tag \
         WHERE v.worker_id = $1 ORDER BY v.version, p.platform",
    )
    .bind(worker_id.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter().map(platform_row).collect()
}

/// One platform's package of one version, as a download needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPackageRow {
    pub platform: String,
    pub package_digest: Digest,
    pub package_size: i64,
}

/// The packages of one version of a worker, ordered by platform: the rows of that one
/// version, without its metadata record. Empty when the worker has no such version.
pub async fn packages_of_version<'c, E>(
    executor: E,
    worker_id: &WorkerId,
    version: &semver::Version,
) -> Result<Vec<VersionPackageRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT p.platform, p.package_digest, p.package_size FROM worker_versions v \
         JOIN worker_platforms p ON p.repository_id = v.repository_id AND p.tag = v.tag \
         WHERE v.worker_id = $1 AND v.version = $2 ORDER BY p.platform",
    )
    .bind(worker_id.as_str())
    .bind(version.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(VersionPackageRow {
                platform: row.try_get(0)?,
                package_digest: digest_at(row, 1)?,
                package_size: row.try_get(2)?,
            })
        })
        .collect()
}

/// The versions of one worker with their index digests (unordered), without the metadata
/// records.
pub async fn version_indexes<'c, E>(executor: E, worker_id: &WorkerId) -> Result<Vec<(String, Digest)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT version, index_digest FROM worker_versions WHERE worker_id = $1")
        .bind(worker_id.as_str())
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, digest_at(row, 1)?)))
        .collect()
}

/// When a version of the worker was last indexed; `None` when it has no version.
pub async fn last_indexed<'c, E>(executor: E, worker_id: &WorkerId) -> Result<Option<i64>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT MAX(indexed_at) FROM worker_versions WHERE worker_id = $1")
        .bind(worker_id.as_str())
        .fetch_one(executor)
        .await?;
    Ok(row.try_get(0)?)
}

/// The platforms of every version of every worker.
pub async fn all_platforms<'c, E>(executor: E) -> Result<Vec<(String, WorkerPlatformRow)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT v.version, p.platform, p.manifest_digest, p.package_digest, p.package_size, v.worker_id FROM worker_platforms p \
         JOIN worker_versions v ON v.repository_id = p.repository_id AND v.tag = p.tag ORDER BY v.worker_id, v.version, p.platform",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(5)?, platform_row(row)?)))
        .collect()
}

/// The worker versions and platforms whose package is blob `digest` of repository `name`
/// (usually one; the same package may be published under several versions).
pub async fn find_package<'c, E>(
    executor: E,
    repository: &RepoName,
    digest: &Digest,
) -> Result<Vec<(String, WorkerPlatformRow)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT v.version, p.platform, p.manifest_digest, p.package_digest, p.package_size, v.worker_id FROM worker_platforms p \
         JOIN worker_versions v ON v.repository_id = p.repository_id AND v.tag = p.tag \
         JOIN repositories r ON r.id = p.repository_id \
         WHERE r.name = $1 AND p.package_digest = $2 ORDER BY v.indexed_at DESC",
    )
    .bind(repository.as_str())
    .bind(digest.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(5)?, platform_row(row)?)))
        .collect()
}

/// A tag of a worker repository, as rebuilding the index reads it.
#[derive(Debug, Clone)]
pub struct WorkerTagRow {
    pub repository_id: i64,
    pub repository: RepoName,
    pub tag: Tag,
    pub manifest_digest: Digest,
}

/// Tags of worker repositories (`workers/…`), for rebuilding the index.
pub async fn worker_repository_tags<'c, E>(executor: E) -> Result<Vec<WorkerTagRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT r.id, r.name, t.name, t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id \
         WHERE r.name LIKE 'workers/%' ORDER BY r.name, t.name",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let repository: String = row.try_get(1)?;
            let tag: String = row.try_get(2)?;
            Ok(WorkerTagRow {
                repository_id: row.try_get(0)?,
                repository: RepoName::parse(&repository)
                    .map_err(|_| DbError::Damaged(format!("stored repository name {repository:?} is not valid")))?,
                tag: Tag::parse(&tag).map_err(|_| DbError::Damaged(format!("stored tag {tag:?} is not valid")))?,
                manifest_digest: digest_at(row, 3)?,
            })
        })
        .collect()
}

/// Ids of the workers that have at least one indexed version, sorted.
pub async fn worker_ids<'c, E>(executor: E) -> Result<Vec<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT DISTINCT worker_id FROM worker_versions ORDER BY worker_id")
        .fetch_all(executor)
        .await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}
