//! A sync: fetch (when the catalog has a remote source), read every named branch at its tip,
//! check each branch's `metadata.json`, and apply the whole reading in one transaction that
//! first moves the stored revision from the one it started from (a compare-and-swap), so a
//! revision is applied once however many processes sync at once, and a reader sees either
//! the previous catalog or the new one, never a mixture.
//!
//! A branch that cannot be used is reported (log, `/metrics`, `GET /v1/catalog/status`) and
//! the others are applied. A worker whose branch is still named but now broken keeps its last
//! good record; a worker whose branch is gone from the index or the repository is delisted
//! (its artifacts in the registry stay).

use serde::Serialize;

use super::{CatalogError, CatalogSettings};
use crate::artifact::metadata::describe;
use crate::artifact::{WorkerId, WorkerMetadata};
use crate::db::{catalog, now_millis, policies};
use crate::git::read::{read_catalog, CatalogSnapshot};
use crate::git::{fetch, GitError};
use crate::observability;
use crate::services::policies::PolicySource;
use crate::services::Registry;

/// What a sync did with the revision it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    /// This sync applied it.
    Applied,
    /// It was the applied revision already.
    Current,
    /// Another process applied a revision between this sync's reading and its transaction.
    AppliedElsewhere,
}

impl SyncOutcome {
    fn metric(self) -> &'static str {
        match self {
            SyncOutcome::Applied => "applied",
            SyncOutcome::Current => "current",
            SyncOutcome::AppliedElsewhere => "applied_elsewhere",
        }
    }
}

/// How often a sync that lost the compare-and-swap reads the state and the repository again.
const MAX_APPLY_ATTEMPTS: u32 = 5;

/// A branch the sync could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BranchError {
    pub branch: String,
    pub error: String,
}

/// The result of one sync.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub outcome: SyncOutcome,
    pub revision: String,
    pub master_commit: String,
    /// Workers inserted or changed (0 unless applied).
    pub upserted: u64,
    /// Workers delisted (0 unless applied).
    pub delisted: u64,
    pub branch_errors: Vec<BranchError>,
    pub unlisted: Vec<String>,
}

/// `GET /v1/catalog/status`: the applied revision and the last attempt, as stored (the same
/// for every process).
#[derive(Debug, Clone, Serialize)]
pub struct CatalogStatus {
    pub source: String,
    pub revision: Option<String>,
    pub commit: Option<String>,
    /// Milliseconds since the epoch.
    pub applied_at: Option<i64>,
    pub branch_errors: Vec<BranchError>,
    pub unlisted_branches: Vec<String>,
    pub attempted_at: Option<i64>,
    pub attempt_error: Option<String>,
    pub workers: u64,
}

/// A valid branch, ready to be written.
struct CheckedBranch {
    row: catalog::CatalogWorkerRow,
}

