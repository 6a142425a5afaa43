//! The `rbee-registry` command line: `serve`, `publish`, `install`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rbee_registry::artifact::Platform;
use rbee_registry::client::{install, progress, publish, Credentials, RegistryClient};
use rbee_registry::config::{FileConfig, GcOverrides, Overrides, S3Overrides, ServeConfig};
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
    /// Publish a worker version (one package per platform) to any OCI registry.
    Publish(PublishArgs),
    /// Install one platform of a worker from a registry under a prefix.
    Install(InstallArgs),
    /// Remove blobs no manifest references and abandoned uploads (safe while the registry runs).
    Gc(GcArgs),
}

/// Credentials for the registry: --username/--password, or --token.
#[derive(clap::Args)]
struct CredentialArgs {
    /// Registry username (with --password or RBEE_REGISTRY_PASSWORD).
    #[arg(long, env = "RBEE_REGISTRY_USERNAME")]
    username: Option<String>,
    /// Registry password or token used as a password.
    #[arg(long, env = "RBEE_REGISTRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A bearer token, sent as is.
    #[arg(
        long,
        env = "RBEE_REGISTRY_TOKEN",
        hide_env_values = true,
        conflicts_with = "username"
    )]
    token: Option<String>,
}

impl CredentialArgs {
    fn credentials(&self) -> Result<Option<Credentials>, String> {
        match (&self.username, &self.password, &self.token) {
            (_, _, Some(token)) => Ok(Some(Credentials::Bearer(token.clone()))),
            (Some(username), Some(password), None) => Ok(Some(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            })),
            (Some(_), None, None) => Err("--username needs --password (or RBEE_REGISTRY_PASSWORD)".into()),
            (None, Some(_), None) => Err("--password needs --username".into()),
            (None, None, None) => Ok(None),
        }
    }
}

#[derive(clap::Args)]
struct PublishArgs {
    /// Worker id (the repository is workers/<id>).
    #[arg(long)]
    worker: String,
    /// Version (semver; the tag).
    #[arg(long)]
    version: String,
    /// The worker's metadata.json (spec/worker-metadata.md).
    #[arg(long)]
    metadata: PathBuf,
    /// PLATFORM=PACKAGE.tar.gz, once per platform (linux/amd64=… or linux-x86_64=…).
    #[arg(long = "platform", required = true)]
    platforms: Vec<String>,
    /// A PKGBUILD to attach to the version (as a referrer of its index).
    #[arg(long)]
    pkgbuild: Option<PathBuf>,
    #[command(flatten)]
    credentials: CredentialArgs,
    /// The registry: http://host:port, or host[:port] (HTTPS unless loopback).
    registry: String,
}

#[derive(clap::Args)]
struct InstallArgs {
    /// Worker id.
    worker: String,
    /// Version [default: the latest release].
    #[arg(long)]
    version: Option<String>,
    /// Platform, linux/arm64 or linux-aarch64 [default: this machine's].
    #[arg(long)]
    platform: Option<String>,
    /// Installation prefix: bin/ and workers/ go here.
    #[arg(long, default_value = "/usr/local")]
    prefix: PathBuf,
    /// The registry.
    #[arg(long, env = "RBEE_REGISTRY", default_value = "http://127.0.0.1:8787")]
    registry: String,
    #[command(flatten)]
    credentials: CredentialArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "RBEE_LISTEN")]
    listen: Option<String>,
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
    /// Comma-separated origins allowed to call the catalog API from browsers (CORS).
    #[arg(long, env = "RBEE_CORS_ORIGINS")]
    cors_origins: Option<String>,
    /// Salt of the hashed client addresses in download analytics [default: a random salt
    /// kept in <data-dir>/analytics-salt]. Processes sharing one database must share it.
    #[arg(long, env = "RBEE_ANALYTICS_SALT", hide_env_values = true)]
    analytics_salt: Option<String>,
    /// Collect garbage every so often while serving (6h; off) [default: off].
    #[arg(long, env = "RBEE_GC_INTERVAL")]
    gc_interval: Option<String>,
    /// Grace period of the periodic collection (30m, 24h, 7d) [default: 24h].
    #[arg(long, env = "RBEE_GC_GRACE_PERIOD")]
    gc_grace_period: Option<String>,
    /// Upload-session age past which the periodic collection removes a session [default: 7d].
    #[arg(long, env = "RBEE_GC_UPLOAD_MAX_AGE")]
    gc_upload_max_age: Option<String>,
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
            ..Overrides::default()
        };
        Ok((overrides, file))
    }
}

