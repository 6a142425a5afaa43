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
//! verified, so nothing under `blobs/` is partial. The local backend additionally fsyncs
//! files before they become visible.
//!
//! Backends: the local filesystem (default) and any S3-compatible store through
//! `object_store`'s AWS client (path-style addressing by default, an optional key prefix so
//! several registries can share a bucket, presigned download URLs). The local-file fast paths
//! (a writer thread per large object, fsync, mapped reads, removing directories; see
//! `local.rs` for the streaming ones) apply only to the filesystem.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
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
        let rest = self.path.strip_prefix("uploads/")?;
        rest.split('/').next().filter(|id| !id.is_empty())
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
    /// The error, with an I/O "not found" reported as [`StorageError::NotFound`] of `key`.
    fn not_found_as(self, key: String) -> StorageError {
        match self {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => StorageError::NotFound(key),
            other => other,
        }
    }

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
        other => StorageError::Backend(other),
    }
}

/// A stream of an object's bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// The blob store: an `object_store` backend plus what the registry needs on top.
#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The root directory when the backend is the local filesystem (for fsync and fast reads).
    local_root: Option<PathBuf>,
    fsync: bool,
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
    /// A store on the local filesystem under `root` (created if missing).
    pub fn local(root: impl Into<PathBuf>, fsync: bool) -> Result<Self, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let root = root.canonicalize()?;
        let store = LocalFileSystem::new_with_prefix(&root)?;
        Ok(BlobStore {
            store: Arc::new(store),
            local_root: Some(root),
            fsync,
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
        let s3 = Arc::new(builder.build().map_err(StorageError::Config)?);
        let prefix = config.prefix.as_ref().map(|prefix| ObjectPath::from(prefix.as_str()));
        let store: Arc<dyn ObjectStore> = match &prefix {
            Some(prefix) => {
                let shared: Arc<dyn ObjectStore> = s3.clone();
                Arc::new(PrefixStore::new(shared, prefix.clone()))
            }
            None => s3.clone(),
        };
        let presigner = config.redirect_downloads.map(|expires_in| Presigner {
            signer: s3,
            prefix,
            expires_in,
        });
        Ok(BlobStore {
            store,
            local_root: None,
            fsync: false,
            presigner,
        })
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
        match self.store.delete(&ObjectPath::from(object.path.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StorageError::Backend(error)),
        }
    }

    /// Whether this store is on the local filesystem.
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// Starts writing an object. Nothing is visible at `key` until [`ObjectWriter::finish`].
    pub fn writer(&self, key: StorageKey) -> ObjectWriter {
        ObjectWriter {
            store: self.clone(),
            key,
            buffer: PutPayloadMut::new(),
            sink: Sink::Buffer,
            written: 0,
        }
    }

    /// Size of the object, if it exists.
    pub async fn size(&self, key: &StorageKey) -> Result<Option<u64>, StorageError> {
        match self.store.head(&key.path()).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(StorageError::Backend(error)),
        }
    }

    /// Streams an object, or the inclusive `range` of it.
    pub async fn read(&self, key: &StorageKey, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        if let Some(root) = &self.local_root {
            let range = range.map(|r| (r.start, r.end + 1));
            return local::read(root.join(key.to_string()), range, key.to_string()).await;
        }
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

    /// Moves an object (atomic on the local filesystem).
    pub async fn rename(&self, from: &StorageKey, to: &StorageKey) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            // One blocking call instead of object_store's rename plus a directory fsync.
            let (source, target, fsync) = (root.join(from.to_string()), root.join(to.to_string()), self.fsync);
            let shown = from.to_string();
            return run_blocking(move || local::move_file(&source, &target, fsync))
                .await
                .map_err(|error| error.not_found_as(shown));
        }
        self.store
            .rename(&from.path(), &to.path())
            .await
            .map_err(from_object_store)?;
        self.sync_directory_of(to).await
    }

    /// Moves `from` to `to` unless an object is already at `to` (same digest, same bytes:
    /// `from` is dropped then), and afterwards removes every object under `leftovers`.
    /// On the local filesystem this is one blocking call.
    pub async fn move_into_place(
        &self,
        from: &StorageKey,
        to: &StorageKey,
        leftovers: &StorageKey,
    ) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            let source = root.join(from.to_string());
            let target = root.join(to.to_string());
            let leftover_directory = root.join(leftovers.to_string());
            let fsync = self.fsync;
            let shown = from.to_string();
            return run_blocking(move || {
                if std::fs::symlink_metadata(&target).is_err() {
                    local::move_file(&source, &target, fsync)?;
                }
                local::remove_directory(&leftover_directory)
            })
            .await
            .map_err(|error| error.not_found_as(shown));
        }
        if self.size(to).await?.is_none() {
            self.rename(from, to).await?;
        }
        self.delete_prefix(leftovers).await
    }

    pub async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        match self.store.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StorageError::Backend(error)),
        }
    }

    /// Deletes every object under a key prefix (for example an upload's directory).
    pub async fn delete_prefix(&self, prefix: &StorageKey) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            // The directory is the prefix: one removal takes every object, the directories
            // the local backend leaves behind, and staging files (`<name>#<n>`) of writes
            // that a crash interrupted, which listing does not show.
            let directory = root.join(prefix.to_string());
            return run_blocking(move || local::remove_directory(&directory)).await;
        }
        let path = prefix.path();
        let mut listing = self.store.list(Some(&path));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(from_object_store)?;
            self.store
                .delete(&meta.location)
                .await
                .map_err(from_object_store)
                .or_else(|error| match error {
                    StorageError::NotFound(_) => Ok(()),
                    other => Err(other),
                })?;
        }
        Ok(())
    }

    /// Whether the store answers: the root directory exists (local) or a listing works.
    pub async fn check(&self) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            let meta = tokio::fs::metadata(root).await?;
            if !meta.is_dir() {
                return Err(StorageError::Io(std::io::Error::other(
                    "the storage root is not a directory",
                )));
            }
            return Ok(());
        }
        self.store
            .list_with_delimiter(Some(&ObjectPath::from("uploads")))
            .await
            .map_err(from_object_store)?;
        Ok(())
    }

    /// Upload directories present in storage, each with its session id and the time its
    /// newest file was written; the sweeper removes those no session owns.
    pub async fn upload_directories(&self) -> Result<Vec<(String, std::time::SystemTime)>, StorageError> {
        use std::collections::HashMap;
        let mut newest: HashMap<String, std::time::SystemTime> = HashMap::new();
        if let Some(root) = &self.local_root {
            // Walk the files themselves: staging files of interrupted writes count too.
            let uploads = root.join("uploads");
            let found =
                tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(String, std::time::SystemTime)>> {
                    let mut found = Vec::new();
                    let entries = match std::fs::read_dir(&uploads) {
                        Ok(entries) => entries,
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
                        Err(error) => return Err(error),
                    };
                    for entry in entries.flatten() {
                        let session = entry.file_name().to_string_lossy().to_string();
                        let mut time = entry.metadata()?.modified()?;
                        if let Ok(files) = std::fs::read_dir(entry.path()) {
                            for file in files.flatten() {
                                if let Ok(modified) = file.metadata().and_then(|m| m.modified()) {
                                    time = time.max(modified);
                                }
                            }
                        }
                        found.push((session, time));
                    }
                    Ok(found)
                })
                .await
                .map_err(std::io::Error::other)??;
            return Ok(found);
        }
        let mut listing = self.store.list(Some(&ObjectPath::from("uploads")));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(from_object_store)?;
            let Some(session) = meta.location.parts().nth(1).map(|part| part.as_ref().to_string()) else {
                continue;
            };
            let time: std::time::SystemTime = meta.last_modified.into();
            let entry = newest.entry(session).or_insert(time);
            *entry = (*entry).max(time);
        }
        Ok(newest.into_iter().collect())
    }

    async fn sync_directory_of(&self, key: &StorageKey) -> Result<(), StorageError> {
        let (Some(root), true) = (&self.local_root, self.fsync) else {
            return Ok(());
        };
        let path = root.join(key.to_string());
        let Some(directory) = path.parent().map(|p| p.to_path_buf()) else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || std::fs::File::open(directory)?.sync_all())
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }
}

