//! Wiring: opens the database and blob store named by the configuration and serves HTTP.

use tokio::net::TcpListener;

use crate::config::{ServeConfig, StorageConfig};
use crate::db::{Database, DbError};
use crate::routes::{router, AppState};
use crate::services::Registry;
use crate::storage::{BlobStore, StorageError};

/// Errors while starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// Opens the registry the configuration describes.
pub async fn open_registry(config: &ServeConfig) -> Result<Registry, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(StorageError::Io)?;
    let db = Database::connect(&config.database_url).await?;
    let store = match &config.storage {
        StorageConfig::Filesystem { root, fsync } => BlobStore::local(root, *fsync)?,
        StorageConfig::S3(s3) => BlobStore::s3(s3)?,
    };
    Ok(Registry::new(db, store, config.limits.clone()))
}

/// Binds the listener; separate from [`serve`] so callers (tests) can learn the port.
pub async fn bind(config: &ServeConfig) -> Result<TcpListener, ServerError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Listen {
            address: config.listen.to_string(),
            source,
        })
}

/// Serves until `shutdown` resolves, then lets running requests finish.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = router(AppState { registry });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}
