//! The HTTP middleware around every request: a request id (in and out), a tracing span
//! carrying it, the request series of `observability` (counters, latency, bytes in and out,
//! in-flight gauges) and one access-log event.
//!
//! The route label comes from one source: for `/v2/…` the parsed path's endpoint (the path
//! is parsed here once and handed to the dispatcher), elsewhere the name the route table in
//! `routes` gives each route.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use metrics::{counter, histogram, Counter};
use tracing::Instrument;

use crate::observability::{
    InFlight, DOWNLOADS_IN_PROGRESS, HTTP_REQUESTS, HTTP_REQUESTS_IN_FLIGHT, HTTP_REQUEST_BYTES, HTTP_REQUEST_DURATION,
    HTTP_RESPONSE_BYTES, UPLOADS_IN_PROGRESS,
};
use crate::oci::{parse_v2_path, ParseError, V2Path};

/// The request id header, read from the client when present and always answered.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given request id kept; longer (or non-visible-ASCII) ids are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The `/v2/…` path as `observe` parsed it, handed to the dispatcher in the request's
/// extensions so the path is parsed once.
#[derive(Debug, Clone)]
pub struct ParsedV2Path(pub Result<Option<V2Path>, ParseError>);

/// The request's route label, set by `observe` for the layers and handlers inside it.
#[derive(Debug, Clone, Copy)]
pub struct RouteName(pub &'static str);

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

/// The `/v2/…` remainder of a path (without the leading slash), if it is one.
pub fn v2_rest(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() {
        return Some(rest);
    }
    rest.strip_prefix('/')
}

/// The route label of a parsed `/v2` path: its endpoint's name, `unknown` for no
/// endpoint, `invalid` for a path whose name, digest or reference did not parse.
fn v2_route_name(parsed: &Result<Option<V2Path>, ParseError>) -> &'static str {
    match parsed {
        Ok(Some(path)) => path.endpoint().name(),
        Ok(None) => "unknown",
        Err(_) => "invalid",
    }
}

/// The low-cardinality route name of a request: the label `observe` set, else computed
/// from the path (`/v2`) or the route table.
pub fn route_name(request: &Request) -> &'static str {
    if let Some(RouteName(name)) = request.extensions().get::<RouteName>() {
        return name;
    }
    if let Some(rest) = v2_rest(request.uri().path()) {
        return v2_route_name(&parse_v2_path(rest));
    }
    table_route_name(request)
}

/// The name the route table gives the matched route outside `/v2`.
fn table_route_name(request: &Request) -> &'static str {
    match request.extensions().get::<MatchedPath>() {
        Some(matched) => super::route_name_of(matched.as_str()).unwrap_or("other"),
        None => "unmatched",
    }
}

/// The middleware around every request: request id (in and out), a tracing span carrying
/// it, counters, latency, bytes in/out, in-flight gauges and one access-log event.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = match v2_rest(request.uri().path()) {
        Some(rest) => {
            let parsed = parse_v2_path(rest);
            let route = v2_route_name(&parsed);
            request.extensions_mut().insert(ParsedV2Path(parsed));
            route
        }
        None => table_route_name(&request),
    };
    request.extensions_mut().insert(RouteName(route));
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
