//! `catalog init` and `catalog add`: the catalog without GitHub. Both write the local
//! repository (`<data_dir>/catalog.git`) with gix and are safe while `serve` runs (each ref
//! moves by compare-and-swap); `add` then applies the catalog to the database as a sync
//! would.

use serde::Serialize;

use super::sync::{check_metadata, SyncReport};
use super::CatalogError;
use crate::artifact::WorkerId;
use crate::git::write::{add_worker, init_catalog, WorkerFiles};
use crate::services::Registry;

/// What `catalog add` did.
#[derive(Debug, Clone, Serialize)]
pub struct AddReport {
    pub commit: String,
    pub branch_changed: bool,
    pub index_changed: bool,
    pub sync: SyncReport,
}

impl Registry {
    /// Creates the catalog repository; false when it existed already.
    pub async fn init_catalog(&self) -> Result<bool, CatalogError> {
        if let Some(source) = &self.catalog.source {
            return Err(CatalogError::RemoteSource(source.display_name()));
        }
        let repo_dir = self.catalog.repo_dir.clone();
        Ok(tokio::task::spawn_blocking(move || init_catalog(&repo_dir))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))??)
    }

    /// Commits a worker's branch (its metadata checked first: nothing is written for a
    /// record that would not be applied), names it in the index and applies the catalog.
    pub async fn add_catalog_worker(
        &self,
        worker_id: &WorkerId,
        metadata: Vec<u8>,
        pkgbuild: Option<Vec<u8>>,
        readme: Option<Vec<u8>>,
    ) -> Result<AddReport, CatalogError> {
        if let Some(source) = &self.catalog.source {
            return Err(CatalogError::RemoteSource(source.display_name()));
        }
        check_metadata(worker_id.as_str(), &metadata).map_err(CatalogError::InvalidWorker)?;
        for (name, bytes) in [("PKGBUILD", &pkgbuild), ("README.md", &readme)] {
            if let Some(bytes) = bytes {
                if std::str::from_utf8(bytes).is_err() {
                    return Err(CatalogError::InvalidWorker(format!("{name} is not UTF-8 text")));
                }
                if bytes.len() as u64 > crate::git::MAX_FILE_BYTES {
                    return Err(CatalogError::InvalidWorker(format!(
                        "{name} is {} bytes; files in the catalog are at most {} bytes",
                        bytes.len(),
                        crate::git::MAX_FILE_BYTES
                    )));
                }
            }
        }
        let repo_dir = self.catalog.repo_dir.clone();
        let id = worker_id.to_string();
        let files = WorkerFiles {
            metadata,
            pkgbuild,
            readme,
        };
        let outcome = tokio::task::spawn_blocking(move || add_worker(&repo_dir, &id, &files))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))??;
        let sync = self.apply_local_catalog().await?;
        Ok(AddReport {
            commit: outcome.commit,
            branch_changed: outcome.branch_changed,
            index_changed: outcome.index_changed,
            sync,
        })
    }
}
