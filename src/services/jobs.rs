//! The job runner: periodic and triggered work (garbage collection, the catalog sync,
//! mirrors) with a lease in the database, so that with several processes on one database
//! each job runs in one of them at a time and every process sees its result.
//!
//! A [`Job`] is a name, an interval (or none: only when triggered) and an async function.
//! [`JobRunner::register`] creates the job's row in `job_leases` (if no process did) and starts
//! one task for it. The task ticks: it reads the job's row and, when the job looks takeable,
//! tries to take the lease with a compare-and-swap (`db::jobs::try_take`: the job is free and
//! due, or its holder's lease expired because that process died), runs the job while renewing the lease every third of its length, then
//! records the run (started, finished, outcome, message) on the row, releases the lease and
//! makes the job due again one interval after this run started. A process that finds the
//! lease held skips the tick. Between ticks a task sleeps until the job is due (at most
//! [`MAX_POLL`], so a trigger or an expired lease elsewhere is seen soon), or until
//! [`Registry::trigger_job`] in this process wakes it.
//!
//! What a job did in detail stays where its feature records it (garbage collection: `gc_runs`);
//! the row holds the outcome every job has. [`Registry::job_status`] reads it, and `/metrics`
//! renders every job's last success time from it at each scrape.
//!
//! Timing assumes the processes' clocks agree within a small part of the lease.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::gc::GcOptions;
use super::{Registry, RegistryError};
use crate::db::jobs::{self as queries, FinishedRun, JobRow};
use crate::db::now_millis;

mod status;

pub use status::{JobRun, JobStatus, RunningJob};

/// The name of the periodic garbage collection.
pub const GC_JOB: &str = "gc";
/// The catalog sync's job name.
pub const CATALOG_SYNC_JOB: &str = "catalog-sync";
/// Default length of a lease; a running job renews it every third of that.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Longest sleep between two looks at a job's row.
pub const MAX_POLL: Duration = Duration::from_secs(5);
/// Shortest sleep between two looks (a due job another runner holds, a database error).
const MIN_POLL: Duration = Duration::from_millis(20);
/// Longest message kept with a run.
const MAX_MESSAGE_CHARS: usize = 1000;

/// Why a job's run failed: a message for the log and the job's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure(pub String);

impl<E: std::error::Error> From<E> for JobFailure {
    fn from(error: E) -> Self {
        JobFailure(error.to_string())
    }
}

/// What a run returns: a short summary of what it did, or why it failed.
pub type JobResult = Result<String, JobFailure>;

type JobFn = Arc<dyn Fn() -> BoxFuture<'static, JobResult> + Send + Sync>;

/// A job: a name (the row's key, the same in every process), an interval and what it runs.
#[derive(Clone)]
pub struct Job {
    name: String,
    interval: Option<Duration>,
    first_run_now: bool,
    run: JobFn,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// A job run every `interval` (`None`, or zero: only when triggered), first one interval
    /// after its row is created; see [`Job::first_run_now`].
    pub fn new<F, Fut>(name: &str, interval: Option<Duration>, run: F) -> Job
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = JobResult> + Send + 'static,
    {
        Job {
            name: name.to_string(),
            interval: interval.filter(|interval| !interval.is_zero()),
            first_run_now: false,
            run: Arc::new(move || run().boxed()),
        }
    }

    /// Makes a new job due at once instead of one interval after its row is created.
    pub fn first_run_now(mut self) -> Job {
        self.first_run_now = true;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The periodic catalog sync (`Registry::sync_catalog`): every `interval`, the first at
    /// once. Each run applies the source's revision once whichever process runs it (the
    /// sync's compare-and-swap).
    pub fn catalog_sync(registry: Registry, interval: Duration) -> Job {
        Job::new(CATALOG_SYNC_JOB, Some(interval), move || {
            let registry = registry.clone();
            async move {
                let report = registry.sync_catalog().await?;
                Ok(format!(
                    "{:?}: revision {}, {} upserted, {} delisted, {} branch errors",
                    report.outcome,
                    report.revision,
                    report.upserted,
                    report.delisted,
                    report.branch_errors.len()
                ))
            }
        })
        .first_run_now()
    }

    /// The periodic garbage collection of `serve`: `Registry::collect_garbage`, which records
    /// each run's details in `gc_runs` as `rbee-registry gc` does.
    pub fn garbage_collection(registry: Registry, options: GcOptions, interval: Duration) -> Job {
        Job::new(GC_JOB, Some(interval), move || {
            let registry = registry.clone();
            let options = options.clone();
            async move {
                let report = registry.collect_garbage(&options).await?;
                Ok(format!(
                    "removed {} blobs, {} repository links, {} upload sessions, {} orphaned upload objects; {} bytes freed",
                    report.blobs.len(),
                    report.links,
                    report.uploads.len(),
                    report.orphaned_upload_objects,
                    report.bytes_freed
                ))
            }
        })
    }
}

/// Wakes this process's task of a job when [`Registry::trigger_job`] is called here; shared
/// by the clones of one `Registry`.
#[derive(Debug, Clone, Default)]
pub(super) struct JobSignals(Arc<Mutex<HashMap<String, Arc<Notify>>>>);

impl JobSignals {
    fn of(&self, name: &str) -> Arc<Notify> {
        let mut signals = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        signals.entry(name.to_string()).or_default().clone()
    }
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128 / 4) as i64
}

