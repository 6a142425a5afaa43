//! Queries on `worker_downloads`: the log of completed worker package downloads.

use super::DbError;
use sqlx::{Any, Executor, Row};

/// Rows per `INSERT` (6 parameters each: well under SQLite's and PostgreSQL's limits).
const INSERT_CHUNK: usize = 256;

/// A completed download to record.
#[derive(Debug, Clone)]
pub struct NewDownload {
    pub worker_id: String,
    pub version: String,
    pub platform: String,
    pub downloaded_at: i64,
    pub user_agent: Option<String>,
    pub client_hash: String,
}

/// Records downloads, at most [`INSERT_CHUNK`] rows per statement.
pub async fn insert_all<'c, E>(executor: E, downloads: &[NewDownload]) -> Result<(), DbError>
where
    E: Executor<'c, Database = Any> + Copy,
{
    for chunk in downloads.chunks(INSERT_CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|row| {
                let first = row * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    first + 1,
                    first + 2,
                    first + 3,
                    first + 4,
                    first + 5,
                    first + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO worker_downloads (worker_id, version, platform, downloaded_at, user_agent, client_hash) \
             VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for download in chunk {
            query = query
                .bind(&download.worker_id)
                .bind(&download.version)
                .bind(&download.platform)
                .bind(download.downloaded_at)
                .bind(download.user_agent.as_deref())
                .bind(&download.client_hash);
        }
        query.execute(executor).await?;
    }
    Ok(())
}

/// Download counts of one worker grouped by (version, platform), and the last download time.
pub async fn counts_of<'c, E>(
    executor: E,
    worker_id: &crate::artifact::WorkerId,
) -> Result<Vec<(String, String, i64, i64)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT version, platform, COUNT(*), MAX(downloaded_at) FROM worker_downloads WHERE worker_id = $1 \
         GROUP BY version, platform ORDER BY version, platform",
    )
    .bind(worker_id.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)))
        .collect()
}

/// Completed downloads of one worker per UTC day (days since the epoch) from `since`
/// (milliseconds since the epoch), oldest day first; days without downloads are absent.
pub async fn daily_counts_of<'c, E>(
    executor: E,
    worker_id: &crate::artifact::WorkerId,
    since: i64,
) -> Result<Vec<(i64, u64)>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT downloaded_at / 86400000, COUNT(*) FROM worker_downloads WHERE worker_id = $1 AND downloaded_at >= $2 \
         GROUP BY downloaded_at / 86400000 ORDER BY downloaded_at / 86400000",
    )
    .bind(worker_id.as_str())
    .bind(since)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get::<i64, _>(1)?.max(0) as u64)))
        .collect()
}
