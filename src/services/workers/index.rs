//! Indexing worker versions: the check of a pushed worker index
//! ([`Registry::prepare_worker_version`]), the derived rows written in the tag's transaction
//! ([`record_worker_tag`]) and their rebuild from the manifests.

use std::collections::BTreeSet;

use futures::TryStreamExt;

use super::PreparedWorkerVersion;
use crate::artifact::{
    self, check_image_config, check_platform_manifest, check_worker_index, metadata::describe, WorkerId,
    WorkerMetadata, MAX_SMALL_BLOB_BYTES,
};
use crate::db::{blobs, manifests, now_millis, workers, Connection, DbError};
use crate::oci::{media_types, Digest, RepoName, Tag};
use crate::services::{Registry, RegistryError};

impl Registry {
    /// Checks a manifest pushed under `tag` of `name`. Returns `None` when it is not a worker
    /// version (not a worker repository, not a semver tag, or not an index) and an error
    /// naming the problem when it is an index under a version tag that breaks the spec.
    pub async fn prepare_worker_version(
        &self,
        name: &RepoName,
        tag: &Tag,
        media_type: &str,
        index: &[u8],
    ) -> Result<Option<PreparedWorkerVersion>, RegistryError> {
        if !may_be_worker_version(name, tag, media_type) {
            return Ok(None);
        }
        let mut connection = self.db.read_connection().await?;
        self.prepare_worker_version_on(&mut connection, name, tag, media_type, index)
            .await
    }

    /// [`Registry::prepare_worker_version`] reading the manifests and blob links through
    /// `connection` (a transaction's, to check what it has written but not committed: an
    /// archive import).
    pub(in crate::services) async fn prepare_worker_version_on(
        &self,
        connection: &mut Connection,
        name: &RepoName,
        tag: &Tag,
        media_type: &str,
        index: &[u8],
    ) -> Result<Option<PreparedWorkerVersion>, RegistryError> {
        if !may_be_worker_version(name, tag, media_type) {
            return Ok(None);
        }
        let invalid = |why: String| RegistryError::WorkerVersionInvalid(format!("{name}:{tag}: {why}"));
        let worker_id = match WorkerId::of_repository(name) {
            Ok(Some(worker_id)) => worker_id,
            Ok(None) => return Ok(None),
            Err(error) => return Err(invalid(error.to_string())),
        };
        let facts = check_worker_index(index).map_err(|e| invalid(e.to_string()))?;
        let mut platforms = Vec::with_capacity(facts.entries.len());
        let mut metadata_json = None;
        let mut checked_metadata: BTreeSet<Digest> = BTreeSet::new();
        for entry in &facts.entries {
            let Some(row) = manifests::find_by_digest(&mut *connection, name, &entry.digest).await? else {
                return Err(RegistryError::ManifestBlobUnknown(entry.digest.clone()));
            };
            let manifest =
                check_platform_manifest(&entry.platform, &row.content).map_err(|e| invalid(e.to_string()))?;
            let config = self
                .read_small_blob_on(connection, name, &manifest.config.digest)
                .await?;
            check_image_config(&entry.platform, &config).map_err(|e| invalid(e.to_string()))?;
            if checked_metadata.insert(manifest.metadata.digest.clone()) {
                let bytes = self
                    .read_small_blob_on(connection, name, &manifest.metadata.digest)
                    .await?;
                let metadata = WorkerMetadata::parse(&bytes)
                    .and_then(|metadata| {
                        metadata
                            .check_identity(worker_id.as_str(), tag.as_str())
                            .map(|()| metadata)
                    })
                    .map_err(|errors| invalid(format!("{}: metadata.json: {}", entry.platform, describe(&errors))))?;
                if metadata_json.is_none() {
                    metadata_json = Some(serde_json::to_string(&metadata).expect("metadata serializes"));
                }
            }
            let package_size = i64::try_from(manifest.package.size).map_err(|_| {
                invalid(format!(
                    "{}: the package's size {} is out of range",
                    entry.platform, manifest.package.size
                ))
            })?;
            platforms.push(workers::NewWorkerPlatform {
                platform: entry.platform.to_string(),
                manifest_digest: entry.digest.clone(),
                package_digest: manifest.package.digest.clone(),
                package_size,
                metadata_digest: manifest.metadata.digest.clone(),
            });
        }
        Ok(Some(PreparedWorkerVersion {
            worker_id,
            metadata_json: metadata_json.expect("an index with platforms has metadata"),
            platforms,
        }))
    }

