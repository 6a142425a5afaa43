//! Queries on `worker_downloads`: the log of completed worker package downloads.

use sqlx::{Any, Executor, Row};

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

pub async fn insert<'c, E>(executor: E, download: &NewDownload) -> Result<(), sqlx::Error>
where
    E: Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO worker_downloads (worker_id, version, platform, downloaded_at, user_agent, client_hash) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&download.worker_id)
    .bind(&download.version)
    .bind(&download.platform)
    .bind(download.downloaded_at)
    .bind(download.user_agent.as_deref())
    .bind(&download.client_hash)
    .execute(executor)
    .await?;
    Ok(())
}

/// Download counts of one worker grouped by (version, platform), and the last download time.
pub async fn counts_of<'c, E>(executor: E, worker_id: &str) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT version, platform, COUNT(*), MAX(downloaded_at) FROM worker_downloads WHERE worker_id = $1 \
         GROUP BY version, platform ORDER BY version, platform",
    )
    .bind(worker_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)))
        .collect()
}
