//! The v1 shapes (spec/openapi.yaml): the design document's fields as it names and types
//! them, and the catalog's own beside them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rfc3339;
use crate::artifact::metadata::{DeclaredPlatform, Dependencies, Distribution, Pricing};
use crate::artifact::{Platform, WorkerId, WorkerMetadata};
use crate::services::catalog::Origin;
use crate::services::workers::{platform_label, PlatformPackage, Worker, WorkerDownload, WorkerStats};

/// A platform stored for a version, in v1 answers: the design document's metadata.json
/// platform (`os`, `arch`, `binary_size`, `checksum`), the old name and the OCI one.
#[derive(Debug, Serialize)]
pub struct V1Platform {
    /// `linux-x86_64` (the OCI spelling for platforms the old API had no name for).
    pub name: String,
    /// `linux/amd64`.
    pub oci: String,
    /// The design's `os`: `linux`, `macos`, `windows` (the OCI os for others).
    pub os: String,
    /// The design's `arch`: `x86_64`, `aarch64` (the OCI architecture for others).
    pub arch: String,
    /// The OCI architecture: `amd64`, `arm64`.
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The package's size in bytes (for a worker without stored binaries: what its catalog
    /// record declares, absent when it declares none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_size: Option<u64>,
    /// The package's digest (likewise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl V1Platform {
    fn stored(p: &PlatformPackage) -> Self {
        V1Platform {
            name: platform_label(&p.platform),
            oci: p.platform.to_string(),
            os: p.platform.legacy_os().unwrap_or(&p.platform.os).to_string(),
            arch: p
                .platform
                .legacy_architecture()
                .unwrap_or(&p.platform.architecture)
                .to_string(),
            architecture: p.platform.architecture.clone(),
            variant: p.platform.variant.clone(),
            binary_size: Some(p.package_size),
            checksum: Some(p.package_digest.to_string()),
        }
    }

    /// A platform a catalog record declares (old names), for a worker without binaries.
    fn declared(p: &DeclaredPlatform) -> Self {
        let name = format!("{}-{}", p.os, p.arch);
        let platform = Platform::parse(&name).ok();
        V1Platform {
            oci: platform
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| name.clone()),
            architecture: platform
                .as_ref()
                .map(|p| p.architecture.clone())
                .unwrap_or_else(|| p.arch.clone()),
            variant: platform.and_then(|p| p.variant),
            name,
            os: p.os.clone(),
            arch: p.arch.clone(),
            binary_size: p.binary_size,
            checksum: p.checksum.clone(),
        }
    }
}

/// One worker in `GET /v1/workers`: the design document's metadata.json fields of its latest
/// version (`id` … `tags`, with `platforms` as stored), and the catalog's own.
#[derive(Debug, Serialize)]
pub struct V1WorkerSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The latest version (the design's `version`; also `latest_version`).
    pub version: String,
    pub license: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    pub distribution: Distribution,
    pub dependencies: Dependencies,
    pub features: Vec<String>,
    pub worker_type: String,
    pub implementation: String,
    pub latest_version: String,
    pub platforms: Vec<V1Platform>,
    pub tags: Vec<String>,
    pub requires_license: bool,
    /// The design's `pricing` (premium workers), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// `catalog-only` (a source-only worker: a catalog branch, no version in the registry),
    /// `registry-only` or `both`.
    pub origin: Origin,
    /// RFC 3339 time the worker last got a version or its catalog branch was last applied.
    pub updated_at: String,
}

