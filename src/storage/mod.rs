//! Blob storage: the one wrapper over `object_store`.
//!
//! Every object path comes from [`StorageKey`]. The layout under the storage root:
//!
//! ```text
//! <root>/
//! ├── blobs/
//! │   └── sha256/
//! │       └── ab/
//! │           └── abcdef…            verified blob content, named by its digest
//! └── uploads/
//!     └── <session id>/
//!         └── <part id>              one PATCH's bytes of an unfinished upload
//! ```
//!
//! A blob key is only ever written by moving or copying parts whose digest was already
//! verified, so nothing under `blobs/` is partial. Where a move is a copy (S3,
//! [`BlobStore::moves_by_copy`]), a verified single part is not moved at all: the blob's
//! database row names it, and the services resolve a blob's key through that row.
//!
//! Every backend is an `object_store::ObjectStore`, and [`BlobStore`] drives all of them
//! through that one interface (plus the small [`Backend`] extension below), with no branch
//! on which backend it is:
//!
//! - the local filesystem (default): [`local::LocalStore`], the project's own implementation
//!   of the trait, carrying the fast paths (a writer thread per streamed object with
//!   vectored writes and early write-back, mapped reads, fsync of files and directories
//!   before they become visible; see `local.rs`);
//! - any S3-compatible store through `object_store`'s AWS client (path-style addressing by
//!   default, an optional key prefix via `PrefixStore` so several registries can share a
//!   bucket, presigned download URLs through its `Signer`).
//!
//! [`Backend`] adds three operations the trait has no word for, each with a default written
//! over the trait (what S3 uses) and a local override: removing everything under a prefix
//! (local: one directory removal, which also takes staging files of interrupted writes that
//! listings never show), the directories under a prefix with the time of their newest file
//! (local: staging files and empty directories count, so the sweeper finds them), and a
//! health check. A new operation is written once in `BlobStore`, over these.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, PutPayloadMut, WriteMultipart};

use crate::oci::{ByteRange, Digest};

mod local;
mod s3_config;

pub use s3_config::S3Config;

/// Bytes buffered before an object is written as a multipart upload (S3's minimum part size).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts of one object written at once.
const PART_CONCURRENCY: usize = 2;

/// Where an object lives. Keys never contain client-chosen text other than validated
/// digests and ids this registry generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageKey {
    Blob(Digest),
    UploadPart {
        session_id: String,
        part_id: String,
    },
    UploadDirectory {
        session_id: String,
    },
    /// The prefix of every upload's parts (for listing orphans).
    AllUploads,
    /// The prefix of every blob (for listing).
    AllBlobs,
}

impl StorageKey {
    pub fn path(&self) -> ObjectPath {
        ObjectPath::from(self.to_string())
    }
}

impl std::fmt::Display for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageKey::Blob(digest) => {
                let hex = digest.hex();
                write!(f, "blobs/{}/{}/{}", digest.algorithm().name(), &hex[..2], hex)
            }
            StorageKey::UploadPart { session_id, part_id } => write!(f, "uploads/{session_id}/{part_id}"),
            StorageKey::UploadDirectory { session_id } => write!(f, "uploads/{session_id}"),
            StorageKey::AllUploads => write!(f, "uploads"),
            StorageKey::AllBlobs => write!(f, "blobs"),
        }
    }
}

/// An object found by [`BlobStore::list`].
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Path relative to the storage root, as [`StorageKey`] renders it.
    pub path: String,
    pub size: u64,
    pub last_modified: SystemTime,
}

impl StoredObject {
    /// The upload session an object under `uploads/` belongs to.
    pub fn upload_session(&self) -> Option<&str> {
        self.upload_segments()?.next().filter(|id| !id.is_empty())
    }

    /// The part id of an upload part (`uploads/<session>/<part>`).
    pub fn upload_part(&self) -> Option<&str> {
        let mut segments = self.upload_segments()?;
        let (_session, part) = (segments.next()?, segments.next()?);
        (segments.next().is_none() && !part.is_empty()).then_some(part)
    }

    /// The path's segments after `uploads/`, for an object under it.
    fn upload_segments(&self) -> Option<std::str::Split<'_, char>> {
        Some(self.path.strip_prefix("uploads/")?.split('/'))
    }
}

