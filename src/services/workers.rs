//! Workers: the rules of the worker catalog computed from what `/v2` stores.
//!
//! A semver tag of `workers/<id>` that points at a valid worker index (spec/worker-artifact.md)
//! is a worker version. When such a tag is pushed, [`Registry::prepare_worker_version`] checks
//! the index, its platform manifests, their image configs and the metadata layer, and the
//! manifest push records the result in the derived `worker_versions`/`worker_platforms`
//! tables in the tag's own transaction. Everything the catalog APIs answer is read from
//! those rows, the manifests and the blobs; [`Registry::rebuild_worker_index`] recomputes
//! the rows from the manifests alone.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;

use super::{Registry, RegistryError};
use crate::artifact::{
    self, check_image_config, check_platform_manifest, check_worker_index, metadata::describe, Platform,
    WorkerMetadata, MAX_SMALL_BLOB_BYTES, PKGBUILD_ARTIFACT_TYPE, PKGBUILD_MEDIA_TYPE,
};
use crate::db::{blobs, downloads, manifests, now_millis, workers, Connection, DbError};
use crate::oci::{media_types, Digest, RepoName};
use crate::storage::StorageKey;

/// Why a catalog request cannot be answered. `routes::catalog_error` maps each variant to
/// the legacy and the v1 JSON error shapes.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("worker {worker_id:?} not found")]
    WorkerNotFound { worker_id: String, known: Vec<String> },
    #[error("worker {worker_id:?} has no version {version:?}")]
    VersionNotFound {
        worker_id: String,
        version: String,
        available: Vec<String>,
    },
    #[error("worker {worker_id:?} {version}: the platform query parameter is required")]
    PlatformRequired {
        worker_id: String,
        version: String,
        available: Vec<String>,
    },
    #[error("worker {worker_id:?} {version} has no platform {platform:?}")]
    PlatformNotFound {
        worker_id: String,
        version: String,
        platform: String,
        available: Vec<String>,
    },
    #[error("worker {worker_id:?} has no PKGBUILD")]
    PkgbuildNotFound { worker_id: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<DbError> for WorkerError {
    fn from(error: DbError) -> Self {
        WorkerError::Registry(error.into())
    }
}

/// One platform's package of a worker version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPackage {
    pub platform: Platform,
    pub manifest_digest: String,
    pub package_digest: String,
    pub package_size: u64,
}

/// One version of a worker as the catalog sees it.
#[derive(Debug, Clone)]
pub struct WorkerVersion {
    pub version: semver::Version,
    pub index_digest: String,
    pub metadata: WorkerMetadata,
    pub platforms: Vec<PlatformPackage>,
    /// When the version's tag was indexed (milliseconds since the epoch).
    pub indexed_at: i64,
}

/// A worker with all its versions, oldest first (semver order).
#[derive(Debug, Clone)]
pub struct Worker {
    pub id: String,
    pub versions: Vec<WorkerVersion>,
}

impl Worker {
    /// The highest non-pre-release version (or the highest pre-release if there is none).
    pub fn latest(&self) -> &WorkerVersion {
        let latest = artifact::latest_version(self.versions.iter().map(|v| &v.version)).cloned();
        self.versions
            .iter()
            .find(|v| Some(&v.version) == latest.as_ref())
            .unwrap_or_else(|| self.versions.last().expect("a worker has at least one version"))
    }

    /// When any of its versions was last indexed.
    pub fn updated_at(&self) -> i64 {
        self.versions.iter().map(|v| v.indexed_at).max().unwrap_or(0)
    }

    pub fn version_names(&self) -> Vec<String> {
        self.versions.iter().map(|v| v.version.to_string()).collect()
    }
}

/// Where one platform's package of a version can be downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadTarget {
    pub repository: String,
    pub digest: String,
    pub size: u64,
    pub platform: Platform,
}

/// Download counts of a worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub total: u64,
    pub by_version: BTreeMap<String, u64>,
    pub by_platform: BTreeMap<String, u64>,
    pub last_download: Option<i64>,
    pub last_updated: i64,
}

