//! What mirror runs recorded, as every process sees it (`mirror_state`, `mirror_transfers`):
//! for `GET /v1/mirrors`, the `rbee_mirror_*` series of `/metrics` and the `mirrors` field
//! of `/readyz`.

use std::time::{Duration, SystemTime};

use super::Registry;
use crate::db::{mirrors, now_millis};
use crate::observability::MirrorRecord;
use crate::services::RegistryError;

fn time_of(millis: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

/// One repository of one upstream after its last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorState {
    pub upstream: String,
    pub repository: String,
    pub last_started_at: SystemTime,
    pub last_finished_at: SystemTime,
    pub succeeded: bool,
    pub error: Option<String>,
    pub last_success_at: Option<SystemTime>,
    /// How long the repository has had upstream tags not brought here (zero: caught up).
    pub lag: Duration,
    pub manifests_copied: u64,
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    pub skipped: u64,
}

/// A blob copy in progress, or left by a run that stopped (the next run resumes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorTransfer {
    pub upstream: String,
    pub repository: String,
    pub digest: String,
    pub size: u64,
    pub received: u64,
    pub updated_at: SystemTime,
}

/// A mirrored repository whose last success is older than `mirror.stale_after` (or that
/// never succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleMirror {
    pub upstream: String,
    pub repository: String,
    pub last_success_at: Option<SystemTime>,
}

fn state_of(row: mirrors::MirrorStateRow, now: i64) -> MirrorState {
    MirrorState {
        succeeded: row.last_result == "ok",
        lag: row
            .behind_since
            .map(|since| Duration::from_millis(now.saturating_sub(since).max(0) as u64))
            .unwrap_or_default(),
        upstream: row.upstream,
        repository: row.repository,
        last_started_at: time_of(row.last_started_at),
        last_finished_at: time_of(row.last_finished_at),
        error: row.last_error,
        last_success_at: row.last_success_at.map(time_of),
        manifests_copied: row.manifests_copied.max(0) as u64,
        blobs_copied: row.blobs_copied.max(0) as u64,
        bytes_copied: row.bytes_copied.max(0) as u64,
        skipped: row.skipped.max(0) as u64,
    }
}

impl Registry {
    /// Every mirrored repository's state.
    pub async fn mirror_states(&self) -> Result<Vec<MirrorState>, RegistryError> {
        let now = now_millis();
        Ok(mirrors::list_states(self.db.reader())
            .await?
            .into_iter()
            .map(|row| state_of(row, now))
            .collect())
    }

    /// Blob copies in progress or left to resume.
    pub async fn mirror_transfers(&self) -> Result<Vec<MirrorTransfer>, RegistryError> {
        Ok(mirrors::list_transfers(self.db.reader())
            .await?
            .into_iter()
            .map(|row| MirrorTransfer {
                upstream: row.upstream,
                repository: row.repository,
                digest: row.digest,
                size: row.size.max(0) as u64,
                received: row.received.max(0) as u64,
                updated_at: time_of(row.updated_at),
            })
            .collect())
    }

    /// Mirrored repositories whose last success is older than the configured threshold.
    pub async fn stale_mirrors(&self) -> Result<Vec<StaleMirror>, RegistryError> {
        let cutoff = SystemTime::now()
            .checked_sub(self.mirror_stale_after)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(self
            .mirror_states()
            .await?
            .into_iter()
            .filter(|state| state.last_success_at.is_none_or(|at| at < cutoff))
            .map(|state| StaleMirror {
                upstream: state.upstream,
                repository: state.repository,
                last_success_at: state.last_success_at,
            })
            .collect())
    }

    /// The mirrors' state as `/metrics` shows it.
    pub async fn mirror_records(&self) -> Result<Vec<MirrorRecord>, RegistryError> {
        Ok(self
            .mirror_states()
            .await?
            .into_iter()
            .map(|state| MirrorRecord {
                upstream: state.upstream,
                repository: state.repository,
                last_run_succeeded: state.succeeded,
                last_success_at: state.last_success_at,
                lag_seconds: state.lag.as_secs_f64(),
                bytes_copied: state.bytes_copied,
                blobs_copied: state.blobs_copied,
            })
            .collect())
    }
}