/// Runs blocking filesystem work on the blocking pool.
async fn run_blocking(work: impl FnOnce() -> std::io::Result<()> + Send + 'static) -> Result<(), StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)??;
    Ok(())
}

/// Writes a whole local file atomically (see [`local::write_atomically`]) in one blocking call.
async fn write_local_file(target: PathBuf, payload: PutPayload, fsync: bool) -> Result<(), StorageError> {
    run_blocking(move || {
        local::write_atomically(&target, fsync, |file| {
            use std::io::Write;
            payload.iter().try_for_each(|chunk| file.write_all(chunk))
        })
    })
    .await
}

/// Writes one object from a stream of buffers with bounded memory. Small objects are kept
/// until [`ObjectWriter::finish`] and written in one call; larger ones stream: on the local
/// filesystem through a dedicated writer thread (`local::FileWriter`), elsewhere as a
/// multipart upload of [`PART_SIZE`] parts.
pub struct ObjectWriter {
    store: BlobStore,
    key: StorageKey,
    /// What arrived before the object was known to need streaming. Buffers are kept as
    /// they came (no copy) and handed on as they are.
    buffer: PutPayloadMut,
    sink: Sink,
    written: u64,
}

/// Where an [`ObjectWriter`] sends its bytes once the object is too large to buffer.
enum Sink {
    Buffer,
    LocalFile(local::FileWriter),
    Multipart(WriteMultipart),
}

