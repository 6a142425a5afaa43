//! Garbage collection: mark-and-sweep of blobs and of abandoned uploads, safe while pushes
//! go on.
//!
//! The rules:
//! - A repository's link to a blob is garbage when no manifest of that repository
//!   references the blob and the link was not touched within the grace period. Pushing a
//!   blob, mounting it and pushing a manifest that references it all touch the link.
//! - A blob is garbage when no manifest of any repository references it, no repository
//!   link remains, and the blob itself was not touched within the grace period. So deleting
//!   a tag or manifest never removes a blob another repository still uses, and a blob
//!   uploaded but not yet referenced survives at least the grace period.
//! - An upload session is garbage when nobody appended to it for `upload_max_age`; objects
//!   under `uploads/` without a session and older than that are orphans (a crashed request).
//!
//! Why it is safe under concurrent pushes: every condition is re-checked inside the
//! statement that deletes the row. An upload claims its blob (`db::blobs::insert`, touching
//! it) *before* it puts the bytes at the blob's key; `gc` deletes the blob's row, deletes
//! the bytes, and only then commits, so a claim either lands first (and `gc` skips the blob)
//! or waits for the commit and then writes the bytes anew. A manifest push touches and locks
//! the links it relies on in its own transaction, with the same effect.
//! The grace period must be longer than any single push takes (default 24 h).
//!
//! Every run that is not a dry run is recorded in `gc_runs` (when, whether it succeeded,
//! what it removed), whichever process ran it: `rbee-registry gc` or the periodic
//! collection of `serve`. [`Registry::last_gc_run`] reads the latest for `/metrics`.

use std::time::{Duration, SystemTime};

use futures::StreamExt;

use super::blobs::blob_key;
use super::{Registry, RegistryError};
use crate::db::blobs::BlobObject;
use crate::db::{gc as queries, gc_runs, now_millis};
use crate::observability::GcRunRecord;
use crate::oci::Digest;
use crate::storage::{StorageKey, StoredObject};

/// What a collection may remove.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
    /// Blobs and links touched more recently than this are kept.
    pub grace_period: Duration,
    /// Upload sessions (and orphaned upload objects) untouched for longer are removed.
    pub upload_max_age: Duration,
}

/// What a collection removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub dry_run: bool,
    /// Blobs removed, with their sizes, in digest order.
    pub blobs: Vec<(Digest, u64)>,
    /// Repository links to blobs removed.
    pub links: u64,
    /// Upload sessions removed.
    pub uploads: Vec<String>,
    /// Orphaned objects under `uploads/` removed.
    pub orphaned_upload_objects: u64,
    /// Bytes freed in the blob store: blobs plus upload objects.
    pub bytes_freed: u64,
}

/// Longest error text kept with a failed run.
const MAX_RECORDED_ERROR_CHARS: usize = 1000;

