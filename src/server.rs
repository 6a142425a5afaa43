//! Wiring: opens the database and blob store named by the configuration and serves HTTP.
//!
//! The accept loop is ours (hyper's HTTP/1 connection builder) rather than `axum::serve`, so
//! that hyper's read-buffer bound, `TCP_NODELAY`, the client's address and a shutdown
//! deadline are under our control (the exact request-head limit and the `Host` rule are
//! `routes::edge::check_request`). The public base URL defaults to `http://` and the bound
//! address. On shutdown the listener closes at once, running requests
//! (uploads and downloads included) get `shutdown_grace` to finish, then connections are cut.
//!
//! Next to the connections run the upload-session sweeper and the job runner
//! (`services::jobs`) with this process's jobs: when `gc.interval` is set, the periodic
//! garbage collection (the same `Registry::collect_garbage` as `rbee-registry gc`, recorded
//! the same way), run by one process at a time under a lease in the database. A job that is
//! running at shutdown gets the same grace period as requests.

mod tls;

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

use crate::auth::AuthMode;
use crate::config::{HttpLimits, ServeConfig, StorageConfig};
use crate::db::{Database, DbError};
use crate::routes::edge::PublicBase;
use crate::routes::{router, ApiSettings, AppState, EdgeSettings};
use crate::services::admin_token::AdminToken;
use crate::services::analytics::DownloadRecorder;
use crate::services::gc::GcOptions;
use crate::services::jobs::{Job, JobRunner};
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
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot start the job runner: {0}")]
    Jobs(crate::services::RegistryError),
    #[error("cannot prepare authentication: {0}")]
    Auth(crate::services::RegistryError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Free memory glibc's allocator keeps at the top of a heap instead of returning it to the
/// kernel at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TRIM_THRESHOLD: libc::c_int = 16 * 1024 * 1024;

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
    let licensing = config.licenses.load()?;
    Ok(Registry::new(db, store, config.limits.clone())
        .with_download_recorder(recorder)
        .with_token_settings(config.auth.tokens.clone())
        .with_license_settings(licensing)
        .with_catalog(config.catalog.clone())
        .with_pull_through(config.pull_through.load()?)
        .with_mirror_stale_after(config.mirror.stale_after))
}

/// Readies token authentication before serving: a signing key exists, and on the first start
/// on this database the admin token is made (its file's path is logged, never the token).
/// With `auth.mode = off` it says so.
pub async fn prepare_auth(registry: &Registry, config: &ServeConfig) -> Result<(), ServerError> {
    registry.ensure_signing_key().await.map_err(ServerError::Auth)?;
    match registry
        .create_admin_token_once(&config.data_dir)
        .await
        .map_err(ServerError::Auth)?
    {
        AdminToken::Created(path) => {
            tracing::info!(path = %path.display(), "created the admin token (mode 0600); keep it safe")
        }
        AdminToken::Existing => {}
    }
    if config.auth.mode == AuthMode::Off {
        tracing::warn!(
            "authentication is off (auth.mode = off): anyone who reaches this registry may pull, push and delete; \
             use it on a trusted network only"
        );
    }
    Ok(())
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
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    if let Some(files) = &config.tls {
        warn_if_others_may_read(&files.key);
    }
    crate::observability::metrics_handle();
    let address = listener.local_addr().map_err(ServerError::Serve)?;
    prepare_auth(&registry, config).await?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None if tls.is_some() => {
            PublicUrl::from_parts("https", &address.to_string()).expect("a socket address is a valid authority")
        }
        None => PublicUrl::for_address(address),
    };
    if let Some(warning) = plain_http_token_warning(config.listen, tls.is_some(), token_auth_on(config)) {
        tracing::warn!(listen = %config.listen, "{warning}");
    }
    tracing::info!(scheme = if tls.is_some() { "https" } else { "http" }, public_url = %public_url, "listening");
    let edge = EdgeSettings {
        max_header_bytes: limits.max_header_bytes,
        max_uploads_per_client: limits.max_uploads_per_client,
        public_base: PublicBase {
            url: public_url,
            trusted_proxies: config.trusted_proxies.clone(),
        },
        auth_mode: config.auth.mode,
        token_rate_limit: config.auth.token_rate_limit,
    };
    let api = ApiSettings {
        cors_origins: config.cors_origins.clone(),
    };
    let state =
        AppState::new(registry.clone(), edge).with_catalog_git(config.data_dir.join(crate::git::CATALOG_REPO_DIR));
    let app = router(state, &api);
    let jobs = start_jobs(&registry, config).await?;
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
        let service = TowerToHyperService::new(service);
        let (watcher, cut, http, tls) = (graceful.watcher(), cut.clone(), http.clone(), tls.clone());
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                    until_cut(connection, &cut).await
                }
                Some(acceptor) => {
                    // The handshake has the request head's time limit; a shutdown past its
                    // grace period cuts it like a connection.
                    let handshake = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream));
                    let stream = tokio::select! {
                        handshake = handshake => match handshake {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%error, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        },
                        _ = cut.cancelled() => return,
                    };
                    let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                    until_cut(connection, &cut).await
                }
            };
            if let Some(Err(error)) = result {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    sweeper.abort();
    // No new job run starts; one that is running finishes within the grace period.
    jobs.stop();
    tracing::info!(
        grace_secs = limits.shutdown_grace.as_secs_f64(),
        "shutting down: not accepting connections, letting running requests finish"
    );
    let finished = async {
        graceful.shutdown().await;
        jobs.join().await;
    };
    tokio::select! {
        _ = finished => tracing::info!("all requests finished"),
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing the remaining connections");
            // Dropping `finished` drops the job runner, which aborts a run still going (its
            // lease expires and another process may take the job over).
            cut.cancel();
        }
    }
    Ok(())
}

