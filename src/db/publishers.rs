//! Queries on `publishers`: publisher tokens (a hash of each), their repository patterns
//! (a JSON array) and whether they may delete.

use super::DbError;
use sqlx::{Any, Executor, Row};

/// One publisher token's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherRow {
    pub name: String,
    pub token_hash: String,
    pub patterns: Vec<String>,
    pub allow_delete: bool,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Records a publisher; one whose name is taken by a revoked publisher replaces it. Returns
/// false when the name belongs to a publisher that is not revoked.
pub async fn insert<'c, E>(executor: E, publisher: &PublisherRow) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "INSERT INTO publishers (name, token_hash, patterns, allow_delete, expires_at, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL) \
         ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, patterns = excluded.patterns, \
         allow_delete = excluded.allow_delete, expires_at = excluded.expires_at, created_at = excluded.created_at, \
         revoked_at = NULL WHERE publishers.revoked_at IS NOT NULL",
    )
    .bind(&publisher.name)
    .bind(&publisher.token_hash)
    .bind(serde_json::to_string(&publisher.patterns).expect("strings serialize"))
    .bind(i64::from(publisher.allow_delete))
    .bind(publisher.expires_at)
    .bind(publisher.created_at)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

const COLUMNS: &str = "name, token_hash, patterns, allow_delete, expires_at, created_at, revoked_at";

fn publisher_of(row: &sqlx::any::AnyRow) -> Result<PublisherRow, DbError> {
    let patterns: String = row.try_get(2)?;
    Ok(PublisherRow {
        name: row.try_get(0)?,
        token_hash: row.try_get(1)?,
        patterns: serde_json::from_str(&patterns)
            .map_err(|error| DbError::Damaged(format!("publishers.patterns: {error}")))?,
        allow_delete: row.try_get::<i64, _>(3)? != 0,
        expires_at: row.try_get(4)?,
        created_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}

/// The publisher whose token hashes to `token_hash`.
pub async fn find_by_hash<'c, E>(executor: E, token_hash: &str) -> Result<Option<PublisherRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM publishers WHERE token_hash = $1"))
        .bind(token_hash)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(publisher_of).transpose()
}

/// Every publisher, by name.
pub async fn all<'c, E>(executor: E) -> Result<Vec<PublisherRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM publishers ORDER BY name"))
        .fetch_all(executor)
        .await?;
    rows.iter().map(publisher_of).collect()
}

/// Revokes the publisher named `name` or whose token hashes to `token_hash`; the names of
/// those revoked now.
pub async fn revoke<'c, E>(executor: E, name: &str, token_hash: &str, now: i64) -> Result<u64, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "UPDATE publishers SET revoked_at = $1 WHERE (name = $2 OR token_hash = $3) AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(name)
    .bind(token_hash)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}
