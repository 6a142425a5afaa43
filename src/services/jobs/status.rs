//! What every process sees of a job: its lease and last run ([`JobStatus`]), read from its
//! row in `job_leases`, and the trigger that makes it due now.

use std::time::{Duration, SystemTime};

use crate::db::jobs::{self as queries, JobRow};
use crate::db::now_millis;
use crate::observability::JobRecord;
use crate::services::{Registry, RegistryError};

/// A run in progress, as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    /// The runner holding the lease ([`JobRunner::holder`]).
    pub holder: String,
    pub since: SystemTime,
    pub lease_expires_at: SystemTime,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    pub succeeded: bool,
    /// What the run did, or why it failed.
    pub message: String,
}

/// A job's state, as every process sharing the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    pub name: String,
    /// The run in progress (its lease may have expired: a holder that died).
    pub running: Option<RunningJob>,
    /// When it is due next; `None`: only when triggered.
    pub next_run_at: Option<SystemTime>,
    pub last_run: Option<JobRun>,
    pub last_success_at: Option<SystemTime>,
    /// Finished runs, by any process.
    pub runs: u64,
}

fn time_of(millis: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

impl From<JobRow> for JobStatus {
    fn from(row: JobRow) -> Self {
        let running = match (row.holder, row.running_since, row.expires_at) {
            (Some(holder), Some(since), Some(expires)) => Some(RunningJob {
                holder,
                since: time_of(since),
                lease_expires_at: time_of(expires),
            }),
            _ => None,
        };
        let last_run = match (row.last_started_at, row.last_finished_at, row.last_succeeded) {
            (Some(started), Some(finished), Some(succeeded)) => Some(JobRun {
                started_at: time_of(started),
                finished_at: time_of(finished),
                succeeded,
                message: row.last_message.unwrap_or_default(),
            }),
            _ => None,
        };
        JobStatus {
            name: row.name,
            running,
            next_run_at: row.next_run_at.map(time_of),
            last_run,
            last_success_at: row.last_success_at.map(time_of),
            runs: row.runs.max(0) as u64,
        }
    }
}

impl Registry {
    /// The job's state (lease and last run), whichever process ran it; `None` for a job no
    /// runner on this database ever registered.
    pub async fn job_status(&self, name: &str) -> Result<Option<JobStatus>, RegistryError> {
        Ok(queries::find(self.db.reader(), name).await?.map(JobStatus::from))
    }

    /// Every registered job's state, by name.
    pub async fn job_statuses(&self) -> Result<Vec<JobStatus>, RegistryError> {
        Ok(queries::list(self.db.reader())
            .await?
            .into_iter()
            .map(JobStatus::from)
            .collect())
    }

    /// Every job's outcome for `/metrics`.
    pub async fn job_records(&self) -> Result<Vec<JobRecord>, RegistryError> {
        Ok(self
            .job_statuses()
            .await?
            .into_iter()
            .map(|status| JobRecord {
                last_run_succeeded: status.last_run.as_ref().map(|run| run.succeeded),
                running: status.running.is_some(),
                last_success_at: status.last_success_at,
                name: status.name,
            })
            .collect())
    }

    /// Makes the job due now: a runner of this process that has it starts at once, those of
    /// other processes at their next look (within [`MAX_POLL`](super::MAX_POLL)); a run in progress is
    /// followed by another. `false`: no runner ever registered the job.
    pub async fn trigger_job(&self, name: &str) -> Result<bool, RegistryError> {
        let known = queries::trigger(self.db.writer(), name, now_millis()).await?;
        if known {
            self.jobs.of(name).notify_one();
        }
        Ok(known)
    }
}