/// Errors of blob storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("storage error: {0}")]
    Backend(#[from] object_store::Error),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid S3 configuration: {0}")]
    Config(object_store::Error),
}

impl StorageError {
    /// Whether the backend ran out of space (`ENOSPC`, `EDQUOT`), anywhere in the cause chain.
    pub fn is_out_of_space(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = cause {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::StorageFull
                    || io.kind() == std::io::ErrorKind::QuotaExceeded
                    || io.raw_os_error() == Some(28)
                {
                    return true;
                }
            }
            cause = error.source();
        }
        false
    }
}

fn from_object_store(error: object_store::Error) -> StorageError {
    match error {
        object_store::Error::NotFound { path, .. } => StorageError::NotFound(path),
        // The local store's I/O errors, reported as such (a full disk is found in the chain).
        object_store::Error::Generic { store, source } => match source.downcast::<std::io::Error>() {
            Ok(io) => StorageError::Io(*io),
            Err(source) => StorageError::Backend(object_store::Error::Generic { store, source }),
        },
        other => StorageError::Backend(other),
    }
}

/// A stream of an object's bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// What the registry needs of a backend beyond `ObjectStore`. The defaults are written over
/// the trait (S3 uses them); the local store overrides them with its fast paths.
#[async_trait]
pub(crate) trait Backend: ObjectStore {
    /// Bytes per part of a streamed write, and parts in flight at once.
    fn part_shape(&self) -> (usize, usize) {
        (PART_SIZE, PART_CONCURRENCY)
    }

    /// Whether `rename` copies the bytes (S3: `CopyObject`, then a delete) rather than
    /// relinking them.
    fn moves_by_copy(&self) -> bool {
        true
    }

