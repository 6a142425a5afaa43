//! Mirrors: replicating repositories from an upstream Distribution registry into this one
//! (spec/replication.md, "Mirrors"). `rbee-registry mirror` and the `serve` job
//! ([`mirror_job`]) both call [`Registry::run_mirror`].
//!
//! - `copy.rs`: one repository: its tags (skipped when the upstream digest equals the local
//!   one), manifests fetched by digest and stored byte for byte, index children (only the
//!   chosen platforms), referrers, and `--prune`.
//! - `blobs.rs`: one blob, streamed from the upstream into an upload session of this
//!   registry in chunks, so a run cut short resumes with `Range` from the session's size;
//!   verified by the upload's digest check before it becomes visible.
//! - `store.rs`: storing a fetched manifest, accepting a *sparse* index (children left out
//!   by `--platform`) for mirrored content only.
//! - `lease.rs`: a one-off run under the job lease (`services::jobs`), so the command and a
//!   `serve` job of the same upstream never run together.
//! - `report.rs`: the run's report and summary line, shared counters and progress, the
//!   bandwidth cap.
//! - `state.rs`: what runs recorded (`mirror_state`), for `GET /v1/mirrors`, `/metrics` and
//!   `/readyz`.

mod blobs;
mod copy;
mod lease;
mod report;
mod state;
mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use report::{MirrorReport, SharedProgress};
pub use state::{MirrorState, MirrorTransfer, StaleMirror};

use report::{Counters, Throttle};

use super::jobs::Job;
use super::{Registry, RegistryError};
use crate::artifact::Platform;
use crate::auth::principal::RepoPattern;
use crate::client::{ClientError, Credentials, RegistryClient};
use crate::db::now_millis;
use crate::oci::RepoName;

/// Default number of blobs copied at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Default size of the chunks a blob is stored in while it is copied (the unit of resume).
pub const DEFAULT_CHUNK_BYTES: u64 = 16 * 1024 * 1024;
/// Default age of the last success past which `/readyz` lists a mirror.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Why a mirror run (or one of its parts) failed.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("upstream: {0}")]
    Upstream(#[from] ClientError),
    #[error("{0}")]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::db::DbError> for MirrorError {
    fn from(error: crate::db::DbError) -> Self {
        MirrorError::Registry(error.into())
    }
}

/// What to replicate and how.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// The upstream's base URL as the state records it.
    pub upstream: String,
    /// Repositories to copy (names or globs); empty: every repository of the upstream's
    /// `_catalog`.
    pub repositories: Vec<RepoPattern>,
    /// Platforms to copy of each index; empty: every platform.
    pub platforms: Vec<Platform>,
    /// Remove local tags the upstream no longer has.
    pub prune: bool,
    /// Blobs copied at once (at least 1).
    pub concurrency: usize,
    /// Chunk size of blob copies (the unit of resume).
    pub chunk_bytes: u64,
    /// Bandwidth cap over all copies, bytes per second; `None`: none.
    pub max_bytes_per_second: Option<u64>,
}

impl MirrorOptions {
    pub fn new(upstream: &str) -> MirrorOptions {
        MirrorOptions {
            upstream: upstream.to_string(),
            repositories: Vec::new(),
            platforms: Vec::new(),
            prune: false,
            concurrency: DEFAULT_CONCURRENCY,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            max_bytes_per_second: None,
        }
    }

