//! Reading workers: the list and one worker (registry versions merged with the catalog
//! records), their version lists, not-found errors naming what exists, and PKGBUILDs.
use std::collections::{BTreeMap, BTreeSet};

use super::{PlatformPackage, VersionList, Worker, WorkerError, WorkerFilter, WorkerList, WorkerVersion};
use crate::artifact::{self, Platform, WorkerId, PKGBUILD_ARTIFACT_TYPE, PKGBUILD_MEDIA_TYPE};
use crate::db::{manifests, workers};
use crate::oci::Digest;
use crate::services::catalog::CatalogRecord;
use crate::services::Registry;

impl Registry {
    /// Every worker (with a version in the registry, a listed catalog branch, or both), by
    /// id, optionally filtered on its merged record; borrowed from the held list.
    pub async fn list_workers(&self, filter: &WorkerFilter) -> Result<WorkerList, WorkerError> {
        let all = self.all_workers().await?;
        Ok(WorkerList::picking(all, |worker| worker.matches(filter)))
    }

    /// The merged list of every worker: the one held in memory while the list generation is
    /// the one it was read at (`list_cache`), else read anew.
    async fn all_workers(&self) -> Result<std::sync::Arc<Vec<Worker>>, WorkerError> {
        // Read before the list: the list read afterwards is at least this current.
        let generation = workers::list_generation(self.db.reader()).await?;
        if let Some(held) = self.worker_list.get(generation) {
            return Ok(held);
        }
        let list = std::sync::Arc::new(self.read_all_workers().await?);
        self.worker_list.put(generation, list.clone());
        Ok(list)
    }

    /// Reads and merges every worker's version rows, platforms and catalog record.
    async fn read_all_workers(&self) -> Result<Vec<Worker>, WorkerError> {
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
            if let Some(worker) = Worker::merge(worker_id, versions, record.as_ref()) {
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
