//! Queries on `catalog_workers` and `catalog_state` (migration 0008): the applied Git
//! catalog. A sync applies a revision with [`claim_revision`] first in its transaction (a
//! compare-and-swap on the stored revision, so of two processes applying at once exactly one
//! does), then [`upsert_worker`] per valid branch and [`delist_others`].

use sqlx::{Any, AnyConnection, Executor, Row};

use super::{Backend, DbError};
use crate::artifact::WorkerId;

/// A worker branch as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogWorkerRow {
    pub worker_id: String,
    pub branch_commit: String,
    pub metadata: String,
    pub pkgbuild: Option<String>,
    pub readme: Option<String>,
    pub requires_license: bool,
    pub updated_at: i64,
}

/// The applied revision and the last attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogStateRow {
    pub revision: Option<String>,
    pub master_commit: Option<String>,
    pub applied_at: Option<i64>,
    /// JSON array of `{"branch", "error"}`.
    pub branch_errors: String,
    /// JSON array of branch names.
    pub unlisted: String,
    pub attempted_at: Option<i64>,
    pub attempt_error: Option<String>,
}

/// What a sync applies with a revision.
#[derive(Debug, Clone)]
pub struct AppliedRevision<'a> {
    pub revision: &'a str,
    pub master_commit: &'a str,
    pub branch_errors: &'a str,
    pub unlisted: &'a str,
}

pub async fn state<'c, E>(executor: E) -> Result<CatalogStateRow, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT revision, master_commit, applied_at, branch_errors, unlisted, attempted_at, attempt_error \
         FROM catalog_state WHERE id = 1",
    )
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else {
        return Ok(CatalogStateRow {
            branch_errors: "[]".into(),
            unlisted: "[]".into(),
            ..CatalogStateRow::default()
        });
    };
    Ok(CatalogStateRow {
        revision: row.try_get(0)?,
        master_commit: row.try_get(1)?,
        applied_at: row.try_get(2)?,
        branch_errors: row.try_get(3)?,
        unlisted: row.try_get(4)?,
        attempted_at: row.try_get(5)?,
        attempt_error: row.try_get(6)?,
    })
}

/// Moves the applied revision from `expected` (`None`: none applied yet) to `applied`; false
/// when the stored revision is no longer `expected` (another process applied one meanwhile),
/// and then nothing changed. Run it first in the applying transaction: on PostgreSQL it locks
/// the state row until commit, on SQLite the transaction holds the one writer.
pub async fn claim_revision(
    connection: &mut AnyConnection,
    expected: Option<&str>,
    applied: &AppliedRevision<'_>,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE catalog_state SET revision = $1, master_commit = $2, applied_at = $3, branch_errors = $4, \
         unlisted = $5, attempted_at = $3, attempt_error = NULL \
         WHERE id = 1 AND COALESCE(revision, '') = $6",
    )
    .bind(applied.revision)
    .bind(applied.master_commit)
    .bind(now)
    .bind(applied.branch_errors)
    .bind(applied.unlisted)
    .bind(expected.unwrap_or(""))
    .execute(&mut *connection)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records an attempt that applied nothing: `error` says why (`None`: the revision was
/// applied already).
pub async fn record_attempt<'c, E>(executor: E, now: i64, error: Option<&str>) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query("UPDATE catalog_state SET attempted_at = $1, attempt_error = $2 WHERE id = 1")
        .bind(now)
        .bind(error)
        .execute(executor)
        .await?;
    Ok(())
}

/// Inserts or updates a worker branch (listed again if it was delisted); false when the row
/// already held this branch commit and was listed (nothing changed).
pub async fn upsert_worker(connection: &mut AnyConnection, row: &CatalogWorkerRow) -> Result<bool, DbError> {
    let result = sqlx::query(
        "INSERT INTO catalog_workers (worker_id, branch_commit, metadata, pkgbuild, readme, requires_license, \
         listed, updated_at, delisted_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, NULL) \
         ON CONFLICT (worker_id) DO UPDATE SET branch_commit = excluded.branch_commit, \
         metadata = excluded.metadata, pkgbuild = excluded.pkgbuild, readme = excluded.readme, \
         requires_license = excluded.requires_license, listed = 1, updated_at = excluded.updated_at, \
         delisted_at = NULL \
         WHERE catalog_workers.branch_commit <> excluded.branch_commit OR catalog_workers.listed = 0",
    )
    .bind(&row.worker_id)
    .bind(&row.branch_commit)
    .bind(&row.metadata)
    .bind(row.pkgbuild.as_deref())
    .bind(row.readme.as_deref())
    .bind(i64::from(row.requires_license))
    .bind(row.updated_at)
    .execute(&mut *connection)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Delists every listed worker not in `kept` (a JSON array of worker ids); returns how many.
pub async fn delist_others(connection: &mut AnyConnection, kept: &str, now: i64) -> Result<u64, DbError> {
    let sql = format!(
        "UPDATE catalog_workers SET listed = 0, delisted_at = $1 \
         WHERE listed = 1 AND worker_id NOT IN (SELECT refs.value FROM {})",
        Backend::of(connection).json_text_rows(2),
    );
    let result = sqlx::query(&sql).bind(now).bind(kept).execute(&mut *connection).await?;
    Ok(result.rows_affected())
}

const WORKER_COLUMNS: &str = "worker_id, branch_commit, metadata, pkgbuild, readme, requires_license, updated_at";

fn worker_row(row: &sqlx::any::AnyRow) -> Result<CatalogWorkerRow, DbError> {
    Ok(CatalogWorkerRow {
        worker_id: row.try_get(0)?,
        branch_commit: row.try_get(1)?,
        metadata: row.try_get(2)?,
        pkgbuild: row.try_get(3)?,
        readme: row.try_get(4)?,
        requires_license: row.try_get::<i64, _>(5)? != 0,
        updated_at: row.try_get(6)?,
    })
}

/// Every listed worker, by id.
pub async fn listed_workers<'c, E>(executor: E) -> Result<Vec<CatalogWorkerRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(&format!(
        "SELECT {WORKER_COLUMNS} FROM catalog_workers WHERE listed = 1 ORDER BY worker_id"
    ))
    .fetch_all(executor)
    .await?;
    rows.iter().map(worker_row).collect()
}

/// One listed worker.
pub async fn find_listed<'c, E>(executor: E, worker_id: &WorkerId) -> Result<Option<CatalogWorkerRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(&format!(
        "SELECT {WORKER_COLUMNS} FROM catalog_workers WHERE listed = 1 AND worker_id = $1"
    ))
    .bind(worker_id.as_str())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(worker_row).transpose()
}
