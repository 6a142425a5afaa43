//! Metrics: the Prometheus series (every metric name is defined here), the process-global
//! recorder, the functions services call to record, and in-flight guards.
//!
//! A leaf: it imports nothing of the crate. Services call it; the HTTP middleware that
//! feeds the request series, gives each request an id and writes the access log is
//! `routes::observe`.
//!
//! The recorder is process-global (the `metrics` crate's facade); `/metrics` renders it. Series, all prefixed `rbee_`:
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `rbee_http_requests_total` | counter | route, method, status | finished requests |
//! | `rbee_http_request_duration_seconds` | histogram | route, method | time to the response head |
//! | `rbee_http_requests_in_flight` | gauge | | requests being handled |
//! | `rbee_http_request_body_bytes_total` | counter | route | bytes received in request bodies |
//! | `rbee_http_response_body_bytes_total` | counter | route | bytes sent in response bodies |
//! | `rbee_uploads_in_progress` | gauge | | upload requests (`POST`/`PATCH`/`PUT` of blob uploads) running |
//! | `rbee_downloads_in_progress` | gauge | | blob `GET` bodies being sent |
//! | `rbee_uploads_rejected_total` | counter | reason | uploads refused by a limit (`per_client`, `too_large`) |
//! | `rbee_upload_sessions_expired_total` | counter | | sessions removed after `upload_session_ttl` |
//! | `rbee_download_events_dropped_total` | counter | | worker downloads not counted because the analytics queue was full |
//! | `rbee_auth_failures_total` | counter | reason | failed authentications: `credentials` (wrong secret or refresh token at `/token`), `rate_limited`, `invalid_token` (a `/v2` bearer token refused), `insufficient_scope` |
//!
//! `route` is a fixed name (`blob`, `manifest`, `upload`, `tags`, …, `metrics`, `healthz`,
//! `legacy_workers`, `v1_download`, …: `oci::Endpoint::name` and the route table in `routes`), never a client-chosen path, so the
//! series stay few.
//!
//! Garbage collection runs as its own process (`rbee-registry gc`) or as the periodic job of
//! any `serve` process, so its results do not live in one process's memory: each run is
//! recorded in the database (`gc_runs`) and `/metrics` reads the latest at scrape time (one
//! indexed query) and renders it with [`render_gc_last_run`]. Every serving process thus
//! shows the same values. Before the first recorded run these series are absent.
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `rbee_gc_last_run_timestamp_seconds` | gauge | | Unix time the latest run finished |
//! | `rbee_gc_last_run_duration_seconds` | gauge | | how long the latest run took |
//! | `rbee_gc_last_run_success` | gauge | | 1 when the latest run succeeded, 0 when it failed |
//! | `rbee_gc_last_run_removed` | gauge | kind (`blob`, `link`, `upload_session`, `orphaned_upload_object`) | what the latest run removed (a failed run: up to its failure) |
//! | `rbee_gc_last_run_freed_bytes` | gauge | | bytes the latest run freed in the blob store |
//! | `rbee_gc_last_success_timestamp_seconds` | gauge | | Unix time the latest successful run finished |
//!
//! Dry runs (`gc --dry-run`) remove nothing and are not recorded.
//!
//! Periodic and triggered jobs (`services::jobs`: garbage collection, the catalog sync) run
//! in whichever process holds their lease; their outcome is on their row in the database,
//! rendered at each scrape like the GC run ([`render_jobs`]), one series per job name (the
//! names the code registers, never client input):
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `rbee_job_last_success_timestamp_seconds` | gauge | job | Unix time the job's latest successful run finished (absent before the first) |
//! | `rbee_job_last_run_success` | gauge | job | 1 when the job's latest run succeeded, 0 when it failed (absent before the first) |
//! | `rbee_job_running` | gauge | job | 1 while a process holds the job's lease |
//!
//! Catalog syncs (spec/catalog.md) run in this process (`POST /v1/catalog/sync`, the
//! periodic job, `catalog add` through this process's library) and count here; the applied
//! revision and its per-branch errors, the same for every process, are in the database and
//! `GET /v1/catalog/status`.
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `rbee_catalog_syncs_total` | counter | outcome (`applied`, `current`, `applied_elsewhere`, `failed`) | syncs this process ran |
//! | `rbee_catalog_branch_errors` | gauge | | branches refused by the latest sync this process ran |
//! | `rbee_catalog_last_sync_timestamp_seconds` | gauge | | Unix time of that sync |
//!
//! The pull-through cache (`services::pull_through`, spec/replication.md) counts per process:
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `rbee_pull_through_hits_total` | counter | kind (`manifest`, `blob`) | requests answered from what was held |
//! | `rbee_pull_through_misses_total` | counter | kind | requests that needed the upstream |
//! | `rbee_pull_through_upstream_fetches_total` | counter | kind | requests this process made to an upstream for content |
//! | `rbee_pull_through_errors_total` | counter | reason (`unreachable`, `refused`, `invalid`, `stale_served`) | failed fetches, and held tags served because a recheck failed |
//! Mirrors (`services::mirror`) record each repository's last run in the database; every
//! scrape renders them ([`render_mirrors`], `observability/mirrors.rs`), one series per
//! upstream and repository the operator mirrors:
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `rbee_mirror_last_run_success` | gauge | upstream, repository | 1 when the latest run succeeded, 0 when it failed |
//! | `rbee_mirror_last_success_timestamp_seconds` | gauge | upstream, repository | Unix time the latest successful run finished |
//! | `rbee_mirror_lag_seconds` | gauge | upstream, repository | how long upstream tags have not been brought here (0: caught up) |
//! | `rbee_mirror_last_run_bytes` | gauge | upstream, repository | bytes the latest run received |
//! | `rbee_mirror_last_run_blobs` | gauge | upstream, repository | blobs the latest run stored |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

