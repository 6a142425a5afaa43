//! Observability: the Prometheus series (every metric name is defined here), the request
//! middleware that feeds them and gives each request an id, and in-flight guards.
//!
//! The recorder is process-global (the `metrics` crate's facade), so any module can record
//! with `metrics::counter!(NAME)`; `/metrics` renders it. Series, all prefixed `rbee_`:
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
//!
//! `route` is a fixed name (`blob`, `manifest`, `upload`, `tags`, …, `metrics`, `healthz`,
//! `legacy_workers`, `v1_download`, … see `route_name`), never a client-chosen path, so the
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
//! Dry runs (`gc --dry-run`) remove nothing and are not recorded. There is no mirror or
//! catalog-sync feature yet, so there are no sync series.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use metrics::{counter, gauge, histogram, Counter, Gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::oci::route::endpoint_name;
use crate::services::gc::GcRunRecord;

pub const HTTP_REQUESTS: &str = "rbee_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "rbee_http_request_duration_seconds";
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "rbee_http_requests_in_flight";
pub const HTTP_REQUEST_BYTES: &str = "rbee_http_request_body_bytes_total";
pub const HTTP_RESPONSE_BYTES: &str = "rbee_http_response_body_bytes_total";
pub const UPLOADS_IN_PROGRESS: &str = "rbee_uploads_in_progress";
pub const DOWNLOADS_IN_PROGRESS: &str = "rbee_downloads_in_progress";
pub const UPLOADS_REJECTED: &str = "rbee_uploads_rejected_total";
pub const UPLOAD_SESSIONS_EXPIRED: &str = "rbee_upload_sessions_expired_total";
pub const DOWNLOAD_EVENTS_DROPPED: &str = "rbee_download_events_dropped_total";
pub const GC_LAST_RUN: &str = "rbee_gc_last_run_timestamp_seconds";
pub const GC_LAST_RUN_DURATION: &str = "rbee_gc_last_run_duration_seconds";
pub const GC_LAST_RUN_SUCCESS: &str = "rbee_gc_last_run_success";
pub const GC_LAST_RUN_REMOVED: &str = "rbee_gc_last_run_removed";
pub const GC_LAST_RUN_FREED_BYTES: &str = "rbee_gc_last_run_freed_bytes";
pub const GC_LAST_SUCCESS: &str = "rbee_gc_last_success_timestamp_seconds";

/// The request id header, read from the client when present and always answered.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given request id kept; longer (or non-visible-ASCII) ids are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

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

    gauge!(HTTP_REQUESTS_IN_FLIGHT).set(0.0);
    gauge!(UPLOADS_IN_PROGRESS).set(0.0);
    gauge!(DOWNLOADS_IN_PROGRESS).set(0.0);
    counter!(UPLOAD_SESSIONS_EXPIRED).absolute(0);
    for reason in ["per_client", "too_large"] {
        counter!(UPLOADS_REJECTED, "reason" => reason).absolute(0);
    }
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