impl ObjectWriter {
    pub async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.written += data.len() as u64;
        match &mut self.sink {
            Sink::LocalFile(file) => return file.write(data).await,
            Sink::Multipart(multipart) => {
                multipart
                    .wait_for_capacity(PART_CONCURRENCY)
                    .await
                    .map_err(from_object_store)?;
                multipart.put(data);
                return Ok(());
            }
            Sink::Buffer => {}
        }
        let threshold = if self.store.is_local() {
            local::BATCH_BYTES
        } else {
            PART_SIZE
        };
        if self.buffer.content_length() + data.len() <= threshold {
            self.buffer.push(data);
            return Ok(());
        }
        let buffered = PutPayload::from(std::mem::take(&mut self.buffer));
        if let Some(root) = &self.store.local_root {
            let mut file = local::FileWriter::start(root.join(self.key.to_string()), self.store.fsync);
            for chunk in buffered.iter().cloned().chain(std::iter::once(data)) {
                if let Err(error) = file.write(chunk).await {
                    file.abort().await;
                    return Err(error);
                }
            }
            self.sink = Sink::LocalFile(file);
            return Ok(());
        }
        let upload = self
            .store
            .store
            .put_multipart(&self.key.path())
            .await
            .map_err(from_object_store)?;
        let mut multipart = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        for chunk in buffered.iter() {
            multipart.put(chunk.clone());
        }
        multipart.put(data);
        self.sink = Sink::Multipart(multipart);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the object and makes it durable; returns its size.
    pub async fn finish(self) -> Result<u64, StorageError> {
        match self.sink {
            // The writer thread fsyncs, renames and fsyncs the directory itself.
            Sink::LocalFile(file) => file.finish().await?,
            Sink::Multipart(multipart) => {
                multipart.finish().await.map_err(from_object_store)?;
            }
            Sink::Buffer => {
                let payload = PutPayload::from(self.buffer);
                if let Some(root) = &self.store.local_root {
                    // Small object on the local filesystem: stage, fsync, rename and fsync
                    // the directory in one blocking call (each call is a thread hand-off).
                    let target = root.join(self.key.to_string());
                    write_local_file(target, payload, self.store.fsync).await?;
                } else {
                    self.store
                        .store
                        .put(&self.key.path(), payload)
                        .await
                        .map_err(from_object_store)?;
                }
            }
        }
        Ok(self.written)
    }

    /// Abandons the object; nothing is left at its key.
    pub async fn abort(self) {
        match self.sink {
            Sink::LocalFile(file) => file.abort().await,
            Sink::Multipart(multipart) => {
                if let Err(error) = multipart.abort().await {
                    tracing::warn!(%error, key = %self.key, "could not abort a multipart write");
                }
            }
            Sink::Buffer => {}
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