mod mirrors;

pub use mirrors::{render_mirrors, MirrorRecord};

use metrics::{counter, gauge, Gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "rbee_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "rbee_http_request_duration_seconds";
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "rbee_http_requests_in_flight";
pub const HTTP_REQUEST_BYTES: &str = "rbee_http_request_body_bytes_total";
pub const HTTP_RESPONSE_BYTES: &str = "rbee_http_response_body_bytes_total";
pub const UPLOADS_IN_PROGRESS: &str = "rbee_uploads_in_progress";
pub const DOWNLOADS_IN_PROGRESS: &str = "rbee_downloads_in_progress";
pub const UPLOADS_REJECTED: &str = "rbee_uploads_rejected_total";
pub const UPLOAD_SESSIONS_EXPIRED: &str = "rbee_upload_sessions_expired_total";
pub const AUTH_FAILURES: &str = "rbee_auth_failures_total";
pub const DOWNLOAD_EVENTS_DROPPED: &str = "rbee_download_events_dropped_total";
pub const GC_LAST_RUN: &str = "rbee_gc_last_run_timestamp_seconds";
pub const GC_LAST_RUN_DURATION: &str = "rbee_gc_last_run_duration_seconds";
pub const GC_LAST_RUN_SUCCESS: &str = "rbee_gc_last_run_success";
pub const GC_LAST_RUN_REMOVED: &str = "rbee_gc_last_run_removed";
pub const GC_LAST_RUN_FREED_BYTES: &str = "rbee_gc_last_run_freed_bytes";
pub const GC_LAST_SUCCESS: &str = "rbee_gc_last_success_timestamp_seconds";
pub const JOB_LAST_SUCCESS: &str = "rbee_job_last_success_timestamp_seconds";
pub const JOB_LAST_RUN_SUCCESS: &str = "rbee_job_last_run_success";
pub const JOB_RUNNING: &str = "rbee_job_running";
pub const CATALOG_SYNCS: &str = "rbee_catalog_syncs_total";
pub const CATALOG_BRANCH_ERRORS: &str = "rbee_catalog_branch_errors";
pub const CATALOG_LAST_SYNC: &str = "rbee_catalog_last_sync_timestamp_seconds";

/// Latency buckets, seconds: from 100 µs (a cached manifest) to a minute (a large push).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// The process's metrics: installed as the global recorder on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), LATENCY_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will not see rbee's series");
        }
        describe_and_register();
        // Histograms keep raw samples until rendered; drain them even if nobody scrapes.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("spawning the metrics upkeep thread");
        handle
    })
}

