//! The metadata database: every sqlx query of the registry lives in this module, and `sqlx`
//! is named nowhere else. Queries return [`DbError`]; below services, above nothing but `oci`.
//!
//! One `sqlx::Any` pool speaks to the embedded SQLite default or to PostgreSQL, chosen by the
//! database URL. Each table has its own submodule of queries; migrations live in
//! `migrations/sqlite` and `migrations/postgres` and mean the same on both.
//!
//! SQLite allows one writer at a time, so for SQLite writes go through a pool of one
//! connection (no `SQLITE_BUSY` races) and reads through a separate pool.
//! Timestamps are milliseconds since the Unix epoch (`BIGINT`).

pub mod admin_sessions;
pub mod admin_tokens;
pub mod archive;
pub mod blobs;
pub mod catalog;
pub mod downloads;
pub mod gc;
pub mod gc_runs;
pub mod jobs;
pub mod keys;
pub mod licenses;
pub mod manifests;
pub mod mirrors;
pub mod policies;
pub mod publishers;
pub mod pull_through;
pub mod refresh_tokens;
pub mod replica_licenses;
pub mod repositories;
pub mod stars;
pub mod tags;
pub mod uploads;
pub mod workers;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Errors of the metadata database, in the terms services decide on. `sqlx`'s own error
/// stays inside this module: [`From<sqlx::Error>`] sorts it into these variants.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A query that must find a row found none.
    #[error("database row not found")]
    NotFound,
    /// A unique or primary-key constraint refused the write.
    #[error("database conflict: {0}")]
    Conflict(String),
    /// The database cannot take the statement now (locked past the busy timeout, no pooled
    /// connection in time, pool closed by a shutdown, serialization failure): retry later.
    #[error("database busy: {0}")]
    Busy(String),
    /// A stored value does not parse as what its column holds (a digest that is not one):
    /// the database's data is damaged, a server fault.
    #[error("damaged data in the database: {0}")]
    Damaged(String),
    /// Anything else: a server fault.
    #[error("database error: {0}")]
    Other(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?} (use sqlite://… or postgres://…)")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => DbError::Busy(error.to_string()),
            sqlx::Error::Database(database) => {
                if database.is_unique_violation() {
                    return DbError::Conflict(database.message().to_string());
                }
                // PostgreSQL (five-character SQLSTATEs): serialization_failure,
                // deadlock_detected, lock_not_available. SQLite (numeric result codes):
                // SQLITE_BUSY (5), SQLITE_LOCKED (6) and their extended codes.
                let busy = match database.code().as_deref() {
                    Some("40001" | "40P01" | "55P03") => true,
                    Some(code) if code.len() < 5 => code.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
                    _ => false,
                };
                if busy {
                    DbError::Busy(database.message().to_string())
                } else {
                    DbError::Other(error)
                }
            }
            _ => DbError::Other(error),
        }
    }
}

/// The digest stored in column `index` of `row`: parsed once, here, where the row is read;
/// text that is not a digest is [`DbError::Damaged`].
fn digest_at(row: &sqlx::any::AnyRow, index: usize) -> Result<crate::oci::Digest, DbError> {
    use sqlx::Row;
    let text: String = row.try_get(index)?;
    parse_digest(&text)
}

/// A digest read from the database (a column or a JSON value of a query's result).
fn parse_digest(text: &str) -> Result<crate::oci::Digest, DbError> {
    text.parse()
        .map_err(|_| DbError::Damaged(format!("stored digest {text:?} is not a valid digest")))
}

/// A connection of the pool: what queries run on inside a [`Transaction`].
pub type Connection = sqlx::AnyConnection;

/// A transaction on the write pool; dereferences to its [`Connection`] (pass
/// `&mut *transaction` to the queries). Dropped without [`Transaction::commit`], it rolls back.
pub struct Transaction(sqlx::Transaction<'static, sqlx::Any>);

impl Transaction {
    pub async fn commit(self) -> Result<(), DbError> {
        Ok(self.0.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        Ok(self.0.rollback().await?)
    }
}

impl std::ops::Deref for Transaction {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl std::ops::DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

/// Which database engine the URL named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the metadata database.
#[derive(Clone, Debug)]
pub struct Database {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(url.to_string()));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let database = match backend {
            Backend::Sqlite => {
                let write = sqlite_pool(1).connect_with(options.clone()).await?;
                // WAL lets readers go on while the writer writes; it persists in the file.
                write.execute("PRAGMA journal_mode = WAL").await?;
                SQLITE_MIGRATIONS.run(&write).await?;
                let read = sqlite_pool(8).connect_with(options).await?;
                Database { read, write, backend }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                Database {
                    read: pool.clone(),
                    write: pool,
                    backend,
                }
            }
        };
        Ok(database)
    }

    /// Pool for queries that only read.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Pool for writes and transactions.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Begins a transaction on the write pool.
    pub async fn begin(&self) -> Result<Transaction, DbError> {
        Ok(Transaction(self.write.begin().await?))
    }

    /// A trivial query on the read pool: does the database answer?
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// One connection of the read pool, held until dropped (a series of reads that may
    /// also run on a transaction's connection takes `&mut Connection`).
    pub async fn read_connection(&self) -> Result<PooledConnection, DbError> {
        Ok(self.read.acquire().await?)
    }
}

/// A connection borrowed from a pool ([`Database::read_connection`]); dereferences to a
/// [`Connection`].
pub type PooledConnection = sqlx::pool::PoolConnection<sqlx::Any>;

impl Backend {
    /// The engine behind a connection of the `Any` driver.
    fn of(connection: &sqlx::AnyConnection) -> Backend {
        match connection.backend_name() {
            "PostgreSQL" => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// A table expression `refs` with one text column `refs.value`: the strings of the JSON
    /// array bound as parameter `$parameter`. A set of any size is then one parameter, where
    /// `IN ($2, $3, …)` takes one per value (and fails past SQLite's 32,766 or PostgreSQL's
    /// 65,535), and the statement's text, so its prepared form, is the same for every size.
    /// The one place where the two dialects differ.
    fn json_text_rows(self, parameter: usize) -> String {
        match self {
            Backend::Sqlite => format!("json_each(${parameter}) AS refs"),
            Backend::Postgres => format!("json_array_elements_text(CAST(${parameter} AS json)) AS refs(value)"),
        }
    }
}

fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // A connection to a local file does not go stale; pinging it before every query
        // would cost one more round trip to its worker thread per statement.
        .test_before_acquire(false)
        .after_connect(|connection, _| {
            Box::pin(async move {
                connection
                    .execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
                    .await?;
                Ok(())
            })
        })
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}