impl Registry {
    /// Fetches the catalog (when it has a remote source), reads it and applies it.
    pub async fn sync_catalog(&self) -> Result<SyncReport, CatalogError> {
        let settings = self.catalog.clone();
        let fetched = tokio::task::spawn_blocking(move || fetch(&settings))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()));
        match fetched {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(self.sync_failed(error.into()).await),
            Err(error) => return Err(self.sync_failed(error).await),
        }
        match self.apply_local_catalog().await {
            Ok(report) => Ok(report),
            Err(error) => Err(self.sync_failed(error).await),
        }
    }

    /// Reads the local catalog repository (no fetch) and applies it: the second half of a
    /// sync, and what `catalog add` does after committing. The stored revision is read
    /// *before* the repository, and the apply swaps from it: a revision another process
    /// applied after that makes this one lose (never overwrite it with an older reading);
    /// a loss reads both again, so the database ends at the repository's newest state.
    pub(super) async fn apply_local_catalog(&self) -> Result<SyncReport, CatalogError> {
        let mut attempts = 0;
        loop {
            let state = catalog::state(self.db.reader()).await?;
            let repo_dir = self.catalog.repo_dir.clone();
            let snapshot = tokio::task::spawn_blocking(move || read_catalog(&repo_dir))
                .await
                .map_err(|e| CatalogError::Task(e.to_string()))??;
            let report = self.apply_catalog(snapshot, state.revision).await?;
            if report.outcome != SyncOutcome::AppliedElsewhere || attempts == MAX_APPLY_ATTEMPTS {
                return Ok(self.finish_sync(report));
            }
            attempts += 1;
        }
    }

    async fn sync_failed(&self, error: CatalogError) -> CatalogError {
        tracing::warn!(%error, source = %self.catalog.source_name(), "catalog sync failed");
        observability::record_catalog_sync("failed", None);
        if let Err(record_error) =
            catalog::record_attempt(self.db.writer(), now_millis(), Some(&error.to_string())).await
        {
            tracing::warn!(%record_error, "the failed catalog sync could not be recorded");
        }
        error
    }

    /// Checks every branch of `snapshot` and applies the reading in one transaction, if the
    /// stored revision is still `expected`.
    async fn apply_catalog(
        &self,
        snapshot: CatalogSnapshot,
        expected: Option<String>,
    ) -> Result<SyncReport, CatalogError> {
        let now = now_millis();
        let mut branch_errors = Vec::new();
        let mut checked = Vec::new();
        // Workers that stay listed: every named branch that exists (a broken one keeps its
        // last good record).
        let mut kept = Vec::new();
        for branch in &snapshot.branches {
            let Some(commit) = &branch.commit else {
                branch_errors.push(error_of(&branch.name, branch.files.as_ref().err()));
                continue;
            };
            kept.push(branch.name.clone());
            let files = match &branch.files {
                Ok(files) => files,
                Err(error) => {
                    branch_errors.push(error_of(&branch.name, Some(error)));
                    continue;
                }
            };
            match check_metadata(&branch.name, &files.metadata) {
                Ok((metadata, json)) => checked.push(CheckedBranch {
                    row: catalog::CatalogWorkerRow {
                        worker_id: branch.name.clone(),
                        branch_commit: commit.clone(),
                        metadata: json,
                        pkgbuild: files.pkgbuild.clone(),
                        readme: files.readme.clone(),
                        requires_license: metadata.distribution.requires_license,
                        updated_at: now,
                    },
                }),
                Err(error) => branch_errors.push(BranchError {
                    branch: branch.name.clone(),
                    error,
                }),
            }
        }
        for error in &branch_errors {
            tracing::warn!(branch = %error.branch, error = %error.error, "catalog branch not applied");
        }
        if !snapshot.unlisted.is_empty() {
            tracing::info!(branches = ?snapshot.unlisted, "catalog branches the master index does not name; not read");
        }
        let mut report = SyncReport {
            outcome: SyncOutcome::Current,
            revision: snapshot.revision.clone(),
            master_commit: snapshot.master_commit.clone(),
            upserted: 0,
            delisted: 0,
            branch_errors,
            unlisted: snapshot.unlisted.clone(),
        };
        if expected.as_deref() == Some(snapshot.revision.as_str()) {
            catalog::record_attempt(self.db.writer(), now, None).await?;
            return Ok(report);
        }
        let errors_json = serde_json::to_string(&report.branch_errors).expect("errors serialize");
        let unlisted_json = serde_json::to_string(&report.unlisted).expect("names serialize");
        let applied = catalog::AppliedRevision {
            revision: &snapshot.revision,
            master_commit: &snapshot.master_commit,
            branch_errors: &errors_json,
            unlisted: &unlisted_json,
        };
        let mut transaction = self.db.begin().await?;
        if !catalog::claim_revision(&mut transaction, expected.as_deref(), &applied, now).await? {
            transaction.rollback().await?;
            report.outcome = SyncOutcome::AppliedElsewhere;
            return Ok(report);
        }
        for branch in &checked {
            let changed = catalog::upsert_worker(&mut transaction, &branch.row).await?;
            report.upserted += u64::from(changed);
            if changed {
                // The access policy follows the catalog's `distribution.requires_license`, in
                // the same transaction, so no reader sees the record without its policy. An
                // admin's `worker set-policy` holds until the worker's branch changes.
                let worker = WorkerId::parse(&branch.row.worker_id)
                    .map_err(|error| CatalogError::InvalidWorker(error.to_string()))?;
                policies::upsert(
                    &mut *transaction,
                    &worker,
                    branch.row.requires_license,
                    PolicySource::Catalog.as_str(),
                    now,
                )
                .await?;
            }
        }
        let kept_json = serde_json::to_string(&kept).expect("names serialize");
        report.delisted = catalog::delist_others(&mut transaction, &kept_json, now).await?;
        transaction.commit().await?;
        report.outcome = SyncOutcome::Applied;
        tracing::info!(
            revision = %report.revision, commit = %report.master_commit, upserted = report.upserted,
            delisted = report.delisted, branch_errors = report.branch_errors.len(), "catalog applied"
        );
        Ok(report)
    }

    fn finish_sync(&self, report: SyncReport) -> SyncReport {
        observability::record_catalog_sync(report.outcome.metric(), Some(report.branch_errors.len()));
        report
    }

    /// The applied revision, its per-branch errors and the last attempt.
    pub async fn catalog_status(&self) -> Result<CatalogStatus, CatalogError> {
        let state = catalog::state(self.db.reader()).await?;
        let workers = catalog::listed_workers(self.db.reader()).await?.len() as u64;
        Ok(CatalogStatus {
            source: self.catalog.source_name(),
            revision: state.revision,
            commit: state.master_commit,
            applied_at: state.applied_at,
            branch_errors: serde_json::from_str(&state.branch_errors).unwrap_or_default(),
            unlisted_branches: serde_json::from_str(&state.unlisted).unwrap_or_default(),
            attempted_at: state.attempted_at,
            attempt_error: state.attempt_error,
            workers,
        })
    }
}

fn error_of(branch: &str, error: Option<&String>) -> BranchError {
    BranchError {
        branch: branch.to_string(),
        error: error.cloned().unwrap_or_else(|| "unusable".into()),
    }
}

/// Parses a branch's metadata.json and checks that it names the branch's worker; returns the
/// record and its stored JSON.
pub(super) fn check_metadata(branch: &str, bytes: &[u8]) -> Result<(WorkerMetadata, String), String> {
    let metadata = WorkerMetadata::parse(bytes).map_err(|errors| format!("metadata.json: {}", describe(&errors)))?;
    if metadata.id != branch {
        return Err(format!(
            "metadata.json: id is {:?}, but the branch is {branch:?}",
            metadata.id
        ));
    }
    let json = serde_json::to_string(&metadata).expect("metadata serializes");
    Ok((metadata, json))
}

fn fetch(settings: &CatalogSettings) -> Result<(), GitError> {
    if let Some(source) = &settings.source {
        let outcome = fetch::fetch_into(&settings.repo_dir, source)?;
        if !outcome.updated.is_empty() || !outcome.deleted.is_empty() {
            tracing::info!(updated = ?outcome.updated, deleted = ?outcome.deleted, "catalog fetched");
        }
    }
    Ok(())
}