    /// Removes every object under `prefix` (and anything else the backend keeps there).
    async fn delete_prefix(&self, prefix: &ObjectPath) -> object_store::Result<()> {
        let mut listing = self.list(Some(prefix));
        while let Some(meta) = listing.next().await {
            match self.delete(&meta?.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The names directly under `prefix`, each with the time its newest object was written.
    async fn children_by_newest(&self, prefix: &ObjectPath) -> object_store::Result<Vec<(String, SystemTime)>> {
        let mut newest: std::collections::HashMap<String, SystemTime> = std::collections::HashMap::new();
        let depth = prefix.parts().count();
        let mut listing = self.list(Some(prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let Some(child) = meta.location.parts().nth(depth).map(|part| part.as_ref().to_string()) else {
                continue;
            };
            let time: SystemTime = meta.last_modified.into();
            let entry = newest.entry(child).or_insert(time);
            *entry = (*entry).max(time);
        }
        Ok(newest.into_iter().collect())
    }

    /// Whether the backend answers.
    async fn check(&self) -> object_store::Result<()> {
        self.list_with_delimiter(Some(&ObjectPath::from("uploads"))).await?;
        Ok(())
    }

    /// Writes `payload` at `location` unless an object is already there; true when it wrote.
    /// For content-addressed keys, where an object already there holds the same bytes.
    async fn put_if_absent(&self, location: &ObjectPath, payload: PutPayload) -> object_store::Result<bool> {
        match self.head(location).await {
            Ok(_) => return Ok(false),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
        self.put(location, payload).await?;
        Ok(true)
    }
}

impl Backend for AmazonS3 {}
impl Backend for PrefixStore<AmazonS3> {}

#[async_trait]
impl Backend for local::LocalStore {
    fn part_shape(&self) -> (usize, usize) {
        // Parts go to the writer thread in order, one at a time (its queue holds a few).
        (local::PART_BYTES, 1)
    }

    fn moves_by_copy(&self) -> bool {
        false
    }

    async fn delete_prefix(&self, prefix: &ObjectPath) -> object_store::Result<()> {
        self.remove_directory(prefix).await
    }

    async fn children_by_newest(&self, prefix: &ObjectPath) -> object_store::Result<Vec<(String, SystemTime)>> {
        self.directories_by_newest(prefix).await
    }

    /// The check and the write in one blocking call.
    async fn put_if_absent(&self, location: &ObjectPath, payload: PutPayload) -> object_store::Result<bool> {
        self.write_if_absent(location, payload).await
    }

    async fn check(&self) -> object_store::Result<()> {
        local::LocalStore::check(self)
            .await
            .map_err(|source| object_store::Error::Generic {
                store: "LocalStore",
                source: Box::new(source),
            })
    }
}

/// The blob store: one [`Backend`] plus what the registry needs on top.
#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn Backend>,
    /// Set when downloads are redirected to presigned URLs.
    presigner: Option<Presigner>,
}

/// Signs download URLs for an S3 backend.
#[derive(Clone, Debug)]
struct Presigner {
    signer: Arc<AmazonS3>,
    /// The key prefix inside the bucket, which the signer does not add by itself.
    prefix: Option<ObjectPath>,
    expires_in: Duration,
}

impl BlobStore {
    /// A store on the local filesystem under `root` (created if missing); with `fsync`,
    /// files and their directories are fsynced before they become visible.
    pub fn local(root: impl Into<PathBuf>, fsync: bool) -> Result<Self, StorageError> {
        Ok(BlobStore {
            store: Arc::new(local::LocalStore::new(root.into(), fsync)?),
            presigner: None,
        })
    }

    /// A store in an S3-compatible bucket. Nothing is contacted until the first request.
    pub fn s3(config: &S3Config) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::new()
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(config.virtual_hosted_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let s3 = builder.build().map_err(StorageError::Config)?;
        let prefix = config.prefix.as_ref().map(|prefix| ObjectPath::from(prefix.as_str()));
        let store: Arc<dyn Backend> = match &prefix {
            Some(prefix) => Arc::new(PrefixStore::new(s3.clone(), prefix.clone())),
            None => Arc::new(s3.clone()),
        };
        let presigner = config.redirect_downloads.map(|expires_in| Presigner {
            signer: Arc::new(s3),
            prefix,
            expires_in,
        });
        Ok(BlobStore { store, presigner })
    }

    /// Whether this store redirects downloads to presigned URLs.
    pub fn redirects_downloads(&self) -> bool {
        self.presigner.is_some()
    }

    /// A presigned `GET` URL of the object, when this store redirects downloads.
    /// Returns the URL and how long it stays valid.
    pub async fn presigned_download(&self, key: &StorageKey) -> Result<Option<(url::Url, Duration)>, StorageError> {
        let Some(presigner) = &self.presigner else {
            return Ok(None);
        };
        let path = match &presigner.prefix {
            Some(prefix) => prefix.parts().chain(key.path().parts()).collect(),
            None => key.path(),
        };
        let url = presigner
            .signer
            .signed_url(reqwest::Method::GET, &path, presigner.expires_in)
            .await
            .map_err(from_object_store)?;
        Ok(Some((url, presigner.expires_in)))
    }

    /// Every object under a prefix, in no particular order.
    pub fn list(&self, prefix: &StorageKey) -> BoxStream<'static, Result<StoredObject, StorageError>> {
        self.store
            .list(Some(&prefix.path()))
            .map(|meta| {
                let meta = meta.map_err(from_object_store)?;
                Ok(StoredObject {
                    path: meta.location.to_string(),
                    size: meta.size,
                    last_modified: meta.last_modified.into(),
                })
            })
            .boxed()
    }

    /// Deletes an object by the path [`BlobStore::list`] reported.
    pub async fn delete_listed(&self, object: &StoredObject) -> Result<(), StorageError> {
        self.delete_path(&ObjectPath::from(object.path.as_str())).await
    }

    /// Starts writing an object. Nothing is visible at `key` until [`ObjectWriter::finish`].
    pub fn writer(&self, key: StorageKey) -> ObjectWriter {
        ObjectWriter {
            store: self.store.clone(),
            key,
            buffer: PutPayloadMut::new(),
            sink: None,
            written: 0,
        }
    }

    /// Size of the object, if it exists.
    pub async fn size(&self, key: &StorageKey) -> Result<Option<u64>, StorageError> {
        match self.store.head(&key.path()).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(from_object_store(error)),
        }
    }

    /// Streams an object, or the inclusive `range` of it.
    pub async fn read(&self, key: &StorageKey, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let options = GetOptions {
            range: range.map(|r| GetRange::Bounded(r.start..r.end + 1)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&key.path(), options)
            .await
            .map_err(from_object_store)?;
        Ok(result.into_stream().map_err(from_object_store).boxed())
    }

    /// Whether moving an object copies its bytes (S3), so that callers avoid moves.
    pub fn moves_by_copy(&self) -> bool {
        self.store.moves_by_copy()
    }

    /// Moves an object (atomic on the local filesystem, which also fsyncs its directory).
    pub async fn rename(&self, from: &StorageKey, to: &StorageKey) -> Result<(), StorageError> {
        self.store
            .rename(&from.path(), &to.path())
            .await
            .map_err(from_object_store)
    }

    /// Stores `data`, held whole in memory (a small object), at `key` unless an object is
    /// already there (a content-addressed key: the same bytes); durable when it returns, like
    /// [`ObjectWriter::finish`]. Returns whether it wrote. On the local filesystem this is one
    /// blocking call (check, staging file, fsync, rename, directory fsync).
    pub async fn put_if_absent(&self, key: &StorageKey, data: Vec<Bytes>) -> Result<bool, StorageError> {
        self.store
            .put_if_absent(&key.path(), PutPayload::from_iter(data))
            .await
            .map_err(from_object_store)
    }

    /// Moves `from` to `to` unless an object is already at `to` (same digest, same bytes:
    /// `from` is left where it is then). Returns whether it moved `from`.
    pub async fn move_into_place(&self, from: &StorageKey, to: &StorageKey) -> Result<bool, StorageError> {
        if self.size(to).await?.is_some() {
            return Ok(false);
        }
        self.rename(from, to).await?;
        Ok(true)
    }

    pub async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.delete_path(&key.path()).await
    }

    async fn delete_path(&self, path: &ObjectPath) -> Result<(), StorageError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(from_object_store(error)),
        }
    }

