//! The `rbee-registry` command line: `serve` (run the registry), `gc` (collect garbage),
//! `publish` and `install` (the client side), and the credential commands `publisher`,
//! `license` and `worker` (in `cli/`). The settings of `serve` and `gc` are declared
//! once in `rbee_registry::config`; this file only names the subcommands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod cli;

use clap::{Parser, Subcommand};
use rbee_registry::artifact::{Platform, WorkerId};
use rbee_registry::client::{install, progress, publish, Credentials, RegistryClient};
use rbee_registry::config::{FileConfig, GcFlags, Overrides, ServeConfig, ServeFlags};
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
    /// Token signing keys: `keys rotate` or `keys list` (shared by every process on the
    /// database; safe while serving).
    Keys(KeysArgs),
    /// Publisher tokens (CI credentials to push): create, list, revoke.
    #[command(subcommand)]
    Publisher(cli::PublisherCommand),
    /// License tokens for premium workers: issue, list, show, revoke, public keys.
    #[command(subcommand)]
    License(cli::LicenseCommand),
    /// A worker's access policy (premium or open).
    #[command(subcommand)]
    Worker(cli::WorkerCommand),
    /// The Git worker catalog: create it, add a worker, or sync it (safe while `serve` runs).
    Catalog(CatalogArgs),
    /// Replicate repositories from an upstream registry (once or periodically; safe while
    /// `serve` runs).
    Mirror(cli::mirror::MirrorArgs),
    /// Write an OCI image layout archive for an air-gapped replica (safe while `serve` runs).
    Export(cli::archive::ExportArgs),
    /// Load an archive (ours or another tool's OCI layout tar) into this registry.
    Import(cli::archive::ImportArgs),
}

#[derive(clap::Args)]
struct CatalogArgs {
    #[command(subcommand)]
    command: CatalogCommand,
}

/// The options every `catalog` subcommand takes: those of `serve`.
#[derive(clap::Args)]
struct CatalogCommon {
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// The same settings as `serve` (database, data directory, catalog source).
    #[command(flatten)]
    settings: ServeFlags,
}

#[derive(clap::Args)]
struct CatalogAddArgs {
    /// Worker id (the branch).
    #[arg(long)]
    worker: String,
    /// The worker's metadata.json (spec/worker-metadata.md).
    #[arg(long)]
    metadata: PathBuf,
    /// Its PKGBUILD.
    #[arg(long)]
    pkgbuild: Option<PathBuf>,
    /// Its README.md.
    #[arg(long)]
    readme: Option<PathBuf>,
    #[command(flatten)]
    common: CatalogCommon,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Create the catalog repository `<data_dir>/catalog.git` (then the default source).
    Init(CatalogCommon),
    /// Commit a worker's branch (and its line in the master index), then apply the catalog.
    Add(CatalogAddArgs),
    /// Fetch the catalog source (if remote) and apply the catalog to the database.
    Sync(CatalogCommon),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KeysAction {
    /// Make a new signing key; new tokens use it, older keys verify until their tokens expired.
    Rotate,
    /// List the signing keys, newest first.
    List,
}

#[derive(clap::Args)]
struct KeysArgs {
    /// What to do.
    #[arg(value_enum)]
    action: KeysAction,
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// The database settings (the same as `gc`'s, declared in `rbee_registry::config`).
    #[command(flatten)]
    settings: GcFlags,
}

/// Credentials for the registry: --username/--password, or --token; and a CA to trust.
#[derive(clap::Args)]
struct CredentialArgs {
    /// Registry username (with --password or RBEE_REGISTRY_PASSWORD).
    #[arg(long, env = "RBEE_REGISTRY_USERNAME")]
    username: Option<String>,
    /// Registry password or token used as a password.
    #[arg(long, env = "RBEE_REGISTRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A bearer token, sent as is; a publisher or license token (`rbee_pub_…`, `rbee_lic_…`)
    /// is sent as the password of the token flow instead.
    #[arg(
        long,
        env = "RBEE_REGISTRY_TOKEN",
        hide_env_values = true,
        conflicts_with = "username"
    )]
    token: Option<String>,
    /// PEM file of CA certificates to trust besides the built-in roots (a registry serving
    /// HTTPS with a private CA).
    #[arg(long, env = "RBEE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

impl CredentialArgs {
    /// The client of `registry` with these credentials and CA file.
    fn client(&self, registry: &str) -> Result<RegistryClient, String> {
        self.client_with(registry, self.credentials()?)
    }

    /// The client of `registry` with `credentials` and this CA file.
    fn client_with(&self, registry: &str, credentials: Option<Credentials>) -> Result<RegistryClient, String> {
        let client = RegistryClient::new(registry, credentials).map_err(|e| e.to_string())?;
        match &self.ca_file {
            Some(path) => client.trusting_ca_file(path).map_err(|e| e.to_string()),
            None => Ok(client),
        }
    }

