//! Downloads of worker packages: where a platform's package is, the download answer
//! (with its signed or presigned URL), and the download counts.

use super::{platform_label, DownloadTarget, WorkerDownload, WorkerError, WorkerStats};
use crate::artifact::{Platform, WorkerId};
use crate::db::{downloads, workers};
use crate::services::analytics::{DownloadClient, DownloadLink};
use crate::services::{PublicUrl, Registry};

impl Registry {
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
            stars: crate::db::stars::count_of(self.db.reader(), worker_id).await?,
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
