//! Blob uploads: monolithic, chunked and streamed, resumable across requests and processes.
//!
//! Each `PATCH` (and the body of a final `PUT`) is written as one part object under
//! `uploads/<session>/` while its bytes are hashed; the session row keeps the byte count and
//! the saved SHA-256 state. Finishing checks the digest, then moves (one part) or
//! concatenates (several parts) the bytes to the blob's key, and only then records the blob.

mod small;

use futures::StreamExt;
use sha2::Digest as _;

use self::small::{read_small, ReadBody};

use super::{BodyStream, Registry, RegistryError};
use crate::db::{blobs, now_millis, repositories, uploads};
use crate::oci::{ByteRange, Digest, DigestAlgorithm, RepoName, ResumableSha256};
use crate::storage::StorageKey;

/// Where an upload session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub session_id: String,
    /// Bytes received so far.
    pub size: u64,
}

/// A blob as stored in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// Hashes bytes as they stream past with the algorithm the client's digest names.
enum StreamHasher {
    Sha256(ResumableSha256),
    Sha512(Box<sha2::Sha512>),
}

impl StreamHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            StreamHasher::Sha256(hasher) => hasher.update(data),
            StreamHasher::Sha512(hasher) => hasher.update(data),
        }
    }

    fn finish(self) -> Digest {
        match self {
            StreamHasher::Sha256(hasher) => hasher.finish(),
            StreamHasher::Sha512(hasher) => {
                Digest::new(DigestAlgorithm::Sha512, hex::encode(hasher.finalize())).expect("128 hex characters")
            }
        }
    }
}

/// Body bytes hashed on the receiving task before hashing moves to its own thread.
const HASH_THREAD_AFTER: u64 = 1024 * 1024;
/// Bytes gathered (by reference) before they are handed to the hashing thread.
const HASH_BATCH_BYTES: usize = 512 * 1024;
/// Batches that may wait for the hashing thread; the receiver waits beyond that.
const HASH_QUEUED_BATCHES: usize = 2;

/// Hashing on a blocking thread, fed batches of the body's buffers through a bounded channel,
/// so that receiving the body, hashing it and writing it to storage overlap. Used once a body
/// is larger than [`HASH_THREAD_AFTER`]; small bodies are hashed inline (a thread hand-off
/// would cost more than the hashing).
struct HashThread {
    sender: tokio::sync::mpsc::Sender<Vec<bytes::Bytes>>,
    worker: tokio::task::JoinHandle<StreamHasher>,
    batch: Vec<bytes::Bytes>,
    batch_bytes: usize,
}

impl HashThread {
    fn start(mut hasher: StreamHasher) -> Self {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(HASH_QUEUED_BATCHES);
        let worker = tokio::task::spawn_blocking(move || {
            while let Some(batch) = receiver.blocking_recv() {
                for data in &batch {
                    hasher.update(data);
                }
            }
            hasher
        });
        HashThread {
            sender,
            worker,
            batch: Vec::new(),
            batch_bytes: 0,
        }
    }

    async fn update(&mut self, data: bytes::Bytes) -> Result<(), RegistryError> {
        self.batch_bytes += data.len();
        self.batch.push(data);
        if self.batch_bytes >= HASH_BATCH_BYTES {
            self.batch_bytes = 0;
            let batch = std::mem::take(&mut self.batch);
            if self.sender.send(batch).await.is_err() {
                return Err(stopped((&mut self.worker).await.err()));
            }
        }
        Ok(())
    }

    /// Hashes what is left and returns the hasher.
    async fn finish(mut self) -> Result<StreamHasher, RegistryError> {
        if !self.batch.is_empty() && self.sender.send(std::mem::take(&mut self.batch)).await.is_err() {
            return Err(stopped((&mut self.worker).await.err()));
        }
        drop(self.sender);
        self.worker.await.map_err(|error| stopped(Some(error)))
    }
}

