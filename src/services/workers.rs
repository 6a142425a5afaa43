//! Workers: the rules of the worker catalog computed from what `/v2` stores.
//!
//! A semver tag of `workers/<id>` that points at a valid worker index (spec/worker-artifact.md)
//! is a worker version. When such a tag is pushed, [`Registry::prepare_worker_version`] checks
//! the index, its platform manifests, their image configs and the metadata layer, and the
//! manifest push records the result in the derived `worker_versions`/`worker_platforms`
//! tables in the tag's own transaction. Everything the catalog APIs answer is read from
//! those rows, the manifests and the blobs; [`Registry::rebuild_worker_index`] recomputes
//! the rows from the manifests alone.
//!
//! Worker ids arrive as [`WorkerId`] (parsed by the catalog routes or from a pushed
//! repository's name) and versions as `semver::Version`; `db::workers` turns them into text.
//! One download answer is one service call, [`Registry::download_worker`], which reads only
//! the rows of the one version it is asked about; version lists, PKGBUILDs and stats read
//! the version rows without their metadata records.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::TryStreamExt;

use super::analytics::{DownloadClient, DownloadLink};
use super::catalog::{merge_metadata, CatalogRecord, Origin};
use super::{PublicUrl, Registry, RegistryError};
use crate::artifact::{
    self, check_image_config, check_platform_manifest, check_worker_index, metadata::describe, Platform, WorkerId,
    WorkerMetadata, MAX_SMALL_BLOB_BYTES, PKGBUILD_ARTIFACT_TYPE, PKGBUILD_MEDIA_TYPE,
};
use crate::db::{blobs, downloads, manifests, now_millis, workers, Connection, DbError};
use crate::oci::{media_types, Digest, RepoName, Tag};
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
    /// A premium worker asked for without a license that covers it (`licensed`: a credential
    /// was presented, but it is invalid, revoked, expired or for other workers).
    #[error("worker {worker_id:?} requires a license")]
    LicenseRequired {
        worker_id: String,
        licensed: bool,
        purchase_url: Option<String>,
    },
    /// A self-signed download URL that is altered, malformed or expired (`expired`).
    #[error("{}", if *expired { "this download URL has expired; ask for a new one" } else { "this download URL is not valid" })]
    DownloadUrlRefused { expired: bool },
    /// A self-signed download URL whose blob the registry does not have (any more).
    #[error("the blob of this download URL is not stored")]
    DownloadUrlBlobUnknown,
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
    pub manifest_digest: Digest,
    pub package_digest: Digest,
    pub package_size: u64,
}

/// One version of a worker as the catalog sees it.
#[derive(Debug, Clone)]
pub struct WorkerVersion {
    pub version: semver::Version,
    pub index_digest: Digest,
    pub metadata: WorkerMetadata,
    pub platforms: Vec<PlatformPackage>,
    /// When the version's tag was indexed (milliseconds since the epoch).
    pub indexed_at: i64,
}

/// A worker: its versions in the registry (oldest first, semver order; none for a worker
/// only the Git catalog has) and its record, merged from its catalog branch and its latest
/// version by `catalog::merge_metadata` (spec/catalog.md, "Truth rules").
#[derive(Debug, Clone)]
pub struct Worker {
    pub id: WorkerId,
    pub versions: Vec<WorkerVersion>,
    /// The merged record.
    pub metadata: WorkerMetadata,
    pub origin: Origin,
    /// The catalog branch's facts, when the worker has one.
    pub catalog: Option<CatalogFacts>,
}

/// What a worker's catalog branch adds beside the merged record.
#[derive(Debug, Clone)]
pub struct CatalogFacts {
    pub branch_commit: String,
    pub has_pkgbuild: bool,
    pub readme: Option<String>,
    /// When the branch was applied (milliseconds since the epoch).
    pub updated_at: i64,
}

impl Worker {
    /// Merges a worker's catalog record and registry versions; `None` when it has neither.
    pub fn merge(id: WorkerId, versions: Vec<WorkerVersion>, catalog: Option<&CatalogRecord>) -> Option<Self> {
        let latest = latest_of(&versions).map(|v| &v.metadata);
        let (metadata, origin) = merge_metadata(catalog.map(|c| &c.metadata), latest)?;
        Some(Worker {
            id,
            versions,
            metadata,
            origin,
            catalog: catalog.map(|record| CatalogFacts {
                branch_commit: record.branch_commit.clone(),
                has_pkgbuild: record.pkgbuild.is_some(),
                readme: record.readme.clone(),
                updated_at: record.updated_at,
            }),
        })
    }