    /// Options for `upstream` with repository patterns and platforms as the user wrote them
    /// (checked here, once).
    pub fn with_filters(
        upstream: &str,
        repositories: &[String],
        platforms: &[String],
    ) -> Result<MirrorOptions, String> {
        let mut options = MirrorOptions::new(upstream);
        options.repositories = repositories
            .iter()
            .map(|text| RepoPattern::parse(text))
            .collect::<Result<_, _>>()?;
        options.platforms = platforms
            .iter()
            .map(|text| Platform::parse(text).map_err(|error| error.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(options)
    }

    /// The job name of this upstream's mirror (one lease per upstream).
    pub fn job_name(&self) -> String {
        format!("mirror {}", self.upstream)
    }
}

/// The configured mirror of `serve` (settings `mirror.*`) and the staleness threshold of
/// `/readyz`.
#[derive(Debug, Clone)]
pub struct MirrorSettings {
    /// The upstream to mirror periodically; `None`: no mirror job.
    pub upstream: Option<String>,
    pub credentials: Option<Credentials>,
    pub options: Option<MirrorOptions>,
    /// How often the job runs.
    pub interval: Option<Duration>,
    /// A mirror whose last success is older is listed by `/readyz`.
    pub stale_after: Duration,
    /// Blobs copied at once (`mirror.concurrency`; also the command's default).
    pub concurrency: usize,
}

impl Default for MirrorSettings {
    fn default() -> Self {
        MirrorSettings {
            upstream: None,
            credentials: None,
            options: None,
            interval: None,
            stale_after: DEFAULT_STALE_AFTER,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

impl Registry {
    /// Replicates the repositories `options` names from `upstream` into this registry and
    /// records each repository's run (`mirror_state`). Errors of one tag or repository are
    /// collected in the report and the run goes on; only a failure to list what to copy
    /// fails it.
    pub async fn run_mirror(
        &self,
        upstream: &RegistryClient,
        options: &MirrorOptions,
        progress: SharedProgress,
    ) -> Result<MirrorReport, MirrorError> {
        let repositories = self.mirror_repositories(upstream, options).await?;
        let throttle = Throttle::new(options.max_bytes_per_second);
        let mut report = MirrorReport::default();
        for name in repositories {
            let started_at = now_millis();
            let counters = Counters::default();
            let copy = copy::RepositoryCopy {
                registry: self,
                upstream,
                options,
                name: name.clone(),
                counters: &counters,
                progress: progress.clone(),
                throttle: &throttle,
                visited: Mutex::default(),
            };
            let errors = copy.run().await;
            if let Ok(mut progress) = progress.lock() {
                for error in &errors {
                    progress.note(&format!("error: {error}"));
                }
            }
            let error_text = (!errors.is_empty()).then(|| errors.join("; ").chars().take(2000).collect::<String>());
            let run = crate::db::mirrors::RepositoryRun {
                upstream: &options.upstream,
                repository: name.as_str(),
                started_at,
                finished_at: now_millis(),
                error: error_text.as_deref(),
                manifests_copied: Counters::get(&counters.manifests) as i64,
                blobs_copied: Counters::get(&counters.blobs) as i64,
                bytes_copied: Counters::get(&counters.bytes) as i64,
                skipped: Counters::get(&counters.skipped) as i64,
            };
            if let Err(error) = crate::db::mirrors::record_run(self.db.writer(), &run).await {
                report.errors.push(format!("{name}: could not record the run: {error}"));
            }
            report.repositories += 1;
            report.manifests += Counters::get(&counters.manifests);
            report.blobs += Counters::get(&counters.blobs);
            report.bytes += Counters::get(&counters.bytes);
            report.skipped += Counters::get(&counters.skipped);
            report.resumed += Counters::get(&counters.resumed);
            report.pruned += Counters::get(&counters.pruned);
            report
                .errors
                .extend(errors.into_iter().map(|error| format!("{name}: {error}")));
        }
        Ok(report)
    }

    /// The repositories to copy: the patterns without wildcards as they are, and the
    /// upstream's `_catalog` filtered by the patterns (all of it without patterns).
    async fn mirror_repositories(
        &self,
        upstream: &RegistryClient,
        options: &MirrorOptions,
    ) -> Result<Vec<RepoName>, MirrorError> {
        let literal: Vec<RepoName> = options
            .repositories
            .iter()
            .filter(|pattern| !pattern.as_str().contains('*'))
            .filter_map(|pattern| RepoName::parse(pattern.as_str()).ok())
            .collect();
        let needs_catalog = options.repositories.is_empty() || literal.len() < options.repositories.len();
        let mut names = literal;
        if needs_catalog {
            let Some(catalog) = upstream.list_catalog().await? else {
                return Err(MirrorError::Invalid(
                    "the upstream shows no _catalog to these credentials: name the repositories with --repo".into(),
                ));
            };
            for text in catalog {
                let Ok(name) = RepoName::parse(&text) else { continue };
                let wanted = options.repositories.is_empty()
                    || options.repositories.iter().any(|pattern| pattern.matches(&name));
                if wanted && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
        Ok(names)
    }

    /// Like [`Registry::run_mirror`], holding this upstream's job lease (waiting while
    /// another process runs it), and recording the run on the job's row.
    pub async fn run_mirror_once(
        &self,
        upstream: &RegistryClient,
        options: &MirrorOptions,
        progress: SharedProgress,
    ) -> Result<MirrorReport, MirrorError> {
        let name = options.job_name();
        self.with_job_lease(&name, async {
            let report = self.run_mirror(upstream, options, progress).await;
            let outcome = match &report {
                Ok(report) if report.errors.is_empty() => Ok(report.summary()),
                Ok(report) => Err(format!("{}; first error: {}", report.summary(), report.errors[0])),
                Err(error) => Err(error.to_string()),
            };
            (report, outcome)
        })
        .await
    }
}

/// The periodic mirror of `serve` (settings `mirror.*`): one run every `interval`, the first
/// at once, under the lease of the upstream's job.
pub fn mirror_job(
    registry: Registry,
    upstream: Arc<RegistryClient>,
    options: MirrorOptions,
    interval: Duration,
) -> Job {
    let name = options.job_name();
    Job::new(&name, Some(interval), move || {
        let registry = registry.clone();
        let upstream = upstream.clone();
        let options = options.clone();
        async move {
            let silent: SharedProgress = Arc::new(Mutex::new(Box::new(crate::client::progress::Silent)));
            let report = registry
                .run_mirror(&upstream, &options, silent)
                .await
                .map_err(|error| super::jobs::JobFailure(error.to_string()))?;
            if report.errors.is_empty() {
                Ok(report.summary())
            } else {
                Err(super::jobs::JobFailure(format!(
                    "{}; first error: {}",
                    report.summary(),
                    report.errors[0]
                )))
            }
        }
    })
    .first_run_now()
}