/// Describes every series of the recorder and creates the unlabelled ones at zero, so a scrape
/// shows them before they first change.
fn describe_and_register() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(HTTP_REQUESTS, "HTTP requests finished, by route, method and status");
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time from request to response head"
    );
    describe_gauge!(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being handled");
    describe_counter!(HTTP_REQUEST_BYTES, Unit::Bytes, "Bytes received in request bodies");
    describe_counter!(HTTP_RESPONSE_BYTES, Unit::Bytes, "Bytes sent in response bodies");
    describe_gauge!(UPLOADS_IN_PROGRESS, "Blob upload requests running");
    describe_gauge!(DOWNLOADS_IN_PROGRESS, "Blob downloads being sent");
    describe_counter!(UPLOADS_REJECTED, "Uploads refused by a limit, by reason");
    describe_counter!(UPLOAD_SESSIONS_EXPIRED, "Upload sessions removed after their lifetime");
    describe_counter!(AUTH_FAILURES, "Failed authentications, by reason");

    gauge!(HTTP_REQUESTS_IN_FLIGHT).set(0.0);
    gauge!(UPLOADS_IN_PROGRESS).set(0.0);
    gauge!(DOWNLOADS_IN_PROGRESS).set(0.0);
    counter!(UPLOAD_SESSIONS_EXPIRED).absolute(0);
    for reason in ["per_client", "too_large"] {
        counter!(UPLOADS_REJECTED, "reason" => reason).absolute(0);
    }
    for reason in AUTH_FAILURE_REASONS {
        counter!(AUTH_FAILURES, "reason" => reason).absolute(0);
    }
}

/// A recorded collection run (the latest one, for `/metrics`): a plain value that services
/// fill from the database and this module renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRunRecord {
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    pub succeeded: bool,
    pub blobs_removed: u64,
    pub links_removed: u64,
    pub upload_sessions_removed: u64,
    pub orphaned_upload_objects_removed: u64,
    pub freed_bytes: u64,
    /// When the latest successful run finished (this one, when it succeeded).
    pub last_success_at: Option<SystemTime>,
}

/// The latest garbage-collection run as Prometheus text (gauges with `# HELP` and `# TYPE`),
/// to append to the recorder's output. Rendered per scrape from the database, never kept in
/// the process-global recorder, so each registry shows its own database's run.
pub fn render_gc_last_run(run: &GcRunRecord) -> String {
    use std::fmt::Write as _;
    let seconds = |time: SystemTime| {
        time.duration_since(SystemTime::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs_f64())
            .unwrap_or(0.0)
    };
    let duration = run
        .finished_at
        .duration_since(run.started_at)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0);
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    };
    gauge(
        GC_LAST_RUN,
        "Unix time the latest garbage-collection run finished",
        &[("", seconds(run.finished_at))],
    );
    gauge(
        GC_LAST_RUN_DURATION,
        "How long the latest garbage-collection run took, seconds",
        &[("", duration)],
    );
    gauge(
        GC_LAST_RUN_SUCCESS,
        "1 when the latest garbage-collection run succeeded, 0 when it failed",
        &[("", if run.succeeded { 1.0 } else { 0.0 })],
    );
    gauge(
        GC_LAST_RUN_REMOVED,
        "What the latest garbage-collection run removed, by kind",
        &[
            ("{kind=\"blob\"}", run.blobs_removed as f64),
            ("{kind=\"link\"}", run.links_removed as f64),
            ("{kind=\"upload_session\"}", run.upload_sessions_removed as f64),
            (
                "{kind=\"orphaned_upload_object\"}",
                run.orphaned_upload_objects_removed as f64,
            ),
        ],
    );
    gauge(
        GC_LAST_RUN_FREED_BYTES,
        "Bytes the latest garbage-collection run freed in the blob store",
        &[("", run.freed_bytes as f64)],
    );
    if let Some(success) = run.last_success_at {
        gauge(
            GC_LAST_SUCCESS,
            "Unix time the latest successful garbage-collection run finished",
            &[("", seconds(success))],
        );
    }
    text
}

/// A job's outcome for `/metrics`: a plain value that services fill from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub name: String,
    pub running: bool,
    pub last_run_succeeded: Option<bool>,
    pub last_success_at: Option<SystemTime>,
}

/// Every job's outcome as Prometheus text, to append to the recorder's output (read from the
/// database per scrape, so every process shows the same).
pub fn render_jobs(jobs: &[JobRecord]) -> String {
    use std::fmt::Write as _;
    if jobs.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, value: &dyn Fn(&JobRecord) -> Option<f64>| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
        for job in jobs {
            if let Some(value) = value(job) {
                let label = job.name.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(text, "{name}{{job=\"{label}\"}} {value}");
            }
        }
    };
    gauge(
        JOB_LAST_SUCCESS,
        "Unix time the job's latest successful run finished",
        &|job| {
            job.last_success_at.map(|time| {
                time.duration_since(SystemTime::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_secs_f64())
                    .unwrap_or(0.0)
            })
        },
    );
    gauge(
        JOB_LAST_RUN_SUCCESS,
        "1 when the job's latest run succeeded, 0 when it failed",
        &|job| job.last_run_succeeded.map(|ok| if ok { 1.0 } else { 0.0 }),
    );
    gauge(JOB_RUNNING, "1 while a process holds the job's lease", &|job| {
        Some(if job.running { 1.0 } else { 0.0 })
    });
    text
}