/// Runs a connection until it ends (its result) or `cut` is cancelled (`None`).
async fn until_cut<F: std::future::Future>(connection: F, cut: &CancellationToken) -> Option<F::Output> {
    tokio::select! {
        result = connection => Some(result),
        _ = cut.cancelled() => None,
    }
}

/// Whether the registry serves tokens (and so takes passwords) on this listener.
fn token_auth_on(config: &ServeConfig) -> bool {
    config.auth.mode == AuthMode::On
}

/// The warning for credentials and tokens sent in clear text: token authentication over
/// plain HTTP on an address other hosts can reach.
fn plain_http_token_warning(listen: SocketAddr, tls: bool, token_auth: bool) -> Option<&'static str> {
    (token_auth && !tls && !listen.ip().is_loopback()).then_some(
        "serving token authentication over plain HTTP on a non-loopback address: passwords and \
         tokens cross the network in clear text (use --tls-cert/--tls-key or a TLS proxy)",
    )
}

/// Warns when others than the owner may read the TLS key file (it is the operator's file:
/// reported, not changed).
fn warn_if_others_may_read(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the TLS key file is readable by others than its owner (use mode 0600)");
        }
    }
}

/// The job runner of this process with its jobs: the periodic garbage collection when
/// `gc.interval` is set. More jobs (the catalog sync, mirrors) are registered here.
async fn start_jobs(registry: &Registry, config: &ServeConfig) -> Result<JobRunner, ServerError> {
    let mut jobs = JobRunner::new(registry.clone());
    if let Some(interval) = config.gc.interval {
        tracing::info!(
            interval_secs = interval.as_secs_f64(),
            grace_period_secs = config.gc.grace_period.as_secs_f64(),
            "periodic garbage collection on"
        );
        let options = GcOptions {
            dry_run: false,
            grace_period: config.gc.grace_period,
            upload_max_age: config.gc.upload_max_age,
        };
        jobs.register(Job::garbage_collection(registry.clone(), options, interval))
            .await
            .map_err(ServerError::Jobs)?;
    }
    // The periodic catalog sync, one process at a time under the job's lease. Syncs asked for
    // directly (`POST /v1/catalog/sync`, `catalog sync`, `catalog add`) run at once in the
    // asking process; the sync's compare-and-swap on the revision applies each one once.
    if let Some(interval) = config.catalog.interval {
        tracing::info!(interval_secs = interval.as_secs_f64(), "periodic catalog sync on");
        jobs.register(Job::catalog_sync(registry.clone(), interval))
            .await
            .map_err(ServerError::Jobs)?;
    }
    // The configured mirror (`mirror.*`), one process at a time under its upstream's lease,
    // which `rbee-registry mirror` of the same upstream takes too.
    if let (Some(upstream), Some(options), Some(interval)) =
        (&config.mirror.upstream, &config.mirror.options, config.mirror.interval)
    {
        let client = crate::client::RegistryClient::new(upstream, config.mirror.credentials.clone())
            .map_err(|error| ServerError::Jobs(crate::services::RegistryError::Unavailable(error.to_string())))?;
        let mut options = options.clone();
        options.upstream = client.base_url().as_str().trim_end_matches('/').to_string();
        tracing::info!(upstream = %options.upstream, interval_secs = interval.as_secs_f64(), "mirror job on");
        let job = crate::services::mirror::mirror_job(registry.clone(), std::sync::Arc::new(client), options, interval);
        jobs.register(job).await.map_err(ServerError::Jobs)?;
    }
    Ok(jobs)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_over_plain_http_to_the_network_are_warned_about() {
        let on = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert!(plain_http_token_warning(on("0.0.0.0:8787"), false, true).is_some());
        assert!(plain_http_token_warning(on("192.0.2.1:80"), false, true).is_some());
        assert!(plain_http_token_warning(on("[::]:80"), false, true).is_some());
        assert!(plain_http_token_warning(on("127.0.0.1:8787"), false, true).is_none());
        assert!(plain_http_token_warning(on("[::1]:8787"), false, true).is_none());
        assert!(plain_http_token_warning(on("0.0.0.0:8787"), true, true).is_none());
        assert!(plain_http_token_warning(on("0.0.0.0:8787"), false, false).is_none());
    }
}