fn main() -> ExitCode {
    // Before any other thread exists (the runtime starts its workers when it is built).
    rbee_registry::server::tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
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
        Command::Publish(args) => run_publish(args).await,
        Command::Install(args) => run_install(args).await,
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
    let (store_overrides, file) = args.store.load(args.listen)?;
    let overrides = Overrides {
        max_manifest_bytes: args.max_manifest_bytes,
        max_blob_bytes: args.max_blob_bytes,
        max_header_bytes: args.max_header_bytes,
        max_uploads_per_client: args.max_uploads_per_client,
        upload_session_ttl_secs: args.upload_session_ttl_secs,
        shutdown_grace_secs: args.shutdown_grace_secs,
        cors_origins: args.cors_origins,
        analytics_salt: args.analytics_salt,
        gc: GcOverrides {
            grace_period: args.gc_grace_period,
            upload_max_age: args.gc_upload_max_age,
            interval: args.gc_interval,
        },
        ..store_overrides
    };
    let config = ServeConfig::assemble(overrides, file).map_err(|e| e.to_string())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let listener = server::bind(&config).await.map_err(|e| e.to_string())?;
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "rbee-registry serving");
    server::serve(listener, registry, &config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn run_gc(args: GcArgs) -> Result<(), String> {
    let (overrides, file) = args.store.load(None)?;
    let overrides = Overrides {
        gc: GcOverrides {
            grace_period: args.grace_period,
            upload_max_age: args.upload_max_age,
            interval: None,
        },
        ..overrides
    };
    let config = ServeConfig::assemble(overrides, file).map_err(|e| e.to_string())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let options = GcOptions {
        dry_run: args.dry_run,
        grace_period: config.gc.grace_period,
        upload_max_age: config.gc.upload_max_age,
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

async fn run_publish(args: PublishArgs) -> Result<(), String> {
    let client = RegistryClient::new(&args.registry, args.credentials.credentials()?).map_err(|e| e.to_string())?;
    let platforms = args
        .platforms
        .iter()
        .map(|text| publish::parse_platform_argument(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let request = publish::PublishRequest {
        worker_id: args.worker,
        version: args.version,
        metadata: args.metadata,
        platforms,
        pkgbuild: args.pkgbuild,
    };
    let report = publish::publish(&client, &request).await.map_err(|e| e.to_string())?;
    for (platform, manifest, package, size) in &report.platforms {
        println!("{platform}\t{manifest}\tpackage {package} ({size} bytes)");
    }
    if let Some(pkgbuild) = &report.pkgbuild_digest {
        println!("PKGBUILD\t{pkgbuild}");
    }
    println!("{}:{}\t{}", report.repository, request.version, report.index_digest);
    Ok(())
}

async fn run_install(args: InstallArgs) -> Result<(), String> {
    let client = RegistryClient::new(&args.registry, args.credentials.credentials()?).map_err(|e| e.to_string())?;
    let platform = args
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let request = install::InstallRequest {
        worker_id: args.worker,
        version: args.version,
        platform,
        prefix: args.prefix,
    };
    let mut progress = progress::for_stderr();
    let report = install::install_worker(&client, &request, progress.as_mut())
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{} {} ({}) {}",
        report.worker_id,
        report.version,
        report.platform,
        report.binary.display()
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
    tracing::info!("shutdown signal received");
}