    /// Reads a small blob (config, metadata.json, PKGBUILD) of a repository whole.
    pub(super) async fn read_small_blob(&self, name: &RepoName, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let mut connection = self.db.read_connection().await?;
        self.read_small_blob_on(&mut connection, name, digest).await
    }

    /// [`Registry::read_small_blob`], finding the link through `connection`.
    async fn read_small_blob_on(
        &self,
        connection: &mut Connection,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Vec<u8>, RegistryError> {
        let Some((size, object)) = blobs::linked_blob(&mut *connection, name, digest).await? else {
            return Err(RegistryError::ManifestBlobUnknown(digest.clone()));
        };
        if size as u64 > MAX_SMALL_BLOB_BYTES {
            return Err(RegistryError::WorkerVersionInvalid(format!(
                "blob {digest} is {size} bytes; configs, metadata and PKGBUILDs are at most {MAX_SMALL_BLOB_BYTES}"
            )));
        }
        let chunks: Vec<bytes::Bytes> = self
            .store
            .read(&crate::services::blobs::blob_key(digest, object), None)
            .await?
            .try_collect()
            .await?;
        Ok(chunks.concat())
    }

    /// Recomputes the derived worker tables from the manifests; returns the versions indexed.
    pub async fn rebuild_worker_index(&self) -> Result<usize, RegistryError> {
        let tags = workers::worker_repository_tags(self.db.reader()).await?;
        let mut indexed = 0;
        for workers::WorkerTagRow {
            repository_id,
            repository,
            tag,
            manifest_digest,
        } in tags
        {
            let Some(row) = manifests::find_by_digest(self.db.reader(), &repository, &manifest_digest).await? else {
                continue;
            };
            let prepared = match self
                .prepare_worker_version(&repository, &tag, &row.media_type, &row.content)
                .await
            {
                Ok(prepared) => prepared,
                Err(error) => {
                    tracing::warn!(%repository, %tag, %error, "tag is not a valid worker version; not listed");
                    None
                }
            };
            indexed += usize::from(prepared.is_some());
            let mut transaction = self.db.begin().await?;
            record_worker_tag(
                &mut transaction,
                repository_id,
                &tag,
                &manifest_digest,
                prepared.as_ref(),
                now_millis(),
            )
            .await?;
            transaction.commit().await?;
        }
        Ok(indexed)
    }
}

/// Whether a manifest of `media_type` under `tag` of `name` is a worker version to check:
/// an index under a semver tag of a worker repository.
fn may_be_worker_version(name: &RepoName, tag: &Tag, media_type: &str) -> bool {
    artifact::worker_id_of_repository(name.as_str()).is_some()
        && artifact::parse_version(tag.as_str()).is_some()
        && media_types::is_index(media_type)
}

/// Records (or forgets) what a worker repository's tag indexes, inside the tag's transaction.
pub(in crate::services) async fn record_worker_tag(
    connection: &mut Connection,
    repository_id: i64,
    tag: &Tag,
    index_digest: &Digest,
    prepared: Option<&PreparedWorkerVersion>,
    now: i64,
) -> Result<(), DbError> {
    match prepared {
        Some(prepared) => {
            let version = workers::NewWorkerVersion {
                repository_id,
                tag,
                worker_id: &prepared.worker_id,
                index_digest,
                metadata: &prepared.metadata_json,
                platforms: &prepared.platforms,
            };
            workers::replace(connection, &version, now).await
        }
        None => workers::remove(connection, repository_id, tag).await,
    }
}
