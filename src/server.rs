//! Wiring: opens the database and blob store named by the configuration and serves HTTP.
//!
//! The accept loop is ours (hyper's HTTP/1 connection builder) rather than `axum::serve`, so
//! that hyper's read-buffer bound, `TCP_NODELAY`, the client's address and a shutdown
//! deadline are under our control (the exact request-head limit and the `Host` rule are
//! `routes::edge::check_request`). The public base URL defaults to `http://` and the bound
//! address. On shutdown the listener closes at once, running requests
//! (uploads and downloads included) get `shutdown_grace` to finish, then connections are cut.
//!
//! Next to the connections run the upload-session sweeper and, when `gc.interval` is set,
//! the periodic garbage collection (the same `Registry::collect_garbage` as `rbee-registry
//! gc`, recorded the same way). A collection that is running at shutdown gets the same grace
//! period as requests.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::{GcConfig, HttpLimits, ServeConfig, StorageConfig};
use crate::db::{Database, DbError};
use crate::routes::edge::PublicBase;
use crate::routes::{router, ApiSettings, AppState, EdgeSettings};
use crate::services::analytics::DownloadRecorder;
use crate::services::gc::GcOptions;
use crate::services::{PublicUrl, Registry};
use crate::storage::{BlobStore, StorageError};

/// Time a client gets to send a complete request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Free memory glibc's allocator keeps at the top of a heap instead of returning it to the
/// kernel at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TRIM_THRESHOLD: libc::c_int = 32 * 1024 * 1024;

/// Keeps glibc from handing freed request buffers straight back to the kernel. A large upload
/// passes through ~64 KiB buffers that live until the writer and hashing threads are done with
/// them; with the default trim threshold (128 KiB) the heap shrank and grew again all the time,
/// and a push spent ~12% of its CPU faulting in and zeroing fresh pages. Memory is still
/// bounded: it is kept only up to what was in use at once, and reused. Call it before any
/// other thread starts (glibc's `mallopt` is not safe to call alongside allocations).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets an allocator parameter; the caller runs it before other threads exist.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD);
    }
}

/// Opens the registry the configuration describes.
pub async fn open_registry(config: &ServeConfig) -> Result<Registry, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(StorageError::Io)?;
    let db = Database::connect(&config.database_url).await?;
    let store = match &config.storage {
        StorageConfig::Filesystem { root, fsync } => BlobStore::local(root, *fsync)?,
        StorageConfig::S3(s3) => BlobStore::s3(s3)?,
    };
    let salt = config.analytics_salt.load().map_err(StorageError::Io)?;
    let recorder = DownloadRecorder::start(db.clone(), salt);
    Ok(Registry::new(db, store, config.limits.clone())
        .with_download_recorder(recorder)
        .with_catalog(config.catalog.clone()))
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

/// Serves until `shutdown` resolves, then lets running requests finish within the
/// configured grace period.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    config: &ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let limits: HttpLimits = config.http.clone();
    crate::observability::metrics_handle();
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => PublicUrl::for_address(listener.local_addr().map_err(ServerError::Serve)?),
    };
    let edge = EdgeSettings {
        max_header_bytes: limits.max_header_bytes,
        max_uploads_per_client: limits.max_uploads_per_client,
        public_base: PublicBase {
            url: public_url,
            trusted_proxies: config.trusted_proxies.clone(),
        },
    };
    let api = ApiSettings {
        cors_origins: config.cors_origins.clone(),
    };
    let app = router(AppState::new(registry.clone(), edge), &api);
    let gc_stop = CancellationToken::new();
    let gc_job = config.gc.interval.map(|interval| {
        tracing::info!(
            interval_secs = interval.as_secs_f64(),
            grace_period_secs = config.gc.grace_period.as_secs_f64(),
            "periodic garbage collection on"
        );
        tokio::spawn(collect_garbage_periodically(
            registry.clone(),
            config.gc.clone(),
            interval,
            gc_stop.clone(),
        ))
    });
    // LEAD (tls-jobs merge): register the catalog sync as a job of the runner (one process
    // at a time under its database lease) instead of this per-process loop. Until then each
    // process syncs on its own; the compare-and-swap in the sync applies a revision once.
    let catalog_job = config
        .catalog
        .interval
        .map(|interval| tokio::spawn(sync_catalog_periodically(registry.clone(), interval, gc_stop.clone())));
    let sweeper = tokio::spawn(sweep_upload_sessions(registry));
    let graceful = GracefulShutdown::new();
    let cut = CancellationToken::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's own bound on a request head it is still reading (how much it buffers before
    // refusing with 431); the exact limit on a parsed head is `routes::edge::check_request`.
    http.max_buf_size(limits.max_header_bytes)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        let cut = cut.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                }
                _ = cut.cancelled() => {}
            }
        });
    }
    drop(listener);
    sweeper.abort();
    // No new collection starts; one that is running finishes within the grace period.
    gc_stop.cancel();
    if let Some(job) = catalog_job {
        job.abort();
    }
    let gc_abort = gc_job.as_ref().map(|job| job.abort_handle());
    tracing::info!(
        grace_secs = limits.shutdown_grace.as_secs_f64(),
        "shutting down: not accepting connections, letting running requests finish"
    );
    let finished = async {
        graceful.shutdown().await;
        if let Some(job) = gc_job {
            let _ = job.await;
        }
    };
    tokio::select! {
        _ = finished => tracing::info!("all requests finished"),
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing the remaining connections");
            cut.cancel();
            if let Some(gc_abort) = gc_abort {
                gc_abort.abort();
            }
        }
    }
    Ok(())
}

/// Runs a garbage collection every `interval` (the first one interval after start) until
/// `stop` is cancelled; a running collection is never interrupted by `stop`.
async fn collect_garbage_periodically(registry: Registry, gc: GcConfig, interval: Duration, stop: CancellationToken) {
    let options = GcOptions {
        dry_run: false,
        grace_period: gc.grace_period,
        upload_max_age: gc.upload_max_age,
    };
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.cancelled() => return,
        }
        match registry.collect_garbage(&options).await {
            Ok(report) => tracing::info!(
                blobs = report.blobs.len(),
                links = report.links,
                upload_sessions = report.uploads.len(),
                orphaned_upload_objects = report.orphaned_upload_objects,
                bytes_freed = report.bytes_freed,
                "periodic garbage collection finished"
            ),
            Err(error) => tracing::warn!(%error, "periodic garbage collection failed"),
        }
    }
}

/// Syncs the Git catalog every `interval` (the first one at start) until `stop` is cancelled.
async fn sync_catalog_periodically(registry: Registry, interval: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.cancelled() => return,
        }
        // Failures are logged, counted and recorded in the status by the sync itself.
        let _ = registry.sync_catalog().await;
    }
}

/// Removes expired upload sessions and abandoned upload files, now and then.
async fn sweep_upload_sessions(registry: Registry) {
    let period = (registry.limits().upload_session_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match registry.purge_expired_uploads().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed expired upload sessions"),
            Err(error) => tracing::warn!(%error, "could not purge expired upload sessions"),
        }
    }
}