    /// The highest non-pre-release version (or the highest pre-release if there is none);
    /// `None` for a worker with no version in the registry.
    pub fn latest(&self) -> Option<&WorkerVersion> {
        latest_of(&self.versions)
    }

    /// When any of its versions was last indexed or its catalog branch last applied.
    pub fn updated_at(&self) -> i64 {
        let catalog = self.catalog.as_ref().map(|c| c.updated_at).unwrap_or(0);
        self.versions
            .iter()
            .map(|v| v.indexed_at)
            .max()
            .unwrap_or(0)
            .max(catalog)
    }

    pub fn version_names(&self) -> Vec<String> {
        self.versions.iter().map(|v| v.version.to_string()).collect()
    }

    /// The version old clients and v1 summaries show: the latest in the registry, else the
    /// one the catalog record declares.
    pub fn shown_version(&self) -> String {
        match self.latest() {
            Some(latest) => latest.version.to_string(),
            None => self.metadata.version.clone(),
        }
    }

    fn matches(&self, filter: &WorkerFilter) -> bool {
        let tag_matches = filter.tag.as_ref().is_none_or(|tag| self.metadata.tags.contains(tag));
        let type_matches = filter
            .worker_type
            .as_ref()
            .is_none_or(|t| &self.metadata.worker_type == t);
        tag_matches && type_matches
    }
}

fn latest_of(versions: &[WorkerVersion]) -> Option<&WorkerVersion> {
    let latest = artifact::latest_version(versions.iter().map(|v| &v.version)).cloned();
    versions
        .iter()
        .find(|v| Some(&v.version) == latest.as_ref())
        .or_else(|| versions.last())
}

/// The versions of a worker in semver order, and the latest as [`Worker::latest`] picks it
/// (none for a catalog-only worker, which has no version in the registry yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionList {
    pub versions: Vec<semver::Version>,
    pub latest: Option<semver::Version>,
}

/// Where one platform's package of a version is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadTarget {
    pub repository: RepoName,
    pub digest: Digest,
    pub size: u64,
    pub platform: Platform,
}

