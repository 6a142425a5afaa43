//! Queries on `gc_runs`: the outcome of each garbage-collection run, written by whichever
//! process ran it and read by every serving process for `/metrics`.

use super::DbError;
use sqlx::{Any, Executor, Row};

/// How many runs are kept; older rows are removed when a run is recorded.
pub const KEPT_RUNS: i64 = 1000;

/// One finished run, as stored. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRunRow {
    pub started_at: i64,
    pub finished_at: i64,
    pub succeeded: bool,
    pub blobs_removed: i64,
    pub links_removed: i64,
    pub upload_sessions_removed: i64,
    pub orphaned_upload_objects_removed: i64,
    pub freed_bytes: i64,
    pub error: Option<String>,
}

/// The latest run and when the latest successful one finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestGcRun {
    pub run: GcRunRow,
    pub last_success_at: Option<i64>,
}

pub async fn insert<'c, E>(executor: E, run: &GcRunRow) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO gc_runs (started_at, finished_at, succeeded, blobs_removed, links_removed, \
         upload_sessions_removed, orphaned_upload_objects_removed, freed_bytes, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(i64::from(run.succeeded))
    .bind(run.blobs_removed)
    .bind(run.links_removed)
    .bind(run.upload_sessions_removed)
    .bind(run.orphaned_upload_objects_removed)
    .bind(run.freed_bytes)
    .bind(run.error.as_deref())
    .execute(executor)
    .await?;
    Ok(())
}

/// Removes all but the newest [`KEPT_RUNS`] runs (by id, which grows with each insert).
pub async fn prune<'c, E>(executor: E) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM gc_runs WHERE id <= (SELECT MAX(id) FROM gc_runs) - $1")
        .bind(KEPT_RUNS)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}

/// The run that finished last (one indexed row), with the finish time of the last
/// successful run (an index lookup), or `None` before the first run.
pub async fn latest<'c, E>(executor: E) -> Result<Option<LatestGcRun>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT started_at, finished_at, succeeded, blobs_removed, links_removed, upload_sessions_removed, \
         orphaned_upload_objects_removed, freed_bytes, error, \
         (SELECT MAX(finished_at) FROM gc_runs WHERE succeeded = 1) \
         FROM gc_runs ORDER BY finished_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let succeeded: i64 = row.try_get(2)?;
    Ok(Some(LatestGcRun {
        run: GcRunRow {
            started_at: row.try_get(0)?,
            finished_at: row.try_get(1)?,
            succeeded: succeeded != 0,
            blobs_removed: row.try_get(3)?,
            links_removed: row.try_get(4)?,
            upload_sessions_removed: row.try_get(5)?,
            orphaned_upload_objects_removed: row.try_get(6)?,
            freed_bytes: row.try_get(7)?,
            error: row.try_get(8)?,
        },
        last_success_at: row.try_get(9)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    /// A fresh SQLite database in a file (an in-memory one would differ per connection).
    async fn database() -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("registry.db").display());
        (Database::connect(&url).await.unwrap(), dir)
    }

    fn run(finished_at: i64, succeeded: bool) -> GcRunRow {
        GcRunRow {
            started_at: finished_at - 10,
            finished_at,
            succeeded,
            blobs_removed: 2,
            links_removed: 3,
            upload_sessions_removed: 4,
            orphaned_upload_objects_removed: 5,
            freed_bytes: 6_000_000_000,
            error: (!succeeded).then(|| "storage error".to_string()),
        }
    }

    #[tokio::test]
    async fn latest_run_and_last_success() {
        let (db, _dir) = database().await;
        assert_eq!(latest(db.reader()).await.unwrap(), None);
        insert(db.writer(), &run(1_000, true)).await.unwrap();
        insert(db.writer(), &run(3_000, false)).await.unwrap();
        insert(db.writer(), &run(2_000, true)).await.unwrap();
        let found = latest(db.reader()).await.unwrap().unwrap();
        assert_eq!(found.run, run(3_000, false));
        assert_eq!(found.last_success_at, Some(2_000));
    }

    #[tokio::test]
    async fn only_the_newest_runs_are_kept() {
        let (db, _dir) = database().await;
        for i in 0..(KEPT_RUNS + 5) {
            insert(db.writer(), &run(1_000 + i, true)).await.unwrap();
        }
        assert_eq!(prune(db.writer()).await.unwrap(), 5);
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM gc_runs")
            .fetch_one(db.reader())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(count, KEPT_RUNS);
    }
}