impl V1WorkerSummary {
    pub fn of(worker: &Worker) -> Self {
        let metadata = &worker.metadata;
        let platforms = match worker.latest() {
            Some(latest) if !latest.platforms.is_empty() => latest.platforms.iter().map(V1Platform::stored).collect(),
            _ => metadata.platforms.iter().map(V1Platform::declared).collect(),
        };
        V1WorkerSummary {
            id: worker.id.to_string(),
            name: metadata.name.clone(),
            description: metadata.description.clone(),
            version: worker.shown_version(),
            license: metadata.license.clone(),
            author: metadata.author.clone(),
            homepage: metadata.homepage.clone(),
            distribution: metadata.distribution.clone(),
            dependencies: metadata.dependencies.clone(),
            features: metadata.features.clone(),
            worker_type: metadata.worker_type.clone(),
            implementation: metadata.implementation.clone(),
            latest_version: worker.shown_version(),
            platforms,
            tags: metadata.tags.clone(),
            requires_license: metadata.distribution.requires_license,
            pricing: metadata.pricing.clone(),
            origin: worker.origin,
            updated_at: rfc3339(worker.updated_at()),
        }
    }
}

/// The catalog branch of a worker in `GET /v1/workers/:id` (absent for a worker without one).
#[derive(Debug, Serialize)]
pub struct V1CatalogBranch {
    /// The branch's commit the record was applied from.
    pub commit: String,
    /// Whether the branch has a PKGBUILD (`/v1/workers/:id/pkgbuild` serves it).
    pub has_pkgbuild: bool,
    /// The branch's README.md, absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
}

impl V1CatalogBranch {
    pub fn of(worker: &Worker) -> Option<Self> {
        worker.catalog.as_ref().map(|facts| V1CatalogBranch {
            commit: facts.branch_commit.clone(),
            has_pkgbuild: facts.has_pkgbuild,
            readme: facts.readme.clone(),
        })
    }
}

/// `GET /v1/workers`.
#[derive(Debug, Serialize)]
pub struct V1WorkerList {
    pub workers: Vec<V1WorkerSummary>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// `GET /v1/workers/:id`: the summary, the version list and the latest metadata record.
#[derive(Debug, Serialize)]
pub struct V1WorkerDetail {
    #[serde(flatten)]
    pub summary: V1WorkerSummary,
    pub versions: Vec<String>,
    pub metadata: WorkerMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<V1CatalogBranch>,
}

/// `GET /v1/workers/:id/versions`: `latest` is null for a catalog-only worker.
#[derive(Debug, Serialize)]
pub struct V1Versions {
    pub versions: Vec<String>,
    pub latest: Option<String>,
}

/// `GET /v1/workers/:id/:version/download`: the design's `{download_url, checksum}`, the
/// package's size, and `expires_in` only when the URL expires (a presigned object-store
/// URL); the registry's own blob URLs do not, and then the field is absent.
#[derive(Debug, Serialize)]
pub struct V1Download {
    pub download_url: String,
    pub checksum: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

impl V1Download {
    pub fn of(download: WorkerDownload) -> Self {
        V1Download {
            download_url: download.url,
            checksum: download.checksum.to_string(),
            size: download.size,
            expires_in: download.expires_in.map(|lifetime| lifetime.as_secs()),
        }
    }
}

/// `GET /v1/workers/:id/stats`: the design's `{downloads, stars, last_updated}` as it names
/// and types them, and beside them the breakdowns and the last download.
#[derive(Debug, Serialize)]
pub struct V1Stats {
    pub worker_id: String,
    /// Completed package downloads, all versions and platforms.
    pub downloads: u64,
    /// License or publisher token holders who starred the worker (`PUT /v1/workers/:id/star`).
    pub stars: u64,
    /// RFC 3339 time the worker last got a version.
    pub last_updated: String,
    /// RFC 3339 time of the last counted download, null when there was none.
    pub last_download: Option<String>,
    pub downloads_by_version: BTreeMap<String, u64>,
    /// Keyed by the old platform name (`linux-x86_64`) where there is one.
    pub downloads_by_platform: BTreeMap<String, u64>,
}

impl V1Stats {
    pub fn of(worker_id: &WorkerId, stats: WorkerStats) -> Self {
        V1Stats {
            worker_id: worker_id.to_string(),
            downloads: stats.total,
            stars: stats.stars,
            last_updated: rfc3339(stats.last_updated),
            last_download: stats.last_download.map(rfc3339),
            downloads_by_version: stats.by_version,
            downloads_by_platform: stats.by_platform,
        }
    }
}
