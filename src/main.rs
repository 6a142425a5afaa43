//! The `rbee-registry` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rbee_registry::config::{FileConfig, Overrides, ServeConfig};
use rbee_registry::server;

#[derive(Parser)]
#[command(name = "rbee-registry", version, about = "An OCI registry for rbee workers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "RBEE_LISTEN")]
    listen: Option<String>,
    /// Data directory for the SQLite database and blobs [default: ./data].
    #[arg(long, env = "RBEE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Metadata database URL, sqlite://… or postgres://… [default: SQLite in the data directory].
    #[arg(long, env = "RBEE_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory for blobs [default: <data-dir>/blobs].
    #[arg(long, env = "RBEE_STORAGE_PATH")]
    storage_path: Option<PathBuf>,
    /// Largest manifest accepted, bytes [default: 4194304].
    #[arg(long, env = "RBEE_MAX_MANIFEST_BYTES")]
    max_manifest_bytes: Option<usize>,
    /// Largest blob accepted, bytes [default: 64 GiB].
    #[arg(long, env = "RBEE_MAX_BLOB_BYTES")]
    max_blob_bytes: Option<u64>,
    /// Largest request head (request line and headers), bytes [default: 65536].
    #[arg(long, env = "RBEE_MAX_HEADER_BYTES")]
    max_header_bytes: Option<usize>,
    /// Blob upload requests one client address may run at once [default: 16].
    #[arg(long, env = "RBEE_MAX_UPLOADS_PER_CLIENT")]
    max_uploads_per_client: Option<usize>,
    /// Seconds an upload session may stay idle before it expires [default: 86400].
    #[arg(long, env = "RBEE_UPLOAD_SESSION_TTL_SECS")]
    upload_session_ttl_secs: Option<u64>,
    /// Seconds running requests get to finish after SIGTERM or Ctrl-C [default: 30].
    #[arg(long, env = "RBEE_SHUTDOWN_GRACE_SECS")]
    shutdown_grace_secs: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("RBEE_LOG").unwrap_or_else(|_| "info,tower_http=warn".into());
    // RBEE_LOG_FORMAT=json: one JSON object per line, with the request's span (request_id,
    // method, route) on every event logged while handling it.
    if std::env::var("RBEE_LOG_FORMAT").as_deref() == Ok("json") {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_serve(args: ServeArgs) -> Result<(), String> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        storage_path: args.storage_path,
        max_manifest_bytes: args.max_manifest_bytes,
        max_blob_bytes: args.max_blob_bytes,
        max_header_bytes: args.max_header_bytes,
        max_uploads_per_client: args.max_uploads_per_client,
        upload_session_ttl_secs: args.upload_session_ttl_secs,
        shutdown_grace_secs: args.shutdown_grace_secs,
    };
    let config = ServeConfig::assemble(overrides, file).map_err(|e| e.to_string())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let listener = server::bind(&config).await.map_err(|e| e.to_string())?;
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "rbee-registry serving");
    server::serve(listener, registry, &config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received");
}
