//! Queries on `mirror_state` and `mirror_transfers` (migration 0010): what each mirror run
//! did per upstream and repository, and the blob copies in progress that a later run resumes.

use sqlx::{Any, Executor, Row};

use super::DbError;

/// The state of one repository of one upstream after the last run that looked at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorStateRow {
    pub upstream: String,
    pub repository: String,
    pub last_started_at: i64,
    pub last_finished_at: i64,
    /// `ok` or `failed`.
    pub last_result: String,
    pub last_error: Option<String>,
    pub last_success_at: Option<i64>,
    /// Since when tags of the upstream have not been brought here; `None`: caught up.
    pub behind_since: Option<i64>,
    pub manifests_copied: i64,
    pub blobs_copied: i64,
    pub bytes_copied: i64,
    pub skipped: i64,
}

/// A finished run of one repository, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRun<'a> {
    pub upstream: &'a str,
    pub repository: &'a str,
    pub started_at: i64,
    pub finished_at: i64,
    /// `None`: it succeeded.
    pub error: Option<&'a str>,
    pub manifests_copied: i64,
    pub blobs_copied: i64,
    pub bytes_copied: i64,
    pub skipped: i64,
}

const STATE_COLUMNS: &str = "upstream, repository, last_started_at, last_finished_at, last_result, last_error, \
                             last_success_at, behind_since, manifests_copied, blobs_copied, bytes_copied, skipped";

fn state_row(row: &sqlx::any::AnyRow) -> Result<MirrorStateRow, DbError> {
    Ok(MirrorStateRow {
        upstream: row.try_get(0)?,
        repository: row.try_get(1)?,
        last_started_at: row.try_get(2)?,
        last_finished_at: row.try_get(3)?,
        last_result: row.try_get(4)?,
        last_error: row.try_get(5)?,
        last_success_at: row.try_get(6)?,
        behind_since: row.try_get(7)?,
        manifests_copied: row.try_get(8)?,
        blobs_copied: row.try_get(9)?,
        bytes_copied: row.try_get(10)?,
        skipped: row.try_get(11)?,
    })
}

/// Records a repository's run: a success clears `behind_since` and sets `last_success_at`;
/// a failure keeps the earliest `behind_since` (or starts it at the run's start).
pub async fn record_run<'c, E>(executor: E, run: &RepositoryRun<'_>) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    let succeeded = i64::from(run.error.is_none());
    sqlx::query(
        "INSERT INTO mirror_state (upstream, repository, last_started_at, last_finished_at, last_result, last_error, \
         last_success_at, behind_since, manifests_copied, blobs_copied, bytes_copied, skipped) \
         VALUES ($1, $2, $3, $4, CASE WHEN $5 = 1 THEN 'ok' ELSE 'failed' END, $6, \
         CASE WHEN $5 = 1 THEN $4 ELSE NULL END, CASE WHEN $5 = 1 THEN NULL ELSE $3 END, $7, $8, $9, $10) \
         ON CONFLICT (upstream, repository) DO UPDATE SET \
         last_started_at = excluded.last_started_at, last_finished_at = excluded.last_finished_at, \
         last_result = excluded.last_result, last_error = excluded.last_error, \
         last_success_at = CASE WHEN $5 = 1 THEN excluded.last_finished_at ELSE mirror_state.last_success_at END, \
         behind_since = CASE WHEN $5 = 1 THEN NULL ELSE COALESCE(mirror_state.behind_since, excluded.last_started_at) END, \
         manifests_copied = excluded.manifests_copied, blobs_copied = excluded.blobs_copied, \
         bytes_copied = excluded.bytes_copied, skipped = excluded.skipped",
    )
    .bind(run.upstream)
    .bind(run.repository)
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(succeeded)
    .bind(run.error)
    .bind(run.manifests_copied)
    .bind(run.blobs_copied)
    .bind(run.bytes_copied)
    .bind(run.skipped)
    .execute(executor)
    .await?;
    Ok(())
}

/// Every repository of every upstream, by upstream then repository.
pub async fn list_states<'c, E>(executor: E) -> Result<Vec<MirrorStateRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(&format!(
        "SELECT {STATE_COLUMNS} FROM mirror_state ORDER BY upstream, repository"
    ))
    .fetch_all(executor)
    .await?;
    rows.iter().map(state_row).collect()
}

/// A blob copy in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    pub upstream: String,
    pub repository: String,
    pub digest: String,
    pub session_id: String,
    pub size: i64,
    pub received: i64,
    pub updated_at: i64,
}

/// The transfer of `digest` into `repository` from `upstream`, if one was started.
pub async fn find_transfer<'c, E>(
    executor: E,
    upstream: &str,
    repository: &str,
    digest: &str,
) -> Result<Option<TransferRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT upstream, repository, digest, session_id, size, received, updated_at FROM mirror_transfers \
         WHERE upstream = $1 AND repository = $2 AND digest = $3",
    )
    .bind(upstream)
    .bind(repository)
    .bind(digest)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(transfer_row).transpose()
}

fn transfer_row(row: &sqlx::any::AnyRow) -> Result<TransferRow, DbError> {
    Ok(TransferRow {
        upstream: row.try_get(0)?,
        repository: row.try_get(1)?,
        digest: row.try_get(2)?,
        session_id: row.try_get(3)?,
        size: row.try_get(4)?,
        received: row.try_get(5)?,
        updated_at: row.try_get(6)?,
    })
}

/// Every blob copy in progress (or left by a run that stopped).
pub async fn list_transfers<'c, E>(executor: E) -> Result<Vec<TransferRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT upstream, repository, digest, session_id, size, received, updated_at FROM mirror_transfers \
         ORDER BY upstream, repository, digest",
    )
    .fetch_all(executor)
    .await?;
    rows.iter().map(transfer_row).collect()
}

/// Starts (or restarts with a new session) the transfer of a blob.
pub async fn start_transfer<'c, E>(executor: E, transfer: &TransferRow) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO mirror_transfers (upstream, repository, digest, session_id, size, received, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (upstream, repository, digest) DO UPDATE SET \
         session_id = excluded.session_id, size = excluded.size, received = excluded.received, \
         updated_at = excluded.updated_at",
    )
    .bind(&transfer.upstream)
    .bind(&transfer.repository)
    .bind(&transfer.digest)
    .bind(&transfer.session_id)
    .bind(transfer.size)
    .bind(transfer.received)
    .bind(transfer.updated_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// Records the bytes a transfer's session holds now.
pub async fn advance_transfer<'c, E>(
    executor: E,
    upstream: &str,
    repository: &str,
    digest: &str,
    received: i64,
    now: i64,
) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "UPDATE mirror_transfers SET received = $4, updated_at = $5 \
         WHERE upstream = $1 AND repository = $2 AND digest = $3",
    )
    .bind(upstream)
    .bind(repository)
    .bind(digest)
    .bind(received)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Forgets a transfer (its blob is stored, or its session is gone).
pub async fn remove_transfer<'c, E>(executor: E, upstream: &str, repository: &str, digest: &str) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query("DELETE FROM mirror_transfers WHERE upstream = $1 AND repository = $2 AND digest = $3")
        .bind(upstream)
        .bind(repository)
        .bind(digest)
        .execute(executor)
        .await?;
    Ok(())
}