/// The answer to "where do I download this package": a URL, what the bytes hash to, their
/// size, and how long the URL stays valid when it expires at all (a presigned object-store
/// URL); the registry's own blob URLs do not expire, and then `expires_in` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerDownload {
    pub url: String,
    pub checksum: Digest,
    pub size: u64,
    pub expires_in: Option<Duration>,
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
    pub worker_id: WorkerId,
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
        tag: &Tag,
        media_type: &str,
        index: &[u8],
    ) -> Result<Option<PreparedWorkerVersion>, RegistryError> {
        if artifact::worker_id_of_repository(name.as_str()).is_none()
            || artifact::parse_version(tag.as_str()).is_none()
            || !media_types::is_index(media_type)
        {
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
            let Some(row) = manifests::find_by_digest(self.db.reader(), name, &entry.digest).await? else {
                return Err(RegistryError::ManifestBlobUnknown(entry.digest.clone()));
            };
            let manifest =
                check_platform_manifest(&entry.platform, &row.content).map_err(|e| invalid(e.to_string()))?;
            let config = self.read_small_blob(name, &manifest.config.digest).await?;
            check_image_config(&entry.platform, &config).map_err(|e| invalid(e.to_string()))?;
            if checked_metadata.insert(manifest.metadata.digest.clone()) {
                let bytes = self.read_small_blob(name, &manifest.metadata.digest).await?;
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

    /// Every worker (with a version in the registry, a listed catalog branch, or both), by
    /// id, optionally filtered on its merged record.
    pub async fn list_workers(&self, filter: &WorkerFilter) -> Result<Vec<Worker>, WorkerError> {
        let versions = workers::all_versions(self.db.reader()).await?;
        let platforms = workers::all_platforms(self.db.reader()).await?;
        let mut catalog: BTreeMap<String, CatalogRecord> = self
            .catalog_records()
            .await?
            .into_iter()
            .map(|record| (record.worker_id.to_string(), record))
            .collect();
        let mut by_worker: BTreeMap<String, Vec<workers::WorkerPlatformRow>> = BTreeMap::new();
        for (worker_id, platform) in platforms {
            by_worker.entry(worker_id).or_default().push(platform);
        }
        let mut grouped: BTreeMap<String, Vec<workers::WorkerVersionRow>> = BTreeMap::new();
        for version in versions {
            grouped.entry(version.worker_id.clone()).or_default().push(version);
        }
        for worker_id in catalog.keys() {
            grouped.entry(worker_id.clone()).or_default();
        }
        let mut listed = Vec::new();
        for (worker_id, versions) in grouped {
            let platforms = by_worker.remove(&worker_id).unwrap_or_default();
            let record = catalog.remove(&worker_id);
            let Ok(worker_id) = WorkerId::parse(&worker_id) else {
                tracing::error!(%worker_id, "an indexed worker id is not valid; not listed");
                continue;
            };
            let versions = assemble_versions(versions, &platforms);
            let Some(worker) = Worker::merge(worker_id, versions, record.as_ref()) else {
                continue;
            };
            if worker.matches(filter) {
                listed.push(worker);
            }
        }
        Ok(listed)
    }

    /// One worker with all its versions and its catalog record.
    pub async fn find_worker(&self, worker_id: &WorkerId) -> Result<Worker, WorkerError> {
        let versions = workers::versions_of(self.db.reader(), worker_id).await?;
        let platforms = if versions.is_empty() {
            Vec::new()
        } else {
            workers::platforms_of(self.db.reader(), worker_id).await?
        };
        let record = self.catalog_record(worker_id).await?;
        let versions = assemble_versions(versions, &platforms);
        match Worker::merge(worker_id.clone(), versions, record.as_ref()) {
            Some(worker) => Ok(worker),
            None => Err(self.worker_not_found(worker_id.as_str()).await),
        }
    }

    /// The error for a worker that does not exist (`worker_id` as the client wrote it, which
    /// may not even be a valid id), listing the workers that do.
    pub async fn worker_not_found(&self, worker_id: &str) -> WorkerError {
        let known = match workers::worker_ids(self.db.reader()).await {
            Ok(known) => known,
            Err(error) => return error.into(),
        };
        let catalog = match self.catalog_records().await {
            Ok(records) => records,
            Err(error) => return error.into(),
        };
        let mut known: BTreeSet<String> = known.into_iter().collect();
        known.extend(catalog.into_iter().map(|record| record.worker_id.to_string()));
        WorkerError::WorkerNotFound {
            worker_id: worker_id.to_string(),
            known: known.into_iter().collect(),
        }
    }

    /// The error for a version of `worker_id` that does not exist (`version` as the client
    /// wrote it, which may not even be a version), listing the versions that do; or the
    /// worker's own not-found error when it has none.
    pub async fn version_not_found(&self, worker_id: &WorkerId, version: &str) -> WorkerError {
        match self.version_indexes(worker_id).await {
            Ok(versions) => WorkerError::VersionNotFound {
                worker_id: worker_id.to_string(),
                version: version.to_string(),
                available: versions.iter().map(|(version, _)| version.to_string()).collect(),
            },
            Err(error) => error,
        }
    }

    /// The versions of a worker with their index digests, in semver order, from the version
    /// rows alone (no metadata record is read); the worker's not-found error when it has none.
    async fn version_indexes(&self, worker_id: &WorkerId) -> Result<Vec<(semver::Version, Digest)>, WorkerError> {
        let mut versions: Vec<(semver::Version, Digest)> = workers::version_indexes(self.db.reader(), worker_id)
            .await?
            .into_iter()
            .filter_map(|(name, index_digest)| Some((artifact::parse_version(&name)?, index_digest)))
            .collect();
        if versions.is_empty() {
            return Err(self.worker_not_found(worker_id.as_str()).await);
        }
        versions.sort();
        Ok(versions)
    }

    /// `GET /v1/workers/:id/versions`: the versions in semver order and the latest; a
    /// catalog-only worker (a listed branch, no version published) has none.
    pub async fn list_versions(&self, worker_id: &WorkerId) -> Result<VersionList, WorkerError> {
        let versions: Vec<semver::Version> = match self.version_indexes(worker_id).await {
            Ok(versions) => versions.into_iter().map(|(version, _)| version).collect(),
            Err(WorkerError::WorkerNotFound { .. }) if self.catalog_record(worker_id).await?.is_some() => {
                return Ok(VersionList {
                    versions: Vec::new(),
                    latest: None,
                });
            }
            Err(error) => return Err(error),
        };
        let latest = artifact::latest_version(&versions).cloned();
        Ok(VersionList { versions, latest })
    }

    /// Where the package of one platform of a version is. `platform` takes either spelling.
    /// Reads the platform rows of that one version only.
    pub async fn find_download(
        &self,
        worker_id: &WorkerId,
        version: &semver::Version,
        platform: Option<&str>,
    ) -> Result<DownloadTarget, WorkerError> {
        let rows = workers::packages_of_version(self.db.reader(), worker_id, version).await?;
        if rows.is_empty() {
            return Err(self.version_not_found(worker_id, &version.to_string()).await);
        }
        let packages: Vec<(Platform, &workers::VersionPackageRow)> = rows
            .iter()
            .filter_map(|row| Some((Platform::parse(&row.platform).ok()?, row)))
            .collect();
        let available: Vec<String> = packages.iter().map(|(platform, _)| platform_label(platform)).collect();
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
        let (platform, package) = packages
            .iter()
            .find(|(platform, _)| platform.satisfies(&wanted))
            .ok_or_else(not_found)?;
        Ok(DownloadTarget {
            repository: worker_id.repository(),
            digest: package.package_digest.clone(),
            size: package.package_size as u64,
            platform: platform.clone(),
        })
    }

    /// `GET /v1/workers/:id/:version/download`: the package of one platform of a version and
    /// where to fetch it. That is a presigned object-store URL when the store redirects
    /// downloads (counted now, since its bytes never pass through the registry), else a URL
    /// under `base_url` the registry signs itself (`services::signed_urls`; counted when a
    /// fetch of it completes). Either works without credentials until it expires. Whether
    /// the caller may download at all is `Registry::authorize_download`'s.
    pub async fn download_worker(
        &self,
        worker_id: &WorkerId,
        version: &semver::Version,
        platform: Option<&str>,
        base_url: &PublicUrl,
        client: DownloadClient,
    ) -> Result<WorkerDownload, WorkerError> {
        let target = self.find_download(worker_id, version, platform).await?;
        let link = self
            .download_link(&target.repository, &target.digest, client)
            .await
            .map_err(WorkerError::Registry)?;
        let (url, expires_in) = match link {
            DownloadLink::Presigned { url, expires_in } => (url, Some(expires_in)),
            DownloadLink::Registry => {
                let lifetime = self.licensing.download_url_expiry;
                let url = self
                    .signed_blob_url(base_url, &target.repository, &target.digest, lifetime)
                    .await?;
                (url, Some(lifetime))
            }
        };
        Ok(WorkerDownload {
            url,
            checksum: target.digest,
            size: target.size,
            expires_in,
        })
    }

    /// The worker's PKGBUILD: its catalog branch's, else the one attached to its latest
    /// version (a referrer of its index).
    pub async fn find_pkgbuild(&self, worker_id: &WorkerId) -> Result<String, WorkerError> {
        let record = self.catalog_record(worker_id).await?;
        if let Some(pkgbuild) = record.as_ref().and_then(|r| r.pkgbuild.clone()) {
            return Ok(pkgbuild);
        }
        let versions = match self.version_indexes(worker_id).await {
            Err(WorkerError::WorkerNotFound { .. }) if record.is_some() => {
                return Err(WorkerError::PkgbuildNotFound {
                    worker_id: worker_id.to_string(),
                })
            }
            other => other?,
        };
        let latest = artifact::latest_version(versions.iter().map(|(version, _)| version))
            .expect("a worker with versions has a latest one");
        let (_, latest_index_digest) = versions
            .iter()
            .find(|(version, _)| version == latest)
            .expect("the latest is one of the versions");
        let name = worker_id.repository();
        let referrers = manifests::referrers(
            self.db.reader(),
            &name,
            latest_index_digest,
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
        let Some(row) = manifests::find_by_digest(self.db.reader(), &name, &referrer.digest).await? else {
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

    /// Download counts of a worker, from the database (shared by every registry process);
    /// zero for a catalog-only worker.
    pub async fn worker_stats(&self, worker_id: &WorkerId) -> Result<WorkerStats, WorkerError> {
        // A catalog-only worker has no download yet; it was last updated by the catalog.
        let last_updated = match workers::last_indexed(self.db.reader(), worker_id).await? {
            Some(indexed) => indexed,
            None => match self.catalog_record(worker_id).await? {
                Some(record) => record.updated_at,
                None => return Err(self.worker_not_found(worker_id.as_str()).await),
            },
        };
        let mut stats = WorkerStats {
            last_updated,
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

fn assemble_versions(
    versions: Vec<workers::WorkerVersionRow>,
    platforms: &[workers::WorkerPlatformRow],
) -> Vec<WorkerVersion> {
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
    assembled
}
