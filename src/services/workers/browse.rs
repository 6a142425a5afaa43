//! Browsing the catalog (the pages' reads): searching workers by text, tag, type and
//! platform, and a worker's downloads per day.

use super::{platform_label, Worker, WorkerError, WorkerFilter, WorkerList};
use crate::artifact::WorkerId;
use crate::db::{downloads, now_millis};
use crate::services::Registry;

/// Milliseconds in a day.
const DAY_MILLIS: i64 = 86_400_000;

/// What the catalog page asks for: every part optional, all of them must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSearch {
    /// Words that must all appear (case-insensitively) in the id, name or description.
    pub text: Option<String>,
    pub tag: Option<String>,
    pub worker_type: Option<String>,
    /// A platform label as [`Worker::platform_labels`] gives it (`linux-x86_64`).
    pub platform: Option<String>,
}

impl WorkerSearch {
    /// Whether `worker` matches every part of the search.
    pub fn matches(&self, worker: &Worker) -> bool {
        let filter = WorkerFilter {
            tag: self.tag.clone(),
            worker_type: self.worker_type.clone(),
        };
        if !worker.matches(&filter) {
            return false;
        }
        let text_matches = self.text.as_deref().is_none_or(|text| {
            let haystack = format!(
                "{}\n{}\n{}",
                worker.id.as_str(),
                worker.metadata.name,
                worker.metadata.description
            )
            .to_lowercase();
            text.split_whitespace()
                .all(|word| haystack.contains(&word.to_lowercase()))
        });
        let platform_matches = self
            .platform
            .as_ref()
            .is_none_or(|wanted| worker.platform_labels().contains(wanted));
        text_matches && platform_matches
    }
}

/// A worker's completed downloads per UTC day over a window ending today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyDownloads {
    /// The first day of the window, days since the epoch.
    pub first_day: i64,
    /// One count per day of the window, oldest first (zero-filled).
    pub counts: Vec<u64>,
}

impl Worker {
    /// The platforms the worker is available for, by label (`linux-x86_64`), sorted: those
    /// of its versions in the registry, else those its record declares.
    pub fn platform_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self
            .versions
            .iter()
            .flat_map(|version| version.platforms.iter().map(|p| platform_label(&p.platform)))
            .collect();
        if labels.is_empty() {
            labels = self
                .metadata
                .platforms
                .iter()
                .map(|p| format!("{}-{}", p.os, p.arch))
                .collect();
        }
        labels.sort();
        labels.dedup();
        labels
    }
}

impl Registry {
    /// The workers matching `search`, by id (the same reads as the worker list APIs).
    pub async fn search_workers(&self, search: &WorkerSearch) -> Result<WorkerList, WorkerError> {
        let filter = WorkerFilter {
            tag: search.tag.clone(),
            worker_type: search.worker_type.clone(),
        };
        let mut workers = self.list_workers(&filter).await?;
        workers.retain(|worker| search.matches(worker));
        Ok(workers)
    }

    /// `worker_id`'s downloads per day over the last `days` days (today included), from the
    /// download log the stats endpoint counts.
    pub async fn daily_downloads(&self, worker_id: &WorkerId, days: u32) -> Result<DailyDownloads, WorkerError> {
        let days = i64::from(days.max(1));
        let today = now_millis().div_euclid(DAY_MILLIS);
        let first_day = today - days + 1;
        let mut counts = vec![0; days as usize];
        for (day, count) in downloads::daily_counts_of(self.db.reader(), worker_id, first_day * DAY_MILLIS).await? {
            if let Some(slot) = usize::try_from(day - first_day).ok().and_then(|at| counts.get_mut(at)) {
                *slot += count;
            }
        }
        Ok(DailyDownloads { first_day, counts })
    }
}