/// Why the hashing thread is gone while the body still streams: it panicked (a bug, passed
/// on as the panic) or the runtime is shutting down and cancelled it. The latter is the
/// server going away, not a fault of the client's body: `Unavailable`, worth a retry.
fn stopped(error: Option<tokio::task::JoinError>) -> RegistryError {
    match error {
        Some(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        _ => RegistryError::Unavailable("the upload was interrupted: the server is shutting down".into()),
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Registry {
    /// Opens an upload session (`POST /v2/<name>/blobs/uploads/`).
    pub async fn start_upload(&self, name: &RepoName) -> Result<UploadStatus, RegistryError> {
        let session_id = new_id();
        uploads::insert(
            self.db.writer(),
            &session_id,
            name.as_str(),
            &ResumableSha256::new().to_bytes(),
            now_millis(),
        )
        .await?;
        Ok(UploadStatus { session_id, size: 0 })
    }

    /// Mounts a blob from repository `from` (`POST ?mount=&from=`). `None` when the blob is not
    /// there to mount; the caller then opens a normal session.
    pub async fn mount_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<Option<BlobInfo>, RegistryError> {
        let Some(size) = blobs::linked_size(self.db.reader(), from, digest).await? else {
            return Ok(None);
        };
        // Touching the blob keeps `gc` off it; when `gc` took it meanwhile, there is nothing to mount.
        if !blobs::touch(self.db.writer(), digest, now_millis()).await? {
            return Ok(None);
        }
        self.link_blob(name, digest).await?;
        Ok(Some(BlobInfo {
            digest: digest.clone(),
            size: size as u64,
        }))
    }

    /// Stores a whole blob from one request (`POST ?digest=` with a body); a small one
    /// whole from memory (`small`).
    pub async fn upload_monolithic(
        &self,
        name: &RepoName,
        digest: &Digest,
        body: BodyStream,
    ) -> Result<BlobInfo, RegistryError> {
        let body = match read_small(body, self.limits.max_blob_bytes).await? {
            ReadBody::Whole(frames) => return self.upload_small_monolithic(name, digest, frames).await,
            ReadBody::Streaming(body) => body,
        };
        let session_id = new_id();
        let part = StorageKey::UploadPart {
            session_id: session_id.clone(),
            part_id: "monolithic".into(),
        };
        let mut hasher = match digest.algorithm() {
            DigestAlgorithm::Sha256 => StreamHasher::Sha256(ResumableSha256::new()),
            DigestAlgorithm::Sha512 => StreamHasher::Sha512(Box::default()),
        };
        let size = self.write_part(&part, body, &mut hasher, 0).await?;
        let computed = hasher.finish();
        let directory = StorageKey::UploadDirectory {
            session_id: session_id.clone(),
        };
        if &computed != digest {
            self.store.delete_prefix(&directory).await?;
            return Err(RegistryError::DigestMismatch {
                declared: digest.clone(),
                computed,
            });
        }
        blobs::insert(self.db.writer(), digest, size as i64, now_millis()).await?;
        let result = self.promote(digest, &[part], &mut false).await;
        self.remove_upload_files(&session_id).await?;
        result?;
        self.link_blob(name, digest).await?;
        Ok(BlobInfo {
            digest: digest.clone(),
            size,
        })
    }

    /// Where an upload session stands (`GET /v2/<name>/blobs/uploads/<id>`).
    pub async fn upload_status(&self, name: &RepoName, session_id: &str) -> Result<UploadStatus, RegistryError> {
        let session = self.find_session(name, session_id).await?;
        Ok(UploadStatus {
            session_id: session.id,
            size: session.size as u64,
        })
    }

    /// Appends a chunk (`PATCH`). With `content_range` the chunk must start where the upload
    /// ends; without it the body is streamed onto the end.
    pub async fn append_upload(
        &self,
        name: &RepoName,
        session_id: &str,
        content_range: Option<ByteRange>,
        body: BodyStream,
    ) -> Result<UploadStatus, RegistryError> {
        let session = self.find_session(name, session_id).await?;
        let start = session.size as u64;
        if let Some(range) = content_range {
            if range.start != start {
                return Err(RegistryError::ChunkOutOfOrder {
                    start: range.start,
                    size: start,
                });
            }
        }
        let state = ResumableSha256::from_bytes(&session.hash_state)
            .ok_or_else(|| RegistryError::UploadInvalid("the upload's saved state is damaged".into()))?;
        let mut hasher = StreamHasher::Sha256(state);
        let part_key = StorageKey::UploadPart {
            session_id: session_id.to_string(),
            part_id: new_id(),
        };
        let written = match self.write_part(&part_key, body, &mut hasher, start).await {
            Ok(written) => written,
            // A finish or cancel that took the session meanwhile removed its directory.
            Err(error) => return Err(self.unless_lost(&session, error).await),
        };
        if let Some(range) = content_range {
            if written != range.len() {
                self.store.delete(&part_key).await?;
                return Err(RegistryError::UploadInvalid(format!(
                    "Content-Range announced {} bytes but the chunk had {written}",
                    range.len()
                )));
            }
        }
        if written == 0 {
            self.store.delete(&part_key).await?;
            return Ok(UploadStatus {
                session_id: session.id,
                size: start,
            });
        }
        let StreamHasher::Sha256(state) = hasher else {
            unreachable!("sessions always hash with SHA-256")
        };
        let part = uploads::PartRow {
            start_offset: start as i64,
            size: written as i64,
            storage_key: part_key.to_string(),
        };
        let mut transaction = self.db.begin().await?;
        let appended = uploads::append_part(
            &mut transaction,
            session_id,
            start as i64,
            &part,
            &state.to_bytes(),
            now_millis(),
        )
        .await?;
        transaction.commit().await?;
        if !appended {
            self.store.delete(&part_key).await?;
            let current = self.find_session(name, session_id).await?;
            return Err(RegistryError::ChunkOutOfOrder {
                start,
                size: current.size as u64,
            });
        }
        Ok(UploadStatus {
            session_id: session.id,
            size: start + written,
        })
    }

    /// Completes an upload (`PUT ?digest=`), with an optional last chunk in `body`.
    /// On a digest mismatch the session is left as it was before this request.
    ///
    /// Several finishes of one session may race: each writes its own last chunk as a part,
    /// but only the one that *claims* the session (`uploads::claim`, a conditional update on
    /// the size it read) moves bytes or removes anything; the others remove their own part
    /// and answer `BLOB_UPLOAD_UNKNOWN` (claimed or gone) or `BLOB_UPLOAD_INVALID` (a chunk
    /// arrived meanwhile). A claimed finish that fails before its parts were moved gives the
    /// session back untouched (`uploads::release`).
    pub async fn finish_upload(
        &self,
        name: &RepoName,
        session_id: &str,
        digest: &Digest,
        body: Option<BodyStream>,
    ) -> Result<BlobInfo, RegistryError> {
        let session = self.find_session(name, session_id).await?;
        // The whole blob in the `PUT` of a session that has received nothing, and small.
        let body = match body {
            Some(body) if session.size == 0 => match read_small(body, self.limits.max_blob_bytes).await? {
                ReadBody::Whole(frames) => return self.finish_small(name, &session, digest, frames).await,
                ReadBody::Streaming(body) => Some(body),
            },
            body => body,
        };
        let mut last_part = None;
        let prepared = self.prepare_finish(&session, digest, body, &mut last_part).await;
        let (part_keys, size) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                if let Some(key) = &last_part {
                    self.delete_own_part(key).await;
                }
                // A finish that failed because another one completed (or cancelled) the
                // session meanwhile, which removed the upload's files, lost that race.
                return Err(self.unless_lost(&session, error).await);
            }
        };
        if !uploads::claim(self.db.writer(), session_id, session.size, now_millis()).await? {
            if let Some(key) = &last_part {
                self.delete_own_part(key).await;
            }
            return Err(self.lost_race(&session).await.unwrap_or(RegistryError::UploadUnknown));
        }
        // The session is ours alone: no chunk, cancel or other finish touches it now.
        let mut parts_moved = false;
        let completed = self
            .complete_claimed(name, session_id, digest, size, &part_keys, &mut parts_moved)
            .await;
        if let Err(error) = completed {
            // Its parts are all still there: the session goes back to what it acknowledged.
            // A moved single part is the blob now; the session stays claimed (answering
            // `BLOB_UPLOAD_UNKNOWN`) until the idle sweep removes it.
            if !parts_moved {
                if let Some(key) = &last_part {
                    self.delete_own_part(key).await;
                }
                uploads::release(self.db.writer(), session_id).await?;
            }
            return Err(error);
        }
        // The session is gone, so its directory belongs to nobody: what this cannot remove
        // (a losing finish writing its part right now) the sweeper removes later.
        if let Err(error) = self.remove_upload_files(session_id).await {
            tracing::warn!(%error, session_id, "could not remove a finished upload's files; the sweeper will");
        }
        Ok(BlobInfo {
            digest: digest.clone(),
            size,
        })
    }

    /// The part of a finish before the claim: lists the session's parts, stores the last
    /// chunk (its key goes to `last_part`) and checks the digest. Touches nothing the session
    /// owns. Returns every part in order and the blob's size.
    async fn prepare_finish(
        &self,
        session: &uploads::UploadRow,
        digest: &Digest,
        body: Option<BodyStream>,
        last_part: &mut Option<StorageKey>,
    ) -> Result<(Vec<StorageKey>, u64), RegistryError> {
        let session_id = session.id.as_str();
        let state = ResumableSha256::from_bytes(&session.hash_state)
            .ok_or_else(|| RegistryError::UploadInvalid("the upload's saved state is damaged".into()))?;
        let mut hasher = StreamHasher::Sha256(state);
        // A session that has received nothing has no parts (empty chunks store none).
        let mut part_keys: Vec<StorageKey> = if session.size == 0 {
            Vec::new()
        } else {
            uploads::parts(self.db.reader(), session_id)
                .await?
                .into_iter()
                .map(|part| part_key_from_row(session_id, &part.storage_key))
                .collect()
        };
        let mut size = session.size as u64;
        if let Some(body) = body {
            let key = StorageKey::UploadPart {
                session_id: session_id.to_string(),
                part_id: new_id(),
            };
            let written = self.write_part(&key, body, &mut hasher, size).await?;
            size += written;
            if written > 0 {
                part_keys.push(key.clone());
                *last_part = Some(key);
            } else {
                self.store.delete(&key).await?;
            }
        }
        let computed = match digest.algorithm() {
            DigestAlgorithm::Sha256 => hasher.finish(),
            DigestAlgorithm::Sha512 => self.digest_parts_sha512(&part_keys).await?,
        };
        if &computed != digest {
            return Err(RegistryError::DigestMismatch {
                declared: digest.clone(),
                computed,
            });
        }
        Ok((part_keys, size))
    }

    /// The part of a finish after the claim: records the blob, puts the bytes at its key,
    /// links it and deletes the session (its part rows cascade). `parts_moved` is set once
    /// a single part was moved to the blob's key (the session no longer holds it).
    async fn complete_claimed(
        &self,
        name: &RepoName,
        session_id: &str,
        digest: &Digest,
        size: u64,
        parts: &[StorageKey],
        parts_moved: &mut bool,
    ) -> Result<(), RegistryError> {
        // The blob's claim: from here `gc` leaves the blob alone for its grace period.
        blobs::insert(self.db.writer(), digest, size as i64, now_millis()).await?;
        self.promote(digest, parts, parts_moved).await?;
        // Linked before the session goes: a crash in between leaves a claimed session
        // (answering `BLOB_UPLOAD_UNKNOWN`) that the idle sweep removes, and a linked blob.
        self.link_blob(name, digest).await?;
        uploads::delete(self.db.writer(), session_id).await?;
        Ok(())
    }

    /// When a finish or chunk of `session` failed or lost: the answer to give if the session
    /// changed meanwhile (`BLOB_UPLOAD_UNKNOWN` when it is gone or claimed by a finish,
    /// `BLOB_UPLOAD_INVALID` when a chunk was appended), `None` when it is as it was.
    async fn lost_race(&self, session: &uploads::UploadRow) -> Option<RegistryError> {
        match uploads::find(self.db.reader(), &session.id).await {
            Ok(Some(now)) if now.finishing_since.is_none() && now.size == session.size => None,
            Ok(Some(now)) if now.finishing_since.is_none() => Some(RegistryError::UploadInvalid(format!(
                "the upload changed while this request ran: it now has {} bytes",
                now.size
            ))),
            Ok(_) => Some(RegistryError::UploadUnknown),
            Err(_) => None,
        }
    }

    /// A storage failure of a request on `session` reported as the race it lost, when the
    /// session changed meanwhile (see [`Registry::lost_race`]); any other error as it is.
    async fn unless_lost(&self, session: &uploads::UploadRow, error: RegistryError) -> RegistryError {
        if !matches!(
            error,
            RegistryError::Storage(_) | RegistryError::StoredObjectMissing(_) | RegistryError::StorageFull(_)
        ) {
            return error;
        }
        self.lost_race(session).await.unwrap_or(error)
    }

    /// Removes a part this request stored and the session never acknowledged.
    async fn delete_own_part(&self, key: &StorageKey) {
        if let Err(error) = self.store.delete(key).await {
            tracing::warn!(%error, %key, "could not remove an unused upload part; the sweeper will");
        }
    }

    /// Abandons an upload (`DELETE /v2/<name>/blobs/uploads/<id>`).
    pub async fn cancel_upload(&self, name: &RepoName, session_id: &str) -> Result<(), RegistryError> {
        self.find_session(name, session_id).await?;
        // A finish that claimed the session meanwhile keeps it (and its files).
        if !self.remove_open_session(session_id).await? {
            return Err(RegistryError::UploadUnknown);
        }
        Ok(())
    }

    /// The session, if it exists for this repository, is open (no finish claimed it) and
    /// has not outlived its lifetime. An expired session is removed on the spot and
    /// reported unknown.
    async fn find_session(&self, name: &RepoName, session_id: &str) -> Result<uploads::UploadRow, RegistryError> {
        match uploads::find(self.db.reader(), session_id).await? {
            Some(session) if session.repository_name == name.as_str() && session.finishing_since.is_none() => {
                if now_millis() - session.updated_at > self.session_ttl_millis() {
                    self.remove_open_session(session_id).await?;
                    crate::observability::record_expired_sessions(1);
                    return Err(RegistryError::UploadUnknown);
                }
                Ok(session)
            }
            _ => Err(RegistryError::UploadUnknown),
        }
    }

    fn session_ttl_millis(&self) -> i64 {
        i64::try_from(self.limits.upload_session_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Deletes a session's rows, then its stored parts, unless a finish claimed it (which
    /// then owns its files); true when it removed the session.
    async fn remove_open_session(&self, session_id: &str) -> Result<bool, RegistryError> {
        if !uploads::delete_open(self.db.writer(), session_id).await? {
            return Ok(false);
        }
        self.remove_upload_files(session_id).await?;
        Ok(true)
    }

    /// Removes the stored files of upload `session_id`, sparing a part that became a blob's
    /// bytes (`blobs::hold`, only where moves copy): one removal of the directory when no
    /// part is held.
    async fn remove_upload_files(&self, session_id: &str) -> Result<(), RegistryError> {
        let directory = StorageKey::UploadDirectory {
            session_id: session_id.to_string(),
        };
        let held = if self.store.moves_by_copy() {
            blobs::held_parts_of(self.db.reader(), session_id).await?
        } else {
            Vec::new()
        };
        if held.is_empty() {
            self.store.delete_prefix(&directory).await?;
            return Ok(());
        }
        let mut listing = self.store.list(&directory);
        while let Some(object) = listing.next().await {
            let object = object?;
            if !object
                .upload_part()
                .is_some_and(|part| held.iter().any(|kept| kept == part))
            {
                self.store.delete_listed(&object).await?;
            }
        }
        Ok(())
    }

    /// Removes a session not appended to since `cutoff` (milliseconds), re-checked in the
    /// statement that deletes it, so a chunk that arrived meanwhile keeps the session alive;
    /// then its stored parts. True when it removed the session. Shared by the serve-time
    /// sweeper and `gc`.
    pub(crate) async fn remove_session_if_idle(&self, session_id: &str, cutoff: i64) -> Result<bool, RegistryError> {
        if !uploads::delete_if_idle(self.db.writer(), session_id, cutoff).await? {
            return Ok(false);
        }
        self.remove_upload_files(session_id).await?;
        Ok(true)
    }

    /// Removes sessions idle for longer than `upload_session_ttl`, and upload directories
    /// that no session owns (a monolithic upload or a session cut short by a crash) once
    /// they are as old. Returns how many sessions and directories it removed.
    pub async fn purge_expired_uploads(&self) -> Result<u64, RegistryError> {
        let ttl = self.session_ttl_millis();
        let cutoff = now_millis().saturating_sub(ttl);
        let mut removed = 0u64;
        for session_id in uploads::idle_since(self.db.reader(), cutoff).await? {
            if self.remove_session_if_idle(&session_id, cutoff).await? {
                removed += 1;
            }
        }
        crate::observability::record_expired_sessions(removed);
        let cutoff_time = std::time::SystemTime::now()
            .checked_sub(self.limits.upload_session_ttl)
            .unwrap_or(std::time::UNIX_EPOCH);
        let old: Vec<String> = self
            .store
            .upload_directories()
            .await?
            .into_iter()
            .filter(|(_, modified)| *modified < cutoff_time)
            .map(|(session_id, _)| session_id)
            .collect();
        for batch in old.chunks(500) {
            let owned = uploads::owned_among(self.db.reader(), batch).await?;
            for session_id in batch.iter().filter(|id| !owned.contains(id)) {
                self.store
                    .delete_prefix(&StorageKey::UploadDirectory {
                        session_id: session_id.clone(),
                    })
                    .await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Streams `body` into the object `key`, feeding every byte to `hasher`. On a broken body
    /// the object is abandoned and nothing is left at `key`.
    /// `already` bytes of the blob came before this part; the whole blob may not exceed
    /// `max_blob_bytes` (`BlobTooLarge`, and nothing is left at `key`).
    async fn write_part(
        &self,
        key: &StorageKey,
        mut body: BodyStream,
        hasher: &mut StreamHasher,
        already: u64,
    ) -> Result<u64, RegistryError> {
        let limit = self.limits.max_blob_bytes;
        let mut writer = self.store.writer(key.clone());
        let mut hash_thread: Option<HashThread> = None;
        while let Some(frame) = body.next().await {
            let data = match frame {
                Ok(data) => data,
                Err(error) => {
                    writer.abort().await;
                    return Err(RegistryError::UploadInvalid(format!(
                        "request body ended early: {error}"
                    )));
                }
            };
            if already + writer.written() + data.len() as u64 > limit {
                writer.abort().await;
                crate::observability::record_rejected_upload("too_large");
                return Err(RegistryError::BlobTooLarge { limit });
            }
            let hashed = match &mut hash_thread {
                Some(thread) => thread.update(data.clone()).await,
                None => {
                    hasher.update(&data);
                    if writer.written() + data.len() as u64 >= HASH_THREAD_AFTER {
                        let placeholder = StreamHasher::Sha256(ResumableSha256::new());
                        hash_thread = Some(HashThread::start(std::mem::replace(hasher, placeholder)));
                    }
                    Ok(())
                }
            };
            if let Err(error) = hashed {
                writer.abort().await;
                return Err(error);
            }
            if let Err(error) = writer.write(data).await {
                writer.abort().await;
                return Err(error.into());
            }
        }
        if let Some(thread) = hash_thread {
            match thread.finish().await {
                Ok(finished) => *hasher = finished,
                Err(error) => {
                    writer.abort().await;
                    return Err(error);
                }
            }
        }
        Ok(writer.finish().await?)
    }

    /// Puts verified bytes at the blob's key: moves a single part (setting `moved`),
    /// concatenates several; skipped when the blob is already stored. Where a move is a copy
    /// (S3), a single part is not moved: the blob's row names it (`blobs::hold`, setting
    /// `moved`: the session no longer owns it) unless the blob is stored already. The parts
    /// left behind go with the upload's directory, which the caller removes
    /// (`remove_upload_files`, which spares a held part). The caller has claimed the blob
    /// (`blobs::insert`) first, so `gc` cannot remove bytes this relies on.
    async fn promote(&self, digest: &Digest, parts: &[StorageKey], moved: &mut bool) -> Result<(), RegistryError> {
        let blob_key = StorageKey::Blob(digest.clone());
        if let [single] = parts {
            if let (true, StorageKey::UploadPart { session_id, part_id }) = (self.store.moves_by_copy(), single) {
                if self.stored_blob_key(digest).await? == blob_key && self.store.size(&blob_key).await?.is_none() {
                    *moved = blobs::hold(self.db.writer(), digest, session_id, part_id).await?;
                }
                return Ok(());
            }
            *moved = self.store.move_into_place(single, &blob_key).await?;
            return Ok(());
        }
        if self.store.size(&blob_key).await?.is_none() {
            let mut writer = self.store.writer(blob_key);
            for part in parts {
                let mut stream = self.store.read(part, None).await?;
                while let Some(data) = stream.next().await {
                    match data {
                        Ok(data) => writer.write(data).await?,
                        Err(error) => {
                            writer.abort().await;
                            return Err(error.into());
                        }
                    }
                }
            }
            writer.finish().await?;
        }
        Ok(())
    }

    async fn digest_parts_sha512(&self, parts: &[StorageKey]) -> Result<Digest, RegistryError> {
        let mut hasher = StreamHasher::Sha512(Box::default());
        for part in parts {
            let mut stream = self.store.read(part, None).await?;
            while let Some(data) = stream.next().await {
                hasher.update(&data?);
            }
        }
        Ok(hasher.finish())
    }

    /// Links a recorded (claimed or touched) blob to repository `name`, creating the
    /// repository if needed.
    pub(crate) async fn link_blob(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let now = now_millis();
        if blobs::link_by_name(self.db.writer(), name, digest, now).await? {
            return Ok(());
        }
        let mut transaction = self.db.begin().await?;
        let repository_id = repositories::ensure(&mut transaction, name, now).await?;
        blobs::link(&mut *transaction, repository_id, digest, now).await?;
        transaction.commit().await?;
        Ok(())
    }
}

/// Rebuilds a part's key from the path stored in its row.
fn part_key_from_row(session_id: &str, storage_key: &str) -> StorageKey {
    let part_id = storage_key.rsplit('/').next().unwrap_or_default().to_string();
    StorageKey::UploadPart {
        session_id: session_id.to_string(),
        part_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime cancelling the hashing thread (a shutdown) is the server going away,
    /// not a malformed body: it must not become `UploadInvalid` (a 400).
    #[tokio::test]
    async fn a_hashing_thread_cancelled_by_shutdown_is_no_client_error() {
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let cancelled = task.await.unwrap_err();
        assert!(cancelled.is_cancelled());
        let error = stopped(Some(cancelled));
        assert!(
            !matches!(error, RegistryError::UploadInvalid(_)),
            "a shutdown answered as a client error: {error:?}"
        );
        assert!(matches!(error, RegistryError::Unavailable(_)), "{error:?}");
    }
}