/// A checked worker version, ready to be recorded with its tag.
#[derive(Debug, Clone)]
pub struct PreparedWorkerVersion {
    pub worker_id: String,
    pub metadata_json: String,
    pub platforms: Vec<workers::NewWorkerPlatform>,
}

/// Filters of the worker list.
#[derive(Debug, Clone, Default)]
pub struct WorkerFilter {
    pub tag: Option<String>,
    pub worker_type: Option<String>,
}

impl Registry {
    /// Checks a manifest pushed under `tag` of `name`. Returns `None` when it is not a worker
    /// version (not a worker repository, not a semver tag, or not an index) and an error
    /// naming the problem when it is an index under a version tag that breaks the spec.
    pub async fn prepare_worker_version(
        &self,
        name: &RepoName,
        tag: &str,
        media_type: &str,
        index: &[u8],
    ) -> Result<Option<PreparedWorkerVersion>, RegistryError> {
        let Some(worker_id) = artifact::worker_id_of_repository(name.as_str()) else {
            return Ok(None);
        };
        if artifact::parse_version(tag).is_none() || !media_types::is_index(media_type) {
            return Ok(None);
        }
        let invalid = |why: String| RegistryError::WorkerVersionInvalid(format!("{name}:{tag}: {why}"));
        if !artifact::is_valid_worker_id(worker_id) {
            return Err(invalid(format!("{worker_id:?} is not a valid worker id")));
        }
        let facts = check_worker_index(index).map_err(|e| invalid(e.to_string()))?;
        let mut platforms = Vec::with_capacity(facts.entries.len());
        let mut metadata_json = None;
        let mut checked_metadata: BTreeSet<Digest> = BTreeSet::new();
        for entry in &facts.entries {
            let Some(row) =
                manifests::find_by_digest(self.db.reader(), name.as_str(), &entry.digest.to_string()).await?
            else {
                return Err(RegistryError::ManifestBlobUnknown(entry.digest.clone()));
            };
            let manifest =
                check_platform_manifest(&entry.platform, &row.content).map_err(|e| invalid(e.to_string()))?;
            let config = self.read_small_blob(name, &manifest.config.digest).await?;
            check_image_config(&entry.platform, &config).map_err(|e| invalid(e.to_string()))?;
            if checked_metadata.insert(manifest.metadata.digest.clone()) {
                let bytes = self.read_small_blob(name, &manifest.metadata.digest).await?;
                let metadata = WorkerMetadata::parse(&bytes)
                    .and_then(|metadata| metadata.check_identity(worker_id, tag).map(|()| metadata))
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
                manifest_digest: entry.digest.to_string(),
                package_digest: manifest.package.digest.to_string(),
                package_size,
                metadata_digest: manifest.metadata.digest.to_string(),
            });
        }
        Ok(Some(PreparedWorkerVersion {
            worker_id: worker_id.to_string(),
            metadata_json: metadata_json.expect("an index with platforms has metadata"),
            platforms,
        }))
    }

    /// Reads a small blob (config, metadata.json, PKGBUILD) of a repository whole.
    async fn read_small_blob(&self, name: &RepoName, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let Some(size) = blobs::linked_size(self.db.reader(), name, digest).await? else {
            return Err(RegistryError::ManifestBlobUnknown(digest.clone()));
        };
        if size as u64 > MAX_SMALL_BLOB_BYTES {
            return Err(RegistryError::WorkerVersionInvalid(format!(
                "blob {digest} is {size} bytes; configs, metadata and PKGBUILDs are at most {MAX_SMALL_BLOB_BYTES}"
            )));
        }
        let chunks: Vec<bytes::Bytes> = self
            .store
            .read(&StorageKey::Blob(digest.clone()), None)
            .await?
            .try_collect()
            .await?;
        Ok(chunks.concat())
    }

    /// Recomputes the derived worker tables from the manifests; returns the versions indexed.
    pub async fn rebuild_worker_index(&self) -> Result<usize, RegistryError> {
        let tags = workers::worker_repository_tags(self.db.reader()).await?;
        let mut indexed = 0;
        for (repository_id, repository, tag, digest) in tags {
            let Ok(name) = RepoName::parse(&repository) else {
                continue;
            };
            let Some(row) = manifests::find_by_digest(self.db.reader(), &repository, &digest).await? else {
                continue;
            };
            let prepared = match self
                .prepare_worker_version(&name, &tag, &row.media_type, &row.content)
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
                &digest,
                prepared.as_ref(),
                now_millis(),
            )
            .await?;
            transaction.commit().await?;
        }
        Ok(indexed)
    }

    /// Every worker with at least one version, by id, optionally filtered.
    pub async fn list_workers(&self, filter: &WorkerFilter) -> Result<Vec<Worker>, WorkerError> {
        let versions = workers::all_versions(self.db.reader()).await?;
        let platforms = workers::all_platforms(self.db.reader()).await?;
        let mut by_worker: BTreeMap<String, Vec<workers::WorkerPlatformRow>> = BTreeMap::new();
        for (worker_id, platform) in platforms {
            by_worker.entry(worker_id).or_default().push(platform);
        }
        let mut grouped: BTreeMap<String, Vec<workers::WorkerVersionRow>> = BTreeMap::new();
        for version in versions {
            grouped.entry(version.worker_id.clone()).or_default().push(version);
        }
        let mut listed = Vec::new();
        for (worker_id, versions) in grouped {
            let platforms = by_worker.remove(&worker_id).unwrap_or_default();
            let worker = assemble_worker(worker_id, versions, &platforms);
            if worker.versions.is_empty() {
                continue;
            }
            let latest = &worker.latest().metadata;
            let tag_matches = filter.tag.as_ref().is_none_or(|tag| latest.tags.contains(tag));
            let type_matches = filter.worker_type.as_ref().is_none_or(|t| &latest.worker_type == t);
            if tag_matches && type_matches {
                listed.push(worker);
            }
        }
        Ok(listed)
    }

    /// One worker with all its versions.
    pub async fn find_worker(&self, worker_id: &str) -> Result<Worker, WorkerError> {
        let versions = workers::versions_of(self.db.reader(), worker_id).await?;
        if versions.is_empty() {
            return Err(WorkerError::WorkerNotFound {
                worker_id: worker_id.to_string(),
                known: workers::worker_ids(self.db.reader()).await?,
            });
        }
        let platforms = workers::platforms_of(self.db.reader(), worker_id).await?;
        let worker = assemble_worker(worker_id.to_string(), versions, &platforms);
        if worker.versions.is_empty() {
            return Err(WorkerError::WorkerNotFound {
                worker_id: worker_id.to_string(),
                known: workers::worker_ids(self.db.reader()).await?,
            });
        }
        Ok(worker)
    }

    /// Where the package of one platform of a version is. `platform` takes either spelling.
    pub async fn find_download(
        &self,
        worker_id: &str,
        version: &str,
        platform: Option<&str>,
    ) -> Result<DownloadTarget, WorkerError> {
        let worker = self.find_worker(worker_id).await?;
        let Some(found) = worker.versions.iter().find(|v| v.version.to_string() == version) else {
            return Err(WorkerError::VersionNotFound {
                worker_id: worker_id.to_string(),
                version: version.to_string(),
                available: worker.version_names(),
            });
        };
        let available: Vec<String> = found.platforms.iter().map(|p| platform_label(&p.platform)).collect();
        let Some(requested) = platform.filter(|p| !p.is_empty()) else {
            return Err(WorkerError::PlatformRequired {
                worker_id: worker_id.to_string(),
                version: version.to_string(),
                available,
            });
        };
        let not_found = || WorkerError::PlatformNotFound {
            worker_id: worker_id.to_string(),
            version: version.to_string(),
            platform: requested.to_string(),
            available: available.clone(),
        };
        let wanted = Platform::parse(requested).map_err(|_| not_found())?;
        let package = found
            .platforms
            .iter()
            .find(|p| p.platform.satisfies(&wanted))
            .ok_or_else(not_found)?;
        Ok(DownloadTarget {
            repository: artifact::worker_repository(worker_id),
            digest: package.package_digest.clone(),
            size: package.package_size,
            platform: package.platform.clone(),
        })
    }

    /// The PKGBUILD attached to a worker's latest version (a referrer of its index).
    pub async fn find_pkgbuild(&self, worker_id: &str) -> Result<String, WorkerError> {
        let worker = self.find_worker(worker_id).await?;
        let latest = worker.latest();
        let repository = artifact::worker_repository(worker_id);
        let name = RepoName::parse(&repository).map_err(RegistryError::from)?;
        let referrers = manifests::referrers(
            self.db.reader(),
            &repository,
            &latest.index_digest,
            Some(PKGBUILD_ARTIFACT_TYPE),
        )
        .await?;
        let not_found = || WorkerError::PkgbuildNotFound {
            worker_id: worker_id.to_string(),
        };
        // The newest attachment wins.
        let Some(referrer) = referrers.last() else {
            return Err(not_found());
        };
        let Some(row) = manifests::find_by_digest(self.db.reader(), &repository, &referrer.digest).await? else {
            return Err(not_found());
        };
        let manifest: serde_json::Value = serde_json::from_slice(&row.content).map_err(|_| not_found())?;
        let layer = manifest["layers"]
            .as_array()
            .and_then(|layers| layers.iter().find(|l| l["mediaType"] == PKGBUILD_MEDIA_TYPE))
            .and_then(|layer| layer["digest"].as_str())
            .and_then(|digest| digest.parse::<Digest>().ok())
            .ok_or_else(not_found)?;
        let bytes = self.read_small_blob(&name, &layer).await?;
        String::from_utf8(bytes).map_err(|_| not_found())
    }

    /// Download counts of a worker, from the database (shared by every registry process).
    pub async fn worker_stats(&self, worker_id: &str) -> Result<WorkerStats, WorkerError> {
        let worker = self.find_worker(worker_id).await?;
        let mut stats = WorkerStats {
            last_updated: worker.updated_at(),
            ..WorkerStats::default()
        };
        for (version, platform, count, last) in downloads::counts_of(self.db.reader(), worker_id).await? {
            let count = count as u64;
            stats.total += count;
            *stats.by_version.entry(version).or_default() += count;
            let label = Platform::parse(&platform)
                .map(|p| platform_label(&p))
                .unwrap_or(platform);
            *stats.by_platform.entry(label).or_default() += count;
            stats.last_download = stats.last_download.max(Some(last));
        }
        Ok(stats)
    }
}

