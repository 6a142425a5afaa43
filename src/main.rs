//! The `rbee-registry` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rbee_registry::config::{FileConfig, Overrides, ServeConfig};
use rbee_registry::routes::ApiSettings;
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
    /// Comma-separated origins allowed to call the catalog API from browsers (CORS).
    #[arg(long, env = "RBEE_CORS_ORIGINS")]
    cors_origins: Option<String>,
    /// Salt of the hashed client addresses in download analytics [default: a random salt
    /// kept in <data-dir>/analytics-salt]. Processes sharing one database must share it.
    #[arg(long, env = "RBEE_ANALYTICS_SALT", hide_env_values = true)]
    analytics_salt: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RBEE_LOG").unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
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
        cors_origins: args.cors_origins,
        analytics_salt: args.analytics_salt,
    };
    let config = ServeConfig::assemble(overrides, file).map_err(|e| e.to_string())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let listener = server::bind(&config).await.map_err(|e| e.to_string())?;
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "rbee-registry serving");
    let api = ApiSettings::from_config(&config);
    server::serve_with(listener, registry, api, shutdown_signal())
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
    tracing::info!("shutting down; letting running requests finish");
}
