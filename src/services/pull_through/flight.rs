//! Single-flight: at most one upstream fetch per key (a blob's digest, a repository's
//! manifest reference) runs in this process. The fetch runs in a task of its own, so it
//! completes (and stores what it fetched) whatever happens to the requests waiting on it;
//! they all get its outcome and then read what it stored.
//!
//! This map is the only pull-through state in process memory: an entry lives as long as
//! its fetch, and the truth (what was stored) is in the database and the blob store.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};

/// Why a fetch brought nothing (cloneable: every waiter gets it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlightError {
    /// The upstream does not have it (`404`).
    NotFound,
    /// The upstream could not be reached, refused, or served something invalid; the reason
    /// is a fixed metric label (`unreachable`, `refused`, `invalid`), the message says what.
    Failed { reason: &'static str, message: String },
    /// This registry could not store it (the message is logged, not shown to clients).
    Local(String),
}

pub type Outcome = Result<(), FlightError>;

type Running = Shared<BoxFuture<'static, Outcome>>;

/// The running fetches of this process, by key.
#[derive(Debug, Default, Clone)]
pub struct Flights {
    running: Arc<Mutex<HashMap<String, Running>>>,
}

/// A fetch joined or started.
pub struct Flight {
    pub outcome: Running,
    /// Whether this call started it (its `start` closure was run).
    pub started: bool,
}

impl Flights {
    /// Joins the fetch running under `key`, or spawns `start()`'s future as that fetch.
    pub fn join_or_start<F>(&self, key: String, start: impl FnOnce() -> F) -> Flight
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(outcome) = running.get(&key) {
            return Flight {
                outcome: outcome.clone(),
                started: false,
            };
        }
        let fetch = start();
        let map = self.running.clone();
        let done_key = key.clone();
        let task = tokio::spawn(async move {
            let outcome = fetch.await;
            map.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .remove(&done_key);
            outcome
        });
        let outcome: Running = async move {
            task.await
                .unwrap_or_else(|error| Err(FlightError::Local(format!("the fetch stopped: {error}"))))
        }
        .boxed()
        .shared();
        running.insert(key, outcome.clone());
        Flight { outcome, started: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_fetch_for_concurrent_callers() {
        let flights = Flights::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let counted = runs.clone();
        let first = flights.join_or_start("k".into(), move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = gate.await;
            Ok(())
        });
        let mut others = Vec::new();
        for _ in 0..9 {
            let counted = runs.clone();
            others.push(flights.join_or_start("k".into(), move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }));
        }
        assert!(first.started);
        assert!(others.iter().all(|flight| !flight.started));
        release.send(()).unwrap();
        assert_eq!(first.outcome.await, Ok(()));
        for flight in others {
            assert_eq!(flight.outcome.await, Ok(()));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Finished fetches leave the map: the next caller starts a new one.
        tokio::task::yield_now().await;
        let again = flights.join_or_start("k".into(), || async { Err(FlightError::NotFound) });
        assert!(again.started);
        assert_eq!(again.outcome.await, Err(FlightError::NotFound));
    }
}
