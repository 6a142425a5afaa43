//! The `rbee-registry` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rbee_registry::config::{FileConfig, GcConfig, GcOverrides, Overrides, S3Overrides, ServeConfig};
use rbee_registry::server;
use rbee_registry::services::gc::GcOptions;

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
    /// Remove blobs no manifest references and abandoned uploads (safe while the registry runs).
    Gc(GcArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "RBEE_LISTEN")]
    listen: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(clap::Args)]
struct GcArgs {
    /// Report what would be removed without removing anything.
    #[arg(long)]
    dry_run: bool,
    /// Keep blobs and links touched more recently than this (30m, 24h, 7d) [default: 24h].
    #[arg(long, env = "RBEE_GC_GRACE_PERIOD")]
    grace_period: Option<String>,
    /// Remove upload sessions untouched for longer than this [default: 7d].
    #[arg(long, env = "RBEE_GC_UPLOAD_MAX_AGE")]
    upload_max_age: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Where the registry keeps its data: the same options for every command.
#[derive(clap::Args)]
struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory for the SQLite database and blobs [default: ./data].
    #[arg(long, env = "RBEE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Metadata database URL, sqlite://… or postgres://… [default: SQLite in the data directory].
    #[arg(long, env = "RBEE_DATABASE_URL")]
    database_url: Option<String>,
    /// Blob storage backend: filesystem or s3 [default: filesystem].
    #[arg(long, env = "RBEE_STORAGE_BACKEND")]
    storage_backend: Option<String>,
    /// Directory for blobs [default: <data-dir>/blobs].
    #[arg(long, env = "RBEE_STORAGE_PATH")]
    storage_path: Option<PathBuf>,
    /// S3 endpoint URL [default: AWS].
    #[arg(long, env = "RBEE_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "RBEE_S3_REGION")]
    s3_region: Option<String>,
    /// S3 bucket.
    #[arg(long, env = "RBEE_S3_BUCKET")]
    s3_bucket: Option<String>,
    /// Key prefix inside the bucket.
    #[arg(long, env = "RBEE_S3_PREFIX")]
    s3_prefix: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "RBEE_S3_ACCESS_KEY_ID")]
    s3_access_key_id: Option<String>,
    /// S3 secret access key (prefer the environment or the file).
    #[arg(long, env = "RBEE_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    s3_secret_access_key: Option<String>,
    /// Allow an http:// S3 endpoint.
    #[arg(long, env = "RBEE_S3_ALLOW_HTTP")]
    s3_allow_http: Option<bool>,
    /// Answer blob downloads with 307 redirects to presigned URLs.
    #[arg(long, env = "RBEE_S3_REDIRECT_DOWNLOADS")]
    s3_redirect_downloads: Option<bool>,
}

impl StoreArgs {
    /// Reads the file the arguments name and the overrides they give.
    fn load(self, listen: Option<String>) -> Result<(Overrides, FileConfig), String> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path).map_err(|e| e.to_string())?,
            None => FileConfig::default(),
        };
        let overrides = Overrides {
            listen,
            data_dir: self.data_dir,
            database_url: self.database_url,
            storage_path: self.storage_path,
            storage_backend: self.storage_backend,
            s3: S3Overrides {
                endpoint: self.s3_endpoint,
                region: self.s3_region,
                bucket: self.s3_bucket,
                prefix: self.s3_prefix,
                access_key_id: self.s3_access_key_id,
                secret_access_key: self.s3_secret_access_key,
                allow_http: self.s3_allow_http,
                redirect_downloads: self.s3_redirect_downloads,
            },
        };
        Ok((overrides, file))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RBEE_LOG").unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Gc(args) => run_gc(args).await,
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
    let (overrides, file) = args.store.load(args.listen)?;
    let config = ServeConfig::assemble(overrides, file).map_err(|e| e.to_string())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let listener = server::bind(&config).await.map_err(|e| e.to_string())?;
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "rbee-registry serving");
    server::serve(listener, registry, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn run_gc(args: GcArgs) -> Result<(), String> {
    let (overrides, file) = args.store.load(None)?;
    let gc = GcConfig::assemble(
        GcOverrides {
            grace_period: args.grace_period,
            upload_max_age: args.upload_max_age,
        },
        &file.gc,
    )
    .map_err(|e| e.to_string())?;
    let config = ServeConfig::assemble(overrides, file).map_err(|e| e.to_string())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let options = GcOptions {
        dry_run: args.dry_run,
        grace_period: gc.grace_period,
        upload_max_age: gc.upload_max_age,
    };
    let report = registry.collect_garbage(&options).await.map_err(|e| e.to_string())?;
    let verb = if report.dry_run { "would remove" } else { "removed" };
    for (digest, size) in &report.blobs {
        println!("{verb} blob {digest} ({size} bytes)");
    }
    for session in &report.uploads {
        println!("{verb} upload session {session}");
    }
    println!(
        "{verb} {} blobs, {} repository links, {} upload sessions, {} orphaned upload objects; {} bytes freed",
        report.blobs.len(),
        report.links,
        report.uploads.len(),
        report.orphaned_upload_objects,
        report.bytes_freed
    );
    Ok(())
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
