//! Queries on `worker_policies` (whether a worker needs a license, and who said so) and
//! `url_signing_keys` (the key of the registry's self-signed download URLs).

use super::DbError;
use sqlx::{Any, Executor, Row};

use crate::artifact::WorkerId;

/// A worker's access policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPolicyRow {
    pub worker_id: String,
    pub requires_license: bool,
    /// `admin` or `catalog`.
    pub source: String,
    pub updated_at: i64,
}

/// Sets (or replaces) a worker's policy.
pub async fn upsert<'c, E>(
    executor: E,
    worker_id: &WorkerId,
    requires_license: bool,
    source: &str,
    now: i64,
) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO worker_policies (worker_id, requires_license, source, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (worker_id) DO UPDATE SET requires_license = excluded.requires_license, \
         source = excluded.source, updated_at = excluded.updated_at",
    )
    .bind(worker_id.as_str())
    .bind(i64::from(requires_license))
    .bind(source)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// The policy of one worker (by its id as text), if one was set.
pub async fn find<'c, E>(executor: E, worker_id: &str) -> Result<Option<WorkerPolicyRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row =
        sqlx::query("SELECT worker_id, requires_license, source, updated_at FROM worker_policies WHERE worker_id = $1")
            .bind(worker_id)
            .fetch_optional(executor)
            .await?;
    row.map(|row| {
        Ok(WorkerPolicyRow {
            worker_id: row.try_get(0)?,
            requires_license: row.try_get::<i64, _>(1)? != 0,
            source: row.try_get(2)?,
            updated_at: row.try_get(3)?,
        })
    })
    .transpose()
}

/// The stored URL-signing secret, if any (one row, id 1).
pub async fn url_signing_secret<'c, E>(executor: E) -> Result<Option<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("SELECT secret FROM url_signing_keys WHERE id = 1")
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Stores `candidate` as the URL-signing secret unless one is stored (the first process to
/// store one wins; every process then reads the same).
pub async fn insert_url_signing_secret<'c, E>(executor: E, candidate: &str, now: i64) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query("INSERT INTO url_signing_keys (id, secret, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(candidate)
        .bind(now)
        .execute(executor)
        .await?;
    Ok(())
}