    /// Deletes every object under a key prefix (for example an upload's directory).
    pub async fn delete_prefix(&self, prefix: &StorageKey) -> Result<(), StorageError> {
        self.store
            .delete_prefix(&prefix.path())
            .await
            .map_err(from_object_store)
    }

    /// Whether the store answers: the root directory exists (local) or a listing works.
    pub async fn check(&self) -> Result<(), StorageError> {
        self.store.check().await.map_err(from_object_store)
    }

    /// Upload directories present in storage, each with its session id and the time its
    /// newest file was written; the sweeper removes those no session owns.
    pub async fn upload_directories(&self) -> Result<Vec<(String, SystemTime)>, StorageError> {
        self.store
            .children_by_newest(&StorageKey::AllUploads.path())
            .await
            .map_err(from_object_store)
    }
}

/// Writes one object from a stream of buffers with bounded memory. Small objects (up to one
/// part of the backend's [`Backend::part_shape`]) are kept until [`ObjectWriter::finish`] and
/// written with one `put`; larger ones stream as a multipart upload (on the local
/// filesystem: parts of 512 KiB to its writer thread; on S3: parts of [`PART_SIZE`]).
pub struct ObjectWriter {
    store: Arc<dyn Backend>,
    key: StorageKey,
    /// What arrived since the last part was handed on. Buffers are kept as they came (no
    /// copy) and handed on as they are.
    buffer: PutPayloadMut,
    /// The multipart upload, once the object is too large to buffer.
    sink: Option<Sink>,
    written: u64,
}

/// A multipart upload in progress.
enum Sink {
    /// Several parts in flight: `WriteMultipart` runs each as a task of its own.
    Concurrent(WriteMultipart),
    /// One part at a time: each part's future is awaited in the writing task, in order
    /// (no task per part; the local store's parts complete once its writer thread has them).
    Sequential(Box<dyn object_store::MultipartUpload>),
}

