//! Queries on `job_leases` (migration 0009): the lease each job runner takes before running
//! a job, and the record of the job's last run, shared by every process on the database.
//!
//! Every change of the lease is one conditional `UPDATE` (compare-and-swap): a runner holds a
//! job only if its `UPDATE` changed the row. Times are milliseconds since the Unix epoch, from
//! the caller's clock (processes sharing a database are assumed to agree on the time within a
//! small part of the lease).

use sqlx::{Any, Executor, Row};

use super::DbError;

/// A job's row: its lease and its last finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub name: String,
    /// The runner holding the lease, if any (it may have expired: see `expires_at`).
    pub holder: Option<String>,
    pub expires_at: Option<i64>,
    /// When the run in progress started.
    pub running_since: Option<i64>,
    /// When the job is due next; `None`: only when triggered.
    pub next_run_at: Option<i64>,
    pub last_started_at: Option<i64>,
    pub last_finished_at: Option<i64>,
    pub last_succeeded: Option<bool>,
    pub last_message: Option<String>,
    pub last_success_at: Option<i64>,
    /// Finished runs so far.
    pub runs: i64,
}

impl JobRow {
    /// Whether [`try_take`] at `now` could take the lease (the same condition as its
    /// `UPDATE`, which alone decides): free and due, or held under an expired lease.
    pub fn takeable(&self, now: i64) -> bool {
        match self.holder {
            None => self.next_run_at.is_some_and(|due| due <= now),
            Some(_) => self.expires_at.is_some_and(|expires| expires <= now),
        }
    }
}

/// How a finished run is recorded when its lease is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun<'a> {
    pub started_at: i64,
    pub finished_at: i64,
    pub succeeded: bool,
    pub message: &'a str,
    /// When the job is due next (`None`: only when triggered); a trigger that arrived while
    /// it ran wins.
    pub next_run_at: Option<i64>,
}

const COLUMNS: &str = "name, holder, expires_at, running_since, next_run_at, last_started_at, last_finished_at, \
                       last_succeeded, last_message, last_success_at, runs";

fn job_row(row: &sqlx::any::AnyRow) -> Result<JobRow, DbError> {
    let succeeded: Option<i64> = row.try_get(7)?;
    Ok(JobRow {
        name: row.try_get(0)?,
        holder: row.try_get(1)?,
        expires_at: row.try_get(2)?,
        running_since: row.try_get(3)?,
        next_run_at: row.try_get(4)?,
        last_started_at: row.try_get(5)?,
        last_finished_at: row.try_get(6)?,
        last_succeeded: succeeded.map(|value| value != 0),
        last_message: row.try_get(8)?,
        last_success_at: row.try_get(9)?,
        runs: row.try_get(10)?,
    })
}

/// Creates the job's row if it has none, due at `next_run_at`; an existing row (another
/// process registered the job first, or an earlier start) is left as it is.
pub async fn register<'c, E>(executor: E, name: &str, next_run_at: Option<i64>) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query("INSERT INTO job_leases (name, next_run_at, runs) VALUES ($1, $2, 0) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(next_run_at)
        .execute(executor)
        .await?;
    Ok(())
}

/// Takes the lease for `holder` until `expires_at` if the job is free and due at `now`, or
/// held under a lease that expired (its holder stopped without releasing it). `true`: taken.
pub async fn try_take<'c, E>(executor: E, name: &str, holder: &str, now: i64, expires_at: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "UPDATE job_leases SET holder = $2, expires_at = $4, running_since = $3, next_run_at = NULL \
         WHERE name = $1 AND ((holder IS NULL AND next_run_at <= $3) OR (holder IS NOT NULL AND expires_at <= $3))",
    )
    .bind(name)
    .bind(holder)
    .bind(now)
    .bind(expires_at)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Extends `holder`'s lease to `expires_at`. `false`: it no longer holds it.
pub async fn renew<'c, E>(executor: E, name: &str, holder: &str, expires_at: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("UPDATE job_leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .bind(expires_at)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Records `run` and releases `holder`'s lease. `false`: it no longer held it (another
/// runner took the job over), and nothing was written.
pub async fn finish<'c, E>(executor: E, name: &str, holder: &str, run: &FinishedRun<'_>) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "UPDATE job_leases SET holder = NULL, expires_at = NULL, running_since = NULL, \
         last_started_at = $3, last_finished_at = $4, last_succeeded = $5, last_message = $6, \
         last_success_at = CASE WHEN $5 = 1 THEN $4 ELSE last_success_at END, \
         runs = runs + 1, next_run_at = COALESCE(next_run_at, $7) \
         WHERE name = $1 AND holder = $2",
    )
    .bind(name)
    .bind(holder)
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(i64::from(run.succeeded))
    .bind(run.message)
    .bind(run.next_run_at)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Makes the job due at `now` (it runs at the next tick of a runner that has it). `false`:
/// no runner ever registered a job of that name.
pub async fn trigger<'c, E>(executor: E, name: &str, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("UPDATE job_leases SET next_run_at = $2 WHERE name = $1")
        .bind(name)
        .bind(now)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The job's row, if it was ever registered.
pub async fn find<'c, E>(executor: E, name: &str) -> Result<Option<JobRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM job_leases WHERE name = $1"))
        .bind(name)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(job_row).transpose()
}

/// Every job's row, by name.
pub async fn list<'c, E>(executor: E) -> Result<Vec<JobRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM job_leases ORDER BY name"))
        .fetch_all(executor)
        .await?;
    rows.iter().map(job_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    async fn database() -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("registry.db").display());
        (Database::connect(&url).await.unwrap(), dir)
    }

    fn run(started_at: i64, succeeded: bool, next_run_at: Option<i64>) -> FinishedRun<'static> {
        FinishedRun {
            started_at,
            finished_at: started_at + 5,
            succeeded,
            message: if succeeded { "done" } else { "failed" },
            next_run_at,
        }
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_expired_leases_are_taken_over() {
        let (db, _dir) = database().await;
        let w = db.writer();
        register(w, "job", Some(100)).await.unwrap();
        register(w, "job", Some(999_999)).await.unwrap();
        let row = find(db.reader(), "job").await.unwrap().unwrap();
        assert!(!row.takeable(99) && row.takeable(100));
        assert!(!try_take(w, "job", "a", 99, 1_099).await.unwrap(), "not due yet");
        assert!(try_take(w, "job", "a", 100, 1_100).await.unwrap());
        assert!(!try_take(w, "job", "b", 200, 1_200).await.unwrap(), "held");
        assert!(renew(w, "job", "a", 2_000).await.unwrap());
        assert!(!renew(w, "job", "b", 3_000).await.unwrap());
        assert!(!try_take(w, "job", "b", 1_500, 2_500).await.unwrap(), "renewed");
        let row = find(db.reader(), "job").await.unwrap().unwrap();
        assert!(!row.takeable(1_999) && row.takeable(2_000));
        // The holder stops renewing: after expiry another runner takes over, and the first
        // one's late release changes nothing.
        assert!(try_take(w, "job", "b", 2_000, 3_000).await.unwrap());
        assert!(!finish(w, "job", "a", &run(100, true, Some(5_000))).await.unwrap());
        let row = find(db.reader(), "job").await.unwrap().unwrap();
        assert_eq!(
            (row.holder.as_deref(), row.running_since, row.runs),
            (Some("b"), Some(2_000), 0)
        );
        assert!(finish(w, "job", "b", &run(2_000, false, Some(5_000))).await.unwrap());
        let row = find(db.reader(), "job").await.unwrap().unwrap();
        assert_eq!(row.holder, None);
        assert_eq!(row.next_run_at, Some(5_000));
        assert_eq!(row.last_succeeded, Some(false));
        assert_eq!(row.last_success_at, None);
        assert_eq!(row.runs, 1);
        assert!(try_take(w, "job", "a", 5_000, 6_000).await.unwrap());
        assert!(finish(w, "job", "a", &run(5_000, true, None)).await.unwrap());
        let row = find(db.reader(), "job").await.unwrap().unwrap();
        assert_eq!((row.last_success_at, row.next_run_at, row.runs), (Some(5_005), None, 2));
        assert_eq!(row.last_message.as_deref(), Some("done"));
        assert!(
            !try_take(w, "job", "a", i64::MAX - 1, i64::MAX).await.unwrap(),
            "never due"
        );
    }

    #[tokio::test]
    async fn a_trigger_during_a_run_is_kept() {
        let (db, _dir) = database().await;
        let w = db.writer();
        assert!(!trigger(w, "job", 10).await.unwrap(), "unknown job");
        register(w, "job", None).await.unwrap();
        assert!(!try_take(w, "job", "a", 10, 1_000).await.unwrap());
        assert!(trigger(w, "job", 10).await.unwrap());
        assert!(try_take(w, "job", "a", 10, 1_000).await.unwrap());
        assert!(trigger(w, "job", 20).await.unwrap());
        assert!(finish(w, "job", "a", &run(10, true, Some(99_999))).await.unwrap());
        assert_eq!(find(db.reader(), "job").await.unwrap().unwrap().next_run_at, Some(20));
        assert_eq!(list(db.reader()).await.unwrap().len(), 1);
    }
}
