//! What a run reports (`MirrorReport` and its summary line), the counters one repository's
//! concurrent copies share, the shared progress display, and the bandwidth cap of a run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::progress::Progress;

/// What a run did.
#[derive(Debug, Default)]
pub struct MirrorReport {
    pub repositories: u64,
    pub manifests: u64,
    pub blobs: u64,
    /// Bytes received from the upstream.
    pub bytes: u64,
    /// Tags already up to date.
    pub skipped: u64,
    /// Blob copies that resumed a session an earlier run started.
    pub resumed: u64,
    /// Tags removed by `--prune`.
    pub pruned: u64,
    /// What failed, one line each.
    pub errors: Vec<String>,
}

impl MirrorReport {
    /// The summary line (`repositories …, manifests …, blobs …, bytes …, skipped …, errors …`).
    pub fn summary(&self) -> String {
        format!(
            "mirrored {} repositories: {} manifests, {} blobs, {} bytes, {} skipped, {} resumed, {} pruned, {} errors",
            self.repositories,
            self.manifests,
            self.blobs,
            self.bytes,
            self.skipped,
            self.resumed,
            self.pruned,
            self.errors.len()
        )
    }
}

/// Counters of one repository's copy, shared by its concurrent blob copies.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(super) manifests: AtomicU64,
    pub(super) blobs: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) skipped: AtomicU64,
    pub(super) resumed: AtomicU64,
    pub(super) pruned: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub(super) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The progress display shared by concurrent copies.
pub type SharedProgress = Arc<Mutex<Box<dyn Progress>>>;

/// Paces the bytes received over all copies of a run to a rate.
#[derive(Debug)]
pub(crate) struct Throttle {
    bytes_per_second: Option<u64>,
    started: tokio::time::Instant,
    received: AtomicU64,
}

impl Throttle {
    pub(super) fn new(bytes_per_second: Option<u64>) -> Throttle {
        Throttle {
            bytes_per_second: bytes_per_second.filter(|rate| *rate > 0),
            started: tokio::time::Instant::now(),
            received: AtomicU64::new(0),
        }
    }

    /// Counts `bytes` and waits until the run is back within its rate.
    pub(super) async fn pace(&self, bytes: u64) {
        let total = self.received.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(rate) = self.bytes_per_second {
            let due = self.started + Duration::from_secs_f64(total as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        }
    }
}