impl ObjectWriter {
    pub async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.written += data.len() as u64;
        let (part_size, in_flight) = self.store.part_shape();
        match &mut self.sink {
            Some(Sink::Concurrent(multipart)) => {
                multipart
                    .wait_for_capacity(in_flight)
                    .await
                    .map_err(from_object_store)?;
                multipart.put(data);
                return Ok(());
            }
            Some(Sink::Sequential(upload)) => {
                self.buffer.push(data);
                if self.buffer.content_length() >= part_size {
                    let part = PutPayload::from(std::mem::take(&mut self.buffer));
                    upload.put_part(part).await.map_err(from_object_store)?;
                }
                return Ok(());
            }
            None => {}
        }
        if self.buffer.content_length() + data.len() <= part_size {
            self.buffer.push(data);
            return Ok(());
        }
        let mut upload = self
            .store
            .put_multipart(&self.key.path())
            .await
            .map_err(from_object_store)?;
        if in_flight <= 1 {
            self.buffer.push(data);
            let part = PutPayload::from(std::mem::take(&mut self.buffer));
            let sent = upload.put_part(part).await;
            self.sink = Some(Sink::Sequential(upload));
            sent.map_err(from_object_store)?;
            return Ok(());
        }
        let buffered = PutPayload::from(std::mem::take(&mut self.buffer));
        let mut multipart = WriteMultipart::new_with_chunk_size(upload, part_size);
        for chunk in buffered.iter() {
            multipart.put(chunk.clone());
        }
        multipart.put(data);
        self.sink = Some(Sink::Concurrent(multipart));
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the object and makes it durable; returns its size.
    pub async fn finish(self) -> Result<u64, StorageError> {
        match self.sink {
            Some(Sink::Concurrent(multipart)) => {
                multipart.finish().await.map_err(from_object_store)?;
            }
            // The local writer thread fsyncs, renames and fsyncs the directory itself.
            Some(Sink::Sequential(mut upload)) => {
                let sent = if self.buffer.is_empty() {
                    Ok(())
                } else {
                    upload.put_part(PutPayload::from(self.buffer)).await
                };
                match sent {
                    Ok(()) => {
                        upload.complete().await.map_err(from_object_store)?;
                    }
                    Err(error) => {
                        let _ = upload.abort().await;
                        return Err(from_object_store(error));
                    }
                }
            }
            None => {
                let payload = PutPayload::from(self.buffer);
                self.store
                    .put(&self.key.path(), payload)
                    .await
                    .map_err(from_object_store)?;
            }
        }
        Ok(self.written)
    }

    /// Abandons the object; nothing is left at its key.
    pub async fn abort(self) {
        let aborted = match self.sink {
            Some(Sink::Concurrent(multipart)) => multipart.abort().await,
            Some(Sink::Sequential(mut upload)) => upload.abort().await,
            None => Ok(()),
        };
        if let Err(error) = aborted {
            tracing::warn!(%error, key = %self.key, "could not abort a multipart write");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_documented() {
        let digest: Digest = format!("sha256:ab{}", "0".repeat(62)).parse().unwrap();
        assert_eq!(
            StorageKey::Blob(digest).to_string(),
            format!("blobs/sha256/ab/ab{}", "0".repeat(62))
        );
        let part = StorageKey::UploadPart {
            session_id: "s".into(),
            part_id: "p".into(),
        };
        assert_eq!(part.to_string(), "uploads/s/p");
    }

    #[tokio::test]
    async fn writes_small_and_large_objects_and_reads_ranges() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::local(root.path(), true).unwrap();
        for size in [0usize, 10, PART_SIZE + 3, 3 * PART_SIZE + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let key = StorageKey::UploadPart {
                session_id: "s".into(),
                part_id: size.to_string(),
            };
            let mut writer = store.writer(key.clone());
            for piece in data.chunks(100_000) {
                writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
            }
            assert_eq!(writer.finish().await.unwrap(), size as u64);
            assert_eq!(store.size(&key).await.unwrap(), Some(size as u64));
            let read: Vec<Bytes> = store.read(&key, None).await.unwrap().try_collect().await.unwrap();
            assert_eq!(read.concat(), data);
            if size > 10 {
                let range = ByteRange { start: 3, end: 9 };
                let read: Vec<Bytes> = store
                    .read(&key, Some(range))
                    .await
                    .unwrap()
                    .try_collect()
                    .await
                    .unwrap();
                assert_eq!(read.concat(), &data[3..10]);
            }
        }
        store
            .delete_prefix(&StorageKey::UploadDirectory { session_id: "s".into() })
            .await
            .unwrap();
        assert!(!root.path().join("uploads/s").exists());
    }
}
