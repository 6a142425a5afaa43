//! Wiring: opens the database and blob store named by the configuration and serves HTTP.

use tokio::net::TcpListener;

use crate::config::{ServeConfig, StorageConfig};
use crate::db::{Database, DbError};
use crate::routes::{router, ApiSettings, AppState};
use crate::services::analytics::DownloadRecorder;
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
    };
    let salt = config.analytics_salt.load().map_err(StorageError::Io)?;
    let recorder = DownloadRecorder::start(db.clone(), salt);
    Ok(Registry::new(db, store, config.limits.clone()).with_download_recorder(recorder))
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

/// Serves until `shutdown` resolves, then lets running requests finish, with the default
/// catalog API settings (no CORS origins).
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_with(listener, registry, ApiSettings::default(), shutdown).await
}

/// Serves like [`serve`], with the catalog API settings of the configuration.
pub async fn serve_with(
    listener: TcpListener,
    registry: Registry,
    api: ApiSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = router(AppState { registry }, &api);
    // The peer address feeds download analytics (as a salted hash only).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(ServerError::Serve)
}