fn time_of(millis: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

fn count(value: i64) -> u64 {
    value.max(0) as u64
}

impl Registry {
    /// Runs one mark-and-sweep collection and, unless it is a dry run, records its outcome
    /// (also a failed run's, with what it removed before failing) in the database.
    pub async fn collect_garbage(&self, options: &GcOptions) -> Result<GcReport, RegistryError> {
        let started_at = now_millis();
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let outcome = self.sweep(options, &mut report).await;
        if !options.dry_run {
            self.record_gc_run(started_at, &report, outcome.as_ref().err()).await;
        }
        outcome.map(|()| report)
    }

    /// Writes one run to `gc_runs` and drops the oldest. A failure to record is logged, not
    /// returned: the collection itself is done.
    async fn record_gc_run(&self, started_at: i64, report: &GcReport, error: Option<&RegistryError>) {
        let row = gc_runs::GcRunRow {
            started_at,
            finished_at: now_millis(),
            succeeded: error.is_none(),
            blobs_removed: report.blobs.len() as i64,
            links_removed: report.links as i64,
            upload_sessions_removed: report.uploads.len() as i64,
            orphaned_upload_objects_removed: report.orphaned_upload_objects as i64,
            freed_bytes: report.bytes_freed.min(i64::MAX as u64) as i64,
            error: error.map(|error| error.to_string().chars().take(MAX_RECORDED_ERROR_CHARS).collect()),
        };
        let recorded = async {
            gc_runs::insert(self.db.writer(), &row).await?;
            gc_runs::prune(self.db.writer()).await
        };
        if let Err(error) = recorded.await {
            tracing::warn!(%error, "could not record the garbage-collection run");
        }
    }

    /// The latest recorded collection run, by any process; `None` before the first.
    pub async fn last_gc_run(&self) -> Result<Option<GcRunRecord>, RegistryError> {
        let Some(latest) = gc_runs::latest(self.db.reader()).await? else {
            return Ok(None);
        };
        let run = latest.run;
        Ok(Some(GcRunRecord {
            started_at: time_of(run.started_at),
            finished_at: time_of(run.finished_at),
            succeeded: run.succeeded,
            blobs_removed: count(run.blobs_removed),
            links_removed: count(run.links_removed),
            upload_sessions_removed: count(run.upload_sessions_removed),
            orphaned_upload_objects_removed: count(run.orphaned_upload_objects_removed),
            freed_bytes: count(run.freed_bytes),
            last_success_at: latest.last_success_at.map(time_of),
        }))
    }

    /// The collection itself; `report` holds what was removed so far, also on an error.
    async fn sweep(&self, options: &GcOptions, report: &mut GcReport) -> Result<(), RegistryError> {
        let now = now_millis();
        let blob_cutoff = now - options.grace_period.as_millis() as i64;
        let upload_cutoff = now - options.upload_max_age.as_millis() as i64;

        // Links first, so that blobs they alone kept become garbage in the same run.
        report.links = if options.dry_run {
            queries::count_stale_links(self.db.reader(), blob_cutoff).await? as u64
        } else {
            queries::delete_stale_links(self.db.writer(), blob_cutoff).await?
        };

        for candidate in queries::garbage_blobs(self.db.reader(), blob_cutoff).await? {
            let size = candidate.size as u64;
            if options.dry_run {
                report.bytes_freed += size;
                report.blobs.push((candidate.digest, size));
                continue;
            }
            let mut transaction = self.db.begin().await?;
            let Some(object) =
                queries::delete_blob_if_garbage(&mut transaction, &candidate.digest, blob_cutoff).await?
            else {
                transaction.rollback().await?;
                continue;
            };
            // Delete the bytes while the row's deletion is uncommitted: a racing upload's
            // claim waits for the commit and then writes the bytes again. The blob's own key
            // too when an upload part held its bytes (a copy may have landed there as well).
            self.store.delete(&StorageKey::Blob(candidate.digest.clone())).await?;
            if object != BlobObject::Own {
                self.store.delete(&blob_key(&candidate.digest, object)).await?;
            }
            transaction.commit().await?;
            tracing::info!(digest = %candidate.digest, size, "gc removed a blob");
            report.bytes_freed += size;
            report.blobs.push((candidate.digest, size));
        }

        for session_id in crate::db::uploads::idle_since(self.db.reader(), upload_cutoff).await? {
            let directory = StorageKey::UploadDirectory {
                session_id: session_id.clone(),
            };
            let bytes = self.bytes_under(&directory).await?;
            if !options.dry_run {
                if !self.remove_session_if_idle(&session_id, upload_cutoff).await? {
                    continue;
                }
                tracing::info!(session_id = %session_id, bytes, "gc removed an abandoned upload");
            }
            report.bytes_freed += bytes;
            report.uploads.push(session_id);
        }

        let upload_deadline = SystemTime::now()
            .checked_sub(options.upload_max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut listing = self.store.list(&StorageKey::AllUploads);
        let mut orphans: Vec<StoredObject> = Vec::new();
        while let Some(object) = listing.next().await {
            let object = object?;
            if object.last_modified >= upload_deadline {
                continue;
            }
            let Some(session_id) = object.upload_session() else {
                continue;
            };
            let part_id = object.upload_part().unwrap_or_default();
            if report.uploads.iter().any(|removed| removed == session_id)
                || queries::upload_object_owned(self.db.reader(), session_id, part_id).await?
            {
                continue;
            }
            orphans.push(object);
        }
        for object in orphans {
            if !options.dry_run {
                self.store.delete_listed(&object).await?;
            }
            report.orphaned_upload_objects += 1;
            report.bytes_freed += object.size;
        }
        Ok(())
    }

    async fn bytes_under(&self, prefix: &StorageKey) -> Result<u64, RegistryError> {
        let mut total = 0;
        let mut listing = self.store.list(prefix);
        while let Some(object) = listing.next().await {
            total += object?.size;
        }
        Ok(total)
    }
}
