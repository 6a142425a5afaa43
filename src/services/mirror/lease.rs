//! A one-off mirror run (`rbee-registry mirror`) under the job lease of its upstream
//! (`job_leases`, `services::jobs`): the same lease a `serve` job of that upstream takes, so
//! the two never copy at once. The command makes the job due, takes the lease with the same
//! compare-and-swap as the job runner (waiting while another holder runs it), renews it while
//! it runs, and records the run on the job's row; the row's next periodic run is kept (a row
//! without one is left due).

use std::future::Future;
use std::time::Duration;

use super::{MirrorError, Registry};
use crate::db::jobs::{self as queries, FinishedRun};
use crate::db::now_millis;

/// The command's lease: short, so a run killed with `kill -9` blocks the next one briefly.
const COMMAND_LEASE: Duration = Duration::from_secs(15);
/// Between two looks at a lease another process holds.
const WAIT: Duration = Duration::from_millis(500);

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128 / 4) as i64
}

impl Registry {
    /// Runs `work` holding the job `name`'s lease. `work` returns its result and the outcome
    /// recorded on the job's row (a summary, or the error).
    pub(super) async fn with_job_lease<R>(
        &self,
        name: &str,
        work: impl Future<Output = (Result<R, MirrorError>, Result<String, String>)>,
    ) -> Result<R, MirrorError> {
        let holder = format!(
            "mirror-pid-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        queries::register(self.db.writer(), name, None).await?;
        let mut waiting_logged = false;
        let (started_at, previous_due) = loop {
            let Some(row) = queries::find(self.db.reader(), name).await? else {
                return Err(MirrorError::Invalid(format!("the job {name} has no row")));
            };
            let now = now_millis();
            let held = row.holder.is_some() && row.expires_at.is_some_and(|expires| expires > now);
            if !held {
                queries::trigger(self.db.writer(), name, now).await?;
                let expires = now.saturating_add(millis(COMMAND_LEASE));
                if queries::try_take(self.db.writer(), name, &holder, now, expires).await? {
                    break (now, row.next_run_at);
                }
            } else if !waiting_logged {
                waiting_logged = true;
                tracing::info!(job = name, "another process runs this mirror; waiting for its lease");
            }
            tokio::time::sleep(WAIT).await;
        };
        tokio::pin!(work);
        let every = COMMAND_LEASE / 3;
        let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (result, outcome) = loop {
            tokio::select! {
                done = &mut work => break done,
                _ = renewals.tick() => {
                    let expires = now_millis().saturating_add(millis(COMMAND_LEASE));
                    if let Err(error) = queries::renew(self.db.writer(), name, &holder, expires).await {
                        tracing::warn!(job = name, %error, "could not renew the mirror's lease");
                    }
                }
            }
        };
        let (succeeded, message) = match outcome {
            Ok(summary) => (true, summary),
            Err(error) => (false, error),
        };
        let message: String = message.chars().take(1000).collect();
        let finished = FinishedRun {
            started_at,
            finished_at: now_millis(),
            succeeded,
            message: &message,
            // A periodic job of `serve` keeps its schedule; a row this command made becomes
            // due, so a `serve` job registered for it later runs.
            next_run_at: previous_due.or(Some(now_millis())),
        };
        if let Err(error) = queries::finish(self.db.writer(), name, &holder, &finished).await {
            tracing::warn!(job = name, %error, "could not record the mirror run on its job; its lease will expire");
        }
        result
    }
}