    fn credentials(&self) -> Result<Option<Credentials>, String> {
        match (&self.username, &self.password, &self.token) {
            // A publisher or license token is a password of the token flow (any user name).
            (_, _, Some(token)) if token.starts_with("rbee_") => Ok(Some(Credentials::Basic {
                username: "token".into(),
                password: token.clone(),
            })),
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
    /// A license token (`rbee_lic_…`) for a premium worker (instead of other credentials).
    #[arg(long, env = "RBEE_LICENSE_TOKEN", hide_env_values = true, conflicts_with_all = ["username", "token"])]
    license: Option<String>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// Every other setting (declared once in `rbee_registry::config`).
    #[command(flatten)]
    settings: ServeFlags,
}

#[derive(clap::Args)]
struct GcArgs {
    /// Report what would be removed without removing anything.
    #[arg(long)]
    dry_run: bool,
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// The database, storage and collection settings (declared in `rbee_registry::config`).
    #[command(flatten)]
    settings: GcFlags,
}

/// The configuration: flags and environment over the file named by `--config` over defaults.
pub(crate) fn assemble(config: Option<&Path>, flags: Overrides) -> Result<ServeConfig, String> {
    let file = match config {
        Some(path) => FileConfig::load(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    ServeConfig::assemble(flags, file).map_err(|e| e.to_string())
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
        Command::Keys(args) => run_keys(args).await,
        Command::Publisher(command) => cli::run_publisher(command).await,
        Command::License(command) => cli::run_license(command).await,
        Command::Worker(command) => cli::run_worker(command).await,
        Command::Catalog(args) => run_catalog(args).await,
        Command::Mirror(args) => cli::mirror::run_mirror(args).await,
        Command::Export(args) => cli::archive::run_export(args).await,
        Command::Import(args) => cli::archive::run_import(args).await,
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
    let config = assemble(args.config.as_deref(), args.settings.0)?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let listener = server::bind(&config).await.map_err(|e| e.to_string())?;
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "rbee-registry serving");
    server::serve(listener, registry, &config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn run_gc(args: GcArgs) -> Result<(), String> {
    let config = assemble(args.config.as_deref(), args.settings.0)?;
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

/// Keys retired longer ago than this (or the token lifetime plus skew, if longer) are removed.
const KEY_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

async fn run_keys(args: KeysArgs) -> Result<(), String> {
    let rotate = matches!(args.action, KeysAction::Rotate);
    let config = assemble(args.config.as_deref(), args.settings.0)?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    if rotate {
        let skew = std::time::Duration::from_secs(rbee_registry::services::tokens::CLOCK_SKEW_SECS as u64);
        let retention = KEY_RETENTION.max(config.auth.tokens.lifetime + skew);
        let kid = registry
            .rotate_signing_key(retention)
            .await
            .map_err(|e| e.to_string())?;
        println!("{kid}");
        return Ok(());
    }
    for key in registry.list_signing_keys().await.map_err(|e| e.to_string())? {
        let state = match key.retired_at {
            None => "current".to_string(),
            Some(at) => format!("retired {}", millis_text(at)),
        };
        println!("{}\tcreated {}\t{state}", key.kid, millis_text(key.created_at));
    }
    Ok(())
}

async fn run_catalog(args: CatalogArgs) -> Result<(), String> {
    let common = match &args.command {
        CatalogCommand::Init(common) | CatalogCommand::Sync(common) => common,
        CatalogCommand::Add(add) => &add.common,
    };
    let config = assemble(common.config.as_deref(), common.settings.0.clone())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let report = match args.command {
        CatalogCommand::Init(_) => {
            let created = registry.init_catalog().await.map_err(|e| e.to_string())?;
            let path = registry.catalog_settings().repo_dir.display().to_string();
            println!("{} {path}", if created { "created" } else { "exists" });
            return Ok(());
        }
        CatalogCommand::Add(add) => {
            let worker = WorkerId::parse(&add.worker).map_err(|e| e.to_string())?;
            let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
            let metadata = read(&add.metadata)?;
            let pkgbuild = add.pkgbuild.as_deref().map(read).transpose()?;
            let readme = add.readme.as_deref().map(read).transpose()?;
            let added = registry
                .add_catalog_worker(&worker, metadata, pkgbuild, readme)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{worker}\t{}\t{}",
                added.commit,
                if added.branch_changed { "committed" } else { "unchanged" }
            );
            added.sync
        }
        CatalogCommand::Sync(_) => registry.sync_catalog().await.map_err(|e| e.to_string())?,
    };
    println!(
        "catalog {:?}: revision {} (master {}), {} upserted, {} delisted",
        report.outcome, report.revision, report.master_commit, report.upserted, report.delisted
    );
    for error in &report.branch_errors {
        println!("branch {}: {}", error.branch, error.error);
    }
    for branch in &report.unlisted {
        println!("branch {branch}: not named by the master index; not read");
    }
    Ok(())
}

/// A time stored in milliseconds since the epoch, as RFC 3339.
fn millis_text(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis / 1000)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| millis.to_string())
}

async fn run_publish(args: PublishArgs) -> Result<(), String> {
    let client = args.credentials.client(&args.registry)?;
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
    let credentials = match &args.license {
        // The license is the password of the token flow (any user name).
        Some(license) if !license.is_empty() => Some(Credentials::Basic {
            username: "license".into(),
            password: license.clone(),
        }),
        _ => args.credentials.credentials()?,
    };
    let client = args.credentials.client_with(&args.registry, credentials)?;
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
