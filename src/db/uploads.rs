//! Queries on `upload_sessions` and `upload_parts`.

use super::DbError;
use sqlx::{Any, AnyConnection, Executor, Row};

/// An upload session: the bytes received so far and the hash state over them.
#[derive(Debug, Clone)]
pub struct UploadRow {
    pub id: String,
    pub repository_name: String,
    pub size: i64,
    pub hash_state: Vec<u8>,
    pub created_at: i64,
    /// Last time a chunk was appended (or the session was opened or claimed), milliseconds.
    pub updated_at: i64,
    /// When a finish claimed the session ([`claim`]); `None` while it is open.
    pub finishing_since: Option<i64>,
}

/// One stored piece of an upload, in order of `start_offset`.
#[derive(Debug, Clone)]
pub struct PartRow {
    pub start_offset: i64,
    pub size: i64,
    pub storage_key: String,
}

pub async fn insert<'c, E>(executor: E, id: &str, repository: &str, hash_state: &[u8], now: i64) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO upload_sessions (id, repository_name, size, hash_state, created_at, updated_at) VALUES ($1, $2, 0, $3, $4, $4)",
    )
    .bind(id)
    .bind(repository)
    .bind(hash_state)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

pub async fn find<'c, E>(executor: E, id: &str) -> Result<Option<UploadRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT id, repository_name, size, hash_state, created_at, updated_at, finishing_since FROM upload_sessions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        Ok(UploadRow {
            id: row.try_get(0)?,
            repository_name: row.try_get(1)?,
            size: row.try_get(2)?,
            hash_state: row.try_get(3)?,
            created_at: row.try_get(4)?,
            updated_at: row.try_get(5)?,
            finishing_since: row.try_get(6)?,
        })
    })
    .transpose()
}

pub async fn parts<'c, E>(executor: E, id: &str) -> Result<Vec<PartRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT start_offset, size, storage_key FROM upload_parts WHERE session_id = $1 ORDER BY start_offset",
    )
    .bind(id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PartRow {
                start_offset: row.try_get(0)?,
                size: row.try_get(1)?,
                storage_key: row.try_get(2)?,
            })
        })
        .collect()
}

/// Appends a stored part if the session is open and still has `expected_size` bytes (no other
/// request appended or claimed it meanwhile). Returns false when it lost that race or the
/// session is gone.
pub async fn append_part(
    connection: &mut AnyConnection,
    id: &str,
    expected_size: i64,
    part: &PartRow,
    hash_state: &[u8],
    now: i64,
) -> Result<bool, DbError> {
    let updated = sqlx::query(
        "UPDATE upload_sessions SET size = $1, hash_state = $2, updated_at = $3 \
         WHERE id = $4 AND size = $5 AND finishing_since IS NULL",
    )
    .bind(expected_size + part.size)
    .bind(hash_state)
    .bind(now)
    .bind(id)
    .bind(expected_size)
    .execute(&mut *connection)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO upload_parts (session_id, start_offset, size, storage_key) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(part.start_offset)
        .bind(part.size)
        .bind(&part.storage_key)
        .execute(&mut *connection)
        .await?;
    Ok(true)
}

/// Claims an open session for the one finish that may complete it: only if it still has
/// `expected_size` bytes and no other finish claimed it. At most one caller gets true; the
/// claim also counts as activity (`updated_at`), so the idle sweep leaves a running finish
/// alone, and removes a claim whose process died once it is idle for the session lifetime.
pub async fn claim<'c, E>(executor: E, id: &str, expected_size: i64, now: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query(
        "UPDATE upload_sessions SET finishing_since = $1, updated_at = $1 \
         WHERE id = $2 AND size = $3 AND finishing_since IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(expected_size)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Gives a claimed session back (its finish failed with its parts untouched): open again,
/// as it was before the claim.
pub async fn release<'c, E>(executor: E, id: &str) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query("UPDATE upload_sessions SET finishing_since = NULL WHERE id = $1")
        .bind(id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Deletes a session that no finish has claimed (cancel, expiry); true when it did.
pub async fn delete_open<'c, E>(executor: E, id: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM upload_sessions WHERE id = $1 AND finishing_since IS NULL")
        .bind(id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Deletes a session if it is open (no finish claimed it) and still has `expected_size`
/// bytes: the claim of a finish that completes in this statement. True when it did.
pub async fn delete_open_with_size<'c, E>(executor: E, id: &str, expected_size: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM upload_sessions WHERE id = $1 AND size = $2 AND finishing_since IS NULL")
        .bind(id)
        .bind(expected_size)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Deletes a session and (by `ON DELETE CASCADE`) its part rows; returns whether it existed.
pub async fn delete<'c, E>(executor: E, id: &str) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM upload_sessions WHERE id = $1")
        .bind(id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Deletes a session (and its part rows) if it has not been appended to since `cutoff`;
/// true when it did.
pub async fn delete_if_idle<'c, E>(executor: E, id: &str, cutoff: i64) -> Result<bool, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let result = sqlx::query("DELETE FROM upload_sessions WHERE id = $1 AND updated_at < $2")
        .bind(id)
        .bind(cutoff)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Ids of sessions idle since before `before` (milliseconds).
pub async fn idle_since<'c, E>(executor: E, before: i64) -> Result<Vec<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT id FROM upload_sessions WHERE updated_at < $1")
        .bind(before)
        .fetch_all(executor)
        .await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

/// Which of `ids` are sessions whose files are still owned: the session exists, or a blob's
/// bytes are one of its parts (`blobs.held_session`).
pub async fn owned_among<'c, E>(executor: E, ids: &[String]) -> Result<Vec<String>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id FROM upload_sessions WHERE id IN ({0}) \
         UNION SELECT held_session FROM blobs WHERE held_session IN ({0})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(executor).await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    #[tokio::test]
    async fn a_session_appended_to_after_the_cutoff_is_not_deleted_as_idle() {
        // A file, not `sqlite::memory:`: an in-memory database differs per connection.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("registry.db").display());
        let db = Database::connect(&url).await.unwrap();
        insert(db.writer(), "s1", "repo", b"state", 100).await.unwrap();
        // The sweeper listed it as idle before 150; a chunk at 200 arrives before it deletes.
        assert_eq!(idle_since(db.reader(), 150).await.unwrap(), vec!["s1".to_string()]);
        let part = PartRow {
            start_offset: 0,
            size: 3,
            storage_key: "uploads/s1/p".into(),
        };
        let mut connection = db.writer().acquire().await.unwrap();
        assert!(append_part(&mut connection, "s1", 0, &part, b"state2", 200)
            .await
            .unwrap());
        drop(connection);
        assert!(!delete_if_idle(db.writer(), "s1", 150).await.unwrap());
        assert!(find(db.reader(), "s1").await.unwrap().is_some());
        // Idle past a later cutoff it goes, and its part rows with it.
        assert!(delete_if_idle(db.writer(), "s1", 250).await.unwrap());
        assert!(find(db.reader(), "s1").await.unwrap().is_none());
        assert!(parts(db.reader(), "s1").await.unwrap().is_empty());
    }
}