/// Runs registered jobs in this process, one task per job, each only while it holds the
/// job's lease. Dropping the runner aborts its tasks (a run in progress keeps its lease
/// until it expires, as when a process dies); [`JobRunner::stop`] and [`JobRunner::join`]
/// end it gracefully.
#[derive(Debug)]
pub struct JobRunner {
    registry: Registry,
    holder: String,
    lease: Duration,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl JobRunner {
    pub fn new(registry: Registry) -> JobRunner {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        JobRunner {
            registry,
            holder: format!("pid-{}-{}", std::process::id(), &unique[..12]),
            lease: DEFAULT_LEASE,
            stop: CancellationToken::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Leases of `lease` (renewed every third of it while a job runs); a job whose holder
    /// died is taken over that long after its last renewal at the latest.
    pub fn with_lease(mut self, lease: Duration) -> JobRunner {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// This runner's id, as the lease rows name it.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Creates the job's row if no process did and starts running it here.
    pub async fn register(&mut self, job: Job) -> Result<(), RegistryError> {
        let first = match (job.interval, job.first_run_now) {
            (_, true) => Some(now_millis()),
            (Some(interval), false) => Some(now_millis().saturating_add(millis(interval))),
            (None, false) => None,
        };
        queries::register(self.registry.db.writer(), &job.name, first).await?;
        let task = JobTask {
            signal: self.registry.jobs.of(&job.name),
            registry: self.registry.clone(),
            holder: self.holder.clone(),
            lease: self.lease,
            job,
        };
        self.tasks.spawn(task.run(self.stop.clone()));
        Ok(())
    }

    /// Starts no new runs; runs in progress go on (see [`JobRunner::join`]).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits for the tasks to end after [`JobRunner::stop`] (a run in progress finishes and
    /// records its outcome first). Dropping this future aborts what is left.
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// How long to sleep before looking at the job again: until it is due or its lease expires,
/// within [`MIN_POLL`]..=`poll`.
fn until_next_look(row: &JobRow, now: i64, poll: Duration) -> Duration {
    let next = match row.holder {
        Some(_) => row.expires_at,
        None => row.next_run_at,
    };
    let Some(next) = next else { return poll };
    let ahead = Duration::from_millis(next.saturating_sub(now).max(0) as u64);
    ahead.clamp(MIN_POLL, poll.max(MIN_POLL))
}

/// One job's loop in one runner.
struct JobTask {
    registry: Registry,
    holder: String,
    lease: Duration,
    job: Job,
    signal: Arc<Notify>,
}

impl JobTask {
    async fn run(self, stop: CancellationToken) {
        let name = self.job.name.as_str();
        let poll = self.job.interval.map_or(MAX_POLL, |interval| interval.min(MAX_POLL));
        loop {
            if stop.is_cancelled() {
                return;
            }
            // A read first: the compare-and-swap (a write) only when the job looks takeable.
            let wait = match queries::find(self.registry.db.reader(), name).await {
                Ok(Some(row)) => {
                    let now = now_millis();
                    if row.takeable(now) {
                        let expires = now.saturating_add(millis(self.lease));
                        match queries::try_take(self.registry.db.writer(), name, &self.holder, now, expires).await {
                            Ok(true) => {
                                self.run_once(now).await;
                                continue;
                            }
                            Ok(false) => MIN_POLL,
                            Err(error) => {
                                tracing::warn!(job = name, %error, "could not take the job's lease");
                                poll
                            }
                        }
                    } else {
                        until_next_look(&row, now, poll)
                    }
                }
                Ok(None) => poll,
                Err(error) => {
                    tracing::warn!(job = name, %error, "could not read the job's lease");
                    poll
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.signal.notified() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Runs the job under the lease taken at `started_at`, renewing it, then records the
    /// outcome and releases the lease.
    async fn run_once(&self, started_at: i64) {
        let name = self.job.name.as_str();
        tracing::debug!(job = name, holder = %self.holder, "job started");
        let run = AssertUnwindSafe((self.job.run)()).catch_unwind();
        tokio::pin!(run);
        let every = self.lease / 3;
        let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = renewals.tick() => {
                    let expires = now_millis().saturating_add(millis(self.lease));
                    match queries::renew(self.registry.db.writer(), name, &self.holder, expires).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job = name, "the job's lease was taken over while it ran"),
                        Err(error) => tracing::warn!(job = name, %error, "could not renew the job's lease"),
                    }
                }
            }
        };
        let (succeeded, message) = match outcome {
            Ok(Ok(summary)) => (true, summary),
            Ok(Err(JobFailure(error))) => (false, error),
            Err(_) => (false, "the job panicked".to_string()),
        };
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        if succeeded {
            tracing::info!(job = name, outcome = %message, "job finished");
        } else {
            tracing::warn!(job = name, error = %message, "job failed");
        }
        let finished = FinishedRun {
            started_at,
            finished_at: now_millis(),
            succeeded,
            message: &message,
            next_run_at: self
                .job
                .interval
                .map(|interval| started_at.saturating_add(millis(interval))),
        };
        for attempt in 1..=3 {
            match queries::finish(self.registry.db.writer(), name, &self.holder, &finished).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(
                        job = name,
                        "the job's lease was taken over while it ran; its outcome is not recorded"
                    );
                    return;
                }
                Err(error) if attempt < 3 => {
                    tracing::debug!(job = name, %error, "recording the job's run failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => {
                    tracing::warn!(job = name, %error, "could not record the job's run; its lease will expire")
                }
            }
        }
    }
}
