//! Limits applied to blob uploads before a request reaches a handler: a declared body
//! (`Content-Length`) larger than the largest blob is refused at once (`413 SIZE_INVALID`,
//! without reading it), and one client address may run only so many upload requests at once
//! (`429 TOOMANYREQUESTS` past that).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::observability::{is_upload, record_rejected_upload, route_name};

/// Counts running upload requests per client address.
#[derive(Clone, Debug)]
pub struct UploadGate {
    limit: usize,
    running: Arc<Mutex<HashMap<Option<IpAddr>, usize>>>,
}

/// A running upload's place at the gate, given back when dropped.
pub struct UploadSlot {
    gate: UploadGate,
    client: Option<IpAddr>,
}

impl UploadGate {
    pub fn new(limit: usize) -> Self {
        UploadGate {
            limit,
            running: Arc::default(),
        }
    }

    /// Takes a slot for `client`, or `None` when it already runs `limit` uploads.
    pub fn enter(&self, client: Option<IpAddr>) -> Option<UploadSlot> {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = running.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(UploadSlot {
            gate: self.clone(),
            client,
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut running = self
            .gate
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = running.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.client);
            }
        }
    }
}

/// Middleware: refuses an upload request when its client already runs the maximum.
pub async fn limit_uploads(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !is_upload(route_name(&request), request.method()) {
        return next.run(request).await;
    }
    let limit = state.registry.limits().max_blob_bytes;
    if let Some(declared) = declared_length(&request).filter(|&declared| declared > limit) {
        record_rejected_upload("too_large");
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::SizeInvalid,
            format!("the request declares {declared} bytes, more than the largest blob accepted"),
        )
        .with_detail(serde_json::json!({ "limit": limit }))
        .into_response();
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    match state.uploads.enter(client) {
        Some(_slot) => next.run(request).await,
        None => {
            record_rejected_upload("per_client");
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                "too many uploads from this client at once",
            )
            .with_detail(serde_json::json!({ "limit": state.uploads.limit }))
            .with_header(header::RETRY_AFTER, "1".into())
            .into_response()
        }
    }
}

/// The body length a request declares (`Content-Length`), if it declares a valid one.
fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_at_most_the_limit_and_slots_come_back() {
        let gate = UploadGate::new(2);
        let client = Some(IpAddr::from([127, 0, 0, 1]));
        let other = Some(IpAddr::from([127, 0, 0, 2]));
        let first = gate.enter(client).unwrap();
        let _second = gate.enter(client).unwrap();
        assert!(gate.enter(client).is_none());
        assert!(gate.enter(other).is_some());
        drop(first);
        assert!(gate.enter(client).is_some());
    }
}
