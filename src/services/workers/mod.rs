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
//!
//! By concern: this module holds the types and errors; `index` checks pushed worker versions
//! and writes (or rebuilds) the derived rows; `reads` answers the worker list, one worker,
//! version lists and PKGBUILDs (the whole list held in memory by `list_cache` while the
//! database's list generation is unchanged); `downloads` the download answers and counts.

mod browse;
mod downloads;
mod index;
mod list_cache;
mod reads;

pub use browse::{DailyDownloads, WorkerSearch};
pub use list_cache::{WorkerList, WorkerListCache};

pub(in crate::services) use index::record_worker_tag;

use std::collections::BTreeMap;
use std::time::Duration;

use super::catalog::{merge_metadata, CatalogRecord, Origin};
use super::RegistryError;
use crate::artifact::{self, Platform, WorkerId, WorkerMetadata};
use crate::db::{workers, DbError};
use crate::oci::{Digest, RepoName};

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
    /// A star asked for without a valid license or publisher token.
    #[error("a valid license or publisher token is required")]
    CredentialRefused,
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
    /// How many license or publisher token holders starred the worker.
    pub stars: u64,
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

/// The old name of a platform when it has one (`linux-aarch64`), else the OCI one.
pub fn platform_label(platform: &Platform) -> String {
    platform.legacy_name().unwrap_or_else(|| platform.to_string())
}
