//! `rbee-registry export` and `rbee-registry import`: archives for air-gapped replicas
//! (spec/replication.md, "Archives"). Both take `serve`'s database, storage and data
//! directory options and show progress (a bar on a terminal, plain lines otherwise).

use std::io::IsTerminal;
use std::path::PathBuf;

use rbee_registry::auth::principal::RepoPattern;
use rbee_registry::client::progress::{self, PlainLines, Progress};
use rbee_registry::config::ServeFlags;
use rbee_registry::oci::RepoName;
use rbee_registry::server;
use rbee_registry::services::archive::{layout, ExportOptions, ImportOptions};

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The archive to write (an OCI image layout tar).
    #[arg(long)]
    out: PathBuf,
    /// Only repositories matching this pattern (`workers/*`, `team/**`; repeat) [default: all].
    #[arg(long = "repo")]
    repos: Vec<String>,
    /// Incremental: only what was pushed since this date (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// The same settings as `serve` (database, storage, data directory).
    #[command(flatten)]
    settings: ServeFlags,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The archive to read.
    archive: PathBuf,
    /// The repository of entries that name none (archives of other tools that carry only
    /// `org.opencontainers.image.ref.name`).
    #[arg(long = "repo")]
    repo: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// The same settings as `serve` (database, storage, data directory).
    #[command(flatten)]
    settings: ServeFlags,
}

pub async fn run_export(args: ExportArgs) -> Result<(), String> {
    let patterns = args
        .repos
        .iter()
        .map(|text| RepoPattern::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let since = args.since.as_deref().map(layout::parse_since).transpose()?;
    let config = crate::assemble(args.config.as_deref(), args.settings.0)?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let options = ExportOptions { patterns, since };
    let mut progress = progress_display();
    let report = registry
        .export_archive(&args.out, &options, progress.as_mut())
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "exported {} repositories, {} tags, {} manifests, {} blobs ({} bytes of content){}; \
         catalog: {} files; license keys: {}; revocations: {}; {} ({} bytes)",
        report.repositories,
        report.tags,
        report.manifests,
        report.blobs,
        report.content_bytes,
        if since.is_some() {
            format!(", {} older blobs left out", report.blobs_left_out)
        } else {
            String::new()
        },
        report.catalog_files,
        report.license_keys,
        report.revocations,
        args.out.display(),
        report.archive_bytes
    );
    Ok(())
}

pub async fn run_import(args: ImportArgs) -> Result<(), String> {
    let repository = args
        .repo
        .as_deref()
        .map(RepoName::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let config = crate::assemble(args.config.as_deref(), args.settings.0)?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let mut progress = progress_display();
    let report = registry
        .import_archive(&args.archive, &ImportOptions { repository }, progress.as_mut())
        .await
        .map_err(|e| format!("{}: {e}; nothing of it was made visible", args.archive.display()))?;
    for path in &report.ignored {
        println!("ignored {path}");
    }
    println!(
        "imported {} repositories; blobs: {} stored ({} bytes), {} skipped; manifests: {} stored, {} skipped; \
         tags: {} set, {} skipped; license keys: {} added, {} skipped; revocations: {} added, {} skipped",
        report.repositories,
        report.blobs_stored,
        report.bytes_stored,
        report.blobs_skipped,
        report.manifests_stored,
        report.manifests_skipped,
        report.tags_set,
        report.tags_skipped,
        report.license_keys_added,
        report.license_keys_skipped,
        report.revocations_added,
        report.revocations_skipped
    );
    if let Some(catalog) = &report.catalog {
        println!("{catalog}");
    }
    Ok(())
}

/// The bar of `client::progress` on a terminal; otherwise plain lines in this command's words.
fn progress_display() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        progress::for_stderr()
    } else {
        Box::new(PlainLines::labelled())
    }
}
