//! Queries on `worker_stars`: one row per worker and credential holder that starred it.

use super::DbError;
use sqlx::{Any, Executor, Row};

use crate::artifact::WorkerId;

/// Stars `worker_id` for `holder`; `true` when the star is new, `false` when the holder had
/// already starred it (the row stays as it was).
pub async fn insert<'c, E>(executor: E, worker_id: &WorkerId, holder: &str, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let done = sqlx::query(
        "INSERT INTO worker_stars (worker_id, holder, starred_at) VALUES ($1, $2, $3) \
         ON CONFLICT (worker_id, holder) DO NOTHING",
    )
    .bind(worker_id.as_str())
    .bind(holder)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes `holder`'s star of `worker_id`; `true` when there was one.
pub async fn delete<'c, E>(executor: E, worker_id: &WorkerId, holder: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let done = sqlx::query("DELETE FROM worker_stars WHERE worker_id = $1 AND holder = $2")
        .bind(worker_id.as_str())
        .bind(holder)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// How many holders starred `worker_id`.
pub async fn count_of<'c, E>(executor: E, worker_id: &WorkerId) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT COUNT(*) FROM worker_stars WHERE worker_id = $1")
        .bind(worker_id.as_str())
        .fetch_one(executor)
        .await?;
    Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
}

/// The star count of every starred worker, by worker id (as text).
pub async fn counts<'c, E>(executor: E) -> Result<Vec<(String, u64)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT worker_id, COUNT(*) FROM worker_stars GROUP BY worker_id")
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get::<i64, _>(1)?.max(0) as u64)))
        .collect()
}