/// The old name of a platform when it has one (`linux-aarch64`), else the OCI one.
pub fn platform_label(platform: &Platform) -> String {
    platform.legacy_name().unwrap_or_else(|| platform.to_string())
}

/// Records (or forgets) what a worker repository's tag indexes, inside the tag's transaction.
pub(super) async fn record_worker_tag(
    connection: &mut Connection,
    repository_id: i64,
    tag: &str,
    index_digest: &str,
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

fn assemble_worker(
    worker_id: String,
    versions: Vec<workers::WorkerVersionRow>,
    platforms: &[workers::WorkerPlatformRow],
) -> Worker {
    let mut assembled: Vec<WorkerVersion> = versions
        .into_iter()
        .filter_map(|row| {
            let version = artifact::parse_version(&row.version)?;
            let metadata = match serde_json::from_str(&row.metadata) {
                Ok(metadata) => metadata,
                Err(error) => {
                    tracing::error!(worker_id = %row.worker_id, version = %row.version, %error, "stored worker metadata does not parse");
                    return None;
                }
            };
            let packages = platforms
                .iter()
                .filter(|p| p.version == row.version)
                .filter_map(|p| {
                    Some(PlatformPackage {
                        platform: Platform::parse(&p.platform).ok()?,
                        manifest_digest: p.manifest_digest.clone(),
                        package_digest: p.package_digest.clone(),
                        package_size: p.package_size as u64,
                    })
                })
                .collect();
            Some(WorkerVersion {
                version,
                index_digest: row.index_digest,
                metadata,
                platforms: packages,
                indexed_at: row.indexed_at,
            })
        })
        .collect();
    assembled.sort_by(|a, b| a.version.cmp(&b.version));
    Worker {
        id: worker_id,
        versions: assembled,
    }
}