/// Records upload sessions removed because they outlived their lifetime.
pub fn record_expired_sessions(count: u64) {
    counter!(UPLOAD_SESSIONS_EXPIRED).increment(count);
}

/// Counts a worker download the analytics queue had no room for; returns how many were
/// dropped in this process so far.
pub fn record_dropped_download() -> u64 {
    static DROPPED: AtomicU64 = AtomicU64::new(0);
    counter!(DOWNLOAD_EVENTS_DROPPED).increment(1);
    DROPPED.fetch_add(1, Ordering::Relaxed) + 1
}

/// Records a catalog sync: its outcome (`applied`, `current`, `applied_elsewhere`,
/// `failed`) and, when it read the catalog, how many branches it refused.
pub fn record_catalog_sync(outcome: &'static str, branch_errors: Option<usize>) {
    counter!(CATALOG_SYNCS, "outcome" => outcome).increment(1);
    if let Some(errors) = branch_errors {
        gauge!(CATALOG_BRANCH_ERRORS).set(errors as f64);
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    gauge!(CATALOG_LAST_SYNC).set(now.as_secs_f64());
}

/// Records an upload refused by a limit (`per_client` or `too_large`).
pub fn record_rejected_upload(reason: &'static str) {
    counter!(UPLOADS_REJECTED, "reason" => reason).increment(1);
}

/// The reasons of `rbee_auth_failures_total`.
pub const AUTH_FAILURE_REASONS: [&str; 4] = ["credentials", "rate_limited", "invalid_token", "insufficient_scope"];

/// Records a failed authentication (one of [`AUTH_FAILURE_REASONS`]). Never the secret.
pub fn record_auth_failure(reason: &'static str) {
    counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}

/// Increments a gauge now and decrements it when dropped.
pub struct InFlight(Gauge);

impl InFlight {
    pub fn new(name: &'static str) -> Self {
        let gauge = gauge!(name);
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The pull-through cache's series (`services::pull_through`, counted per process):
/// `rbee_pull_through_hits_total` and `rbee_pull_through_misses_total` (by `kind`,
/// `manifest` or `blob`: requests answered from what was held, and requests that needed
/// the upstream), `rbee_pull_through_upstream_fetches_total` (by `kind`: fetches this
/// process made from an upstream) and `rbee_pull_through_errors_total` (by `reason`:
/// `unreachable` (the upstream could not be asked or answered 5xx), `refused` (it refused
/// the credentials or the request), `invalid` (bytes that do not match their digest, an
/// invalid manifest), `stale_served` (a cached tag served because the recheck failed)).
pub const PULL_THROUGH_HITS: &str = "rbee_pull_through_hits_total";
pub const PULL_THROUGH_MISSES: &str = "rbee_pull_through_misses_total";
pub const PULL_THROUGH_UPSTREAM_FETCHES: &str = "rbee_pull_through_upstream_fetches_total";
pub const PULL_THROUGH_ERRORS: &str = "rbee_pull_through_errors_total";

/// Records a pull-through request answered from what was held (`kind`: `manifest`, `blob`).
pub fn record_pull_through_hit(kind: &'static str) {
    counter!(PULL_THROUGH_HITS, "kind" => kind).increment(1);
}

/// Records a pull-through request that needed the upstream.
pub fn record_pull_through_miss(kind: &'static str) {
    counter!(PULL_THROUGH_MISSES, "kind" => kind).increment(1);
}

/// Records one fetch from an upstream.
pub fn record_pull_through_fetch(kind: &'static str) {
    counter!(PULL_THROUGH_UPSTREAM_FETCHES, "kind" => kind).increment(1);
}

/// Records a pull-through failure (`reason`: a fixed name, see [`PULL_THROUGH_ERRORS`]).
pub fn record_pull_through_error(reason: &'static str) {
    counter!(PULL_THROUGH_ERRORS, "reason" => reason).increment(1);
}
