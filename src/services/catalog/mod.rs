//! The Git catalog (spec/catalog.md): its settings, syncing it into the database
//! ([`Registry::sync_catalog`], `sync.rs`), writing it without GitHub (`catalog init`/`add`,
//! `write.rs`), the merge with what the registry stores (`merge.rs`) and the records the
//! worker APIs read ([`Registry::catalog_records`]).

pub mod merge;
mod sync;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use merge::{merge_metadata, Origin};
pub use sync::{CatalogStatus, SyncOutcome, SyncReport};
pub use write::AddReport;

use super::{Registry, RegistryError};
use crate::artifact::{WorkerId, WorkerMetadata};
use crate::db::{catalog, DbError};
use crate::git::fetch::CatalogSource;
use crate::git::{GitError, CATALOG_REPO_DIR};

/// Where the catalog lives and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSettings {
    /// `<data_dir>/catalog.git`: what the registry reads and serves.
    pub repo_dir: PathBuf,
    /// `catalog.source`; `None`: the local repository is the catalog itself (`catalog init`).
    source: Option<CatalogSource>,
    /// `catalog.interval`: how often `serve` syncs (`None`: only on request).
    pub interval: Option<Duration>,
    /// `catalog.webhook_secret`: the HMAC key of signed push webhooks.
    webhook_secret: Option<String>,
}

impl CatalogSettings {
    /// The settings of a registry whose data directory is `data_dir`. `source` is parsed here
    /// (an `http(s)://` URL or a path); a path naming the local repository itself means "no
    /// remote".
    pub fn new(
        data_dir: &Path,
        source: Option<&str>,
        interval: Option<Duration>,
        webhook_secret: Option<String>,
    ) -> Result<Self, String> {
        let repo_dir = data_dir.join(CATALOG_REPO_DIR);
        let source = source
            .filter(|text| !text.trim().is_empty())
            .map(CatalogSource::parse)
            .transpose()?
            .filter(|source| match source {
                CatalogSource::Local(path) => !same_path(path, &repo_dir),
                CatalogSource::Remote(_) => true,
            });
        Ok(CatalogSettings {
            repo_dir,
            source,
            interval,
            webhook_secret: webhook_secret.filter(|s| !s.is_empty()),
        })
    }

    /// The source as logs and the status show it (a URL without credentials).
    pub fn source_name(&self) -> String {
        match &self.source {
            Some(source) => source.display_name(),
            None => self.repo_dir.display().to_string(),
        }
    }

    /// The webhook secret's bytes, for the signature check.
    pub fn webhook_secret(&self) -> Option<&[u8]> {
        self.webhook_secret.as_deref().map(str::as_bytes)
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{0}")]
    InvalidWorker(String),
    #[error("this registry's catalog is synced from {0}; add the worker there and sync")]
    RemoteSource(String),
    #[error("the catalog task stopped: {0}")]
    Task(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<DbError> for CatalogError {
    fn from(error: DbError) -> Self {
        CatalogError::Registry(error.into())
    }
}

/// A worker's catalog branch as applied.
#[derive(Debug, Clone)]
pub struct CatalogRecord {
    pub worker_id: WorkerId,
    pub metadata: WorkerMetadata,
    pub pkgbuild: Option<String>,
    pub readme: Option<String>,
    /// The branch's commit the record came from (hex).
    pub branch_commit: String,
    /// When it was applied (milliseconds since the epoch).
    pub updated_at: i64,
}

fn record_of(row: catalog::CatalogWorkerRow) -> Option<CatalogRecord> {
    let worker_id = WorkerId::parse(&row.worker_id).ok()?;
    match serde_json::from_str(&row.metadata) {
        Ok(metadata) => Some(CatalogRecord {
            worker_id,
            metadata,
            pkgbuild: row.pkgbuild,
            readme: row.readme,
            branch_commit: row.branch_commit,
            updated_at: row.updated_at,
        }),
        Err(error) => {
            tracing::error!(worker_id = %row.worker_id, %error, "stored catalog metadata does not parse");
            None
        }
    }
}

impl Registry {
    /// The catalog's settings (the default ones of a registry opened without them: the
    /// catalog repository under the current directory's `data`, no remote).
    pub fn catalog_settings(&self) -> &CatalogSettings {
        &self.catalog
    }

    /// Every listed catalog worker, by id.
    pub async fn catalog_records(&self) -> Result<Vec<CatalogRecord>, DbError> {
        let rows = catalog::listed_workers(self.db.reader()).await?;
        Ok(rows.into_iter().filter_map(record_of).collect())
    }

    /// One listed catalog worker.
    pub async fn catalog_record(&self, worker_id: &WorkerId) -> Result<Option<CatalogRecord>, DbError> {
        let row = catalog::find_listed(self.db.reader(), worker_id).await?;
        Ok(row.and_then(record_of))
    }
}