/// Records an upload refused by a limit (`per_client` or `too_large`).
pub fn record_rejected_upload(reason: &'static str) {
    counter!(UPLOADS_REJECTED, "reason" => reason).increment(1);
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

/// A body that counts the bytes passing through it and holds an optional guard until done.
pub struct CountingBody {
    inner: Body,
    counter: Counter,
    _guard: Option<InFlight>,
}

impl CountingBody {
    pub fn wrap(inner: Body, counter: Counter, guard: Option<InFlight>) -> Body {
        Body::new(CountingBody {
            inner,
            counter,
            _guard: guard,
        })
    }
}

impl HttpBody for CountingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.counter.increment(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request id unique in this process: a random prefix chosen at start, then a counter.
fn next_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The client's request id when usable, else a fresh one.
fn request_id_of(request: &Request) -> HeaderValue {
    if let Some(value) = request.headers().get(&X_REQUEST_ID) {
        let bytes = value.as_bytes();
        if !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(|b| b.is_ascii_graphic()) {
            return value.clone();
        }
    }
    HeaderValue::from_str(&next_request_id()).expect("hex and dashes are a valid header value")
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Whether a request of this method on this route is a blob upload.
pub fn is_upload(route: &str, method: &Method) -> bool {
    matches!(route, "uploads" | "upload") && matches!(*method, Method::POST | Method::PATCH | Method::PUT)
}

/// The low-cardinality route name of a request.
pub fn route_name(request: &Request) -> &'static str {
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/v2") {
        if rest.is_empty() || rest.starts_with('/') {
            return endpoint_name(rest.strip_prefix('/').unwrap_or(rest));
        }
    }
    match request.extensions().get::<MatchedPath>().map(MatchedPath::as_str) {
        Some("/metrics") => "metrics",
        Some("/healthz") => "healthz",
        Some("/readyz") => "readyz",
        Some("/health") => "legacy_health",
        Some("/workers") => "legacy_workers",
        Some("/workers/{id}") => "legacy_worker",
        Some("/workers/{id}/PKGBUILD") => "legacy_pkgbuild",
        Some("/v1/workers") => "v1_workers",
        Some("/v1/workers/{id}") => "v1_worker",
        Some("/v1/workers/{id}/pkgbuild") => "v1_pkgbuild",
        Some("/v1/workers/{id}/versions") => "v1_versions",
        Some("/v1/workers/{id}/stats") => "v1_stats",
        Some("/v1/workers/{id}/{version}/download") => "v1_download",
        Some(_) => "other",
        None => "unmatched",
    }
}

/// The middleware around every request: request id (in and out), a tracing span carrying
/// it, counters, latency, bytes in/out, in-flight gauges and one access-log event.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_name(&request);
    let method = method_label(request.method());
    let request_id = request_id_of(&request);
    let upload = is_upload(route, request.method());
    let download = route == "blob" && request.method() == Method::GET;
    let span = tracing::info_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default(),
        method,
        route,
    );
    let mut request = request;
    request.headers_mut().insert(X_REQUEST_ID, request_id.clone());
    let uri = request.uri().clone();
    let request = request.map(|body| CountingBody::wrap(body, counter!(HTTP_REQUEST_BYTES, "route" => route), None));

    let _in_flight = InFlight::new(HTTP_REQUESTS_IN_FLIGHT);
    let upload_guard = upload.then(|| InFlight::new(UPLOADS_IN_PROGRESS));
    let response = next.run(request).instrument(span.clone()).await;
    drop(upload_guard);

    let elapsed = started.elapsed();
    let status = response.status();
    counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status.as_u16().to_string()).increment(1);
    histogram!(HTTP_REQUEST_DURATION, "route" => route, "method" => method).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            target: "rbee_registry::access",
            status = status.as_u16(),
            path = uri.path(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        )
    });

    let (mut parts, body) = response.into_parts();
    parts.headers.insert(X_REQUEST_ID, request_id);
    let guard = (download && status.is_success()).then(|| InFlight::new(DOWNLOADS_IN_PROGRESS));
    let body = CountingBody::wrap(body, counter!(HTTP_RESPONSE_BYTES, "route" => route), guard);
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_valid_headers() {
        let a = next_request_id();
        let b = next_request_id();
        assert_ne!(a, b);
        assert!(HeaderValue::from_str(&a).is_ok());
    }

    #[test]
    fn client_request_ids_are_kept_only_when_sane() {
        let with = |value: &str| {
            let request = Request::builder()
                .uri("/v2/")
                .header(X_REQUEST_ID, value)
                .body(Body::empty())
                .unwrap();
            request_id_of(&request)
        };
        assert_eq!(with("abc-123"), "abc-123");
        assert_ne!(
            with(&"x".repeat(MAX_REQUEST_ID_LEN + 1)),
            "x".repeat(MAX_REQUEST_ID_LEN + 1)
        );
        assert_ne!(with("has space"), "has space");
    }
}
