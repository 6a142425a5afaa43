//! `LocalStore`: the local filesystem as an `object_store::ObjectStore`, with the fast paths
//! the registry relies on, so that `BlobStore` drives it like any other backend.
//!
//! - **Whole writes** (`put`): a staging file next to the target (`<name>#<id>`, the pattern
//!   object_store's `LocalFileSystem` uses, so listings skip it), fsynced, renamed onto the
//!   target, the directory fsynced; one blocking call.
//! - **Streamed writes** (`put_multipart`): one dedicated blocking thread per object owns a
//!   staging file. Each part (a `PutPayload`: the request's buffers by reference, no copy)
//!   goes to it through a bounded channel with its offset in the object, and the thread
//!   writes it there with vectored writes; the part's future completes once the thread has
//!   it queued (at most [`QUEUED_PARTS`] wait), and the thread's errors are reported by the
//!   next part and by `complete`. Receiving and writing overlap, memory stays bounded. With
//!   `fsync` the thread asks the kernel to start writing back every [`WRITEBACK_STEP`] bytes
//!   (`sync_file_range`, Linux), so the final fsync waits for the tail only. `complete`:
//!   fsync, rename onto the target, fsync the directory. An abandoned, failed or dropped
//!   upload removes the staging file; a crash leaves only the staging file, which is never
//!   served and goes with its upload directory.
//! - **Reads** (`get_opts`): the file is mapped in windows of [`READ_WINDOW`] bytes (`mmap`
//!   with `MAP_POPULATE`, on a blocking thread, one window ahead of the one being sent), each
//!   window handed on as one buffer: no copy into a user-space buffer, one thread hand-off
//!   per window. A window is unmapped when its last reference is dropped. Mapped pages count
//!   as the server's resident memory while they are sent, so at most [`MAPPED_WINDOWS`] are
//!   mapped at once across the store; a read that finds none free reads a piece of
//!   [`READ_PIECE`] bytes into a buffer instead (many parallel pulls: bounded memory, and
//!   no read waits for another). Mapping is safe because files under the root are never truncated or rewritten in place (staged and
//!   renamed; deleting a mapped file keeps its pages until unmapped); truncating one from
//!   outside while it is served would fault the server.
//! - **`rename`, `copy`**: one blocking call each, fsyncing what they create.
//! - `list`, `head`, `delete`, `copy_if_not_exists` and conditional requests are
//!   `LocalFileSystem`'s own.
//!
//! The [`Backend`](super::Backend) extension adds what the trait has no word for: removing a
//! prefix takes the directory with its staging files in one call, and upload directories are
//! listed with staging files and empty directories counted.

use std::io::{IoSlice, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Bytes per part of a streamed write (the request's buffers are grouped into parts of this
/// size before they go to the writer thread).
pub(super) const PART_BYTES: usize = 512 * 1024;
/// Parts that may wait for the writer thread; a part's future waits beyond that.
const QUEUED_PARTS: usize = 2;
/// With `fsync`, write-back of the file is started after every this many bytes.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;
/// Buffers passed to one `writev` (Linux's `IOV_MAX` is 1024).
const MAX_IOVECS: usize = 256;

/// The local filesystem under `root`; see the module documentation.
#[derive(Debug)]
pub(super) struct LocalStore {
    root: PathBuf,
    fsync: bool,
    /// object_store's own local backend, for what needs no fast path.
    plain: LocalFileSystem,
    /// Permits for mapped read windows ([`MAPPED_WINDOWS`]).
    mapped: Arc<Semaphore>,
}

impl std::fmt::Display for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalStore({})", self.root.display())
    }
}

const STORE: &str = "LocalStore";

/// An I/O error as object_store reports it: not found as `NotFound` of `location`.
fn io_error(location: &ObjectPath, error: std::io::Error) -> object_store::Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        object_store::Error::NotFound {
            path: location.to_string(),
            source: Box::new(error),
        }
    } else {
        object_store::Error::Generic {
            store: STORE,
            source: Box::new(error),
        }
    }
}

/// Runs blocking filesystem work on the blocking pool.
async fn blocking<T: Send + 'static>(
    location: &ObjectPath,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> object_store::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| io_error(location, std::io::Error::other(join)))?
        .map_err(|error| io_error(location, error))
}

impl LocalStore {
    /// The store under `root` (created if missing).
    pub(super) fn new(root: PathBuf, fsync: bool) -> std::io::Result<LocalStore> {
        std::fs::create_dir_all(&root)?;
        let root = root.canonicalize()?;
        let plain = LocalFileSystem::new_with_prefix(&root).map_err(std::io::Error::other)?;
        Ok(LocalStore {
            root,
            fsync,
            plain,
            mapped: Arc::new(Semaphore::new(MAPPED_WINDOWS)),
        })
    }

    /// The file of an object path (paths come from `StorageKey`, which never yields `..`).
    fn file(&self, location: &ObjectPath) -> PathBuf {
        self.root.join(location.as_ref())
    }

    /// Whether the root directory is there.
    pub(super) async fn check(&self) -> std::io::Result<()> {
        let meta = tokio::fs::metadata(&self.root).await?;
        if !meta.is_dir() {
            return Err(std::io::Error::other("the storage root is not a directory"));
        }
        Ok(())
    }

    /// Removes the directory of `prefix` and everything in it (staging files of interrupted
    /// writes too, which listing does not show); a missing directory is fine.
    pub(super) async fn remove_directory(&self, prefix: &ObjectPath) -> object_store::Result<()> {
        let directory = self.file(prefix);
        blocking(prefix, move || match std::fs::remove_dir_all(&directory) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        })
        .await
    }

    /// Writes `payload` at `location` as [`ObjectStore::put`] does, unless a file is already
    /// there; true when it wrote. One blocking call.
    pub(super) async fn write_if_absent(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
    ) -> object_store::Result<bool> {
        let (target, fsync) = (self.file(location), self.fsync);
        blocking(location, move || {
            if std::fs::symlink_metadata(&target).is_ok() {
                return Ok(false);
            }
            write_atomically(&target, fsync, |file| {
                payload.iter().try_for_each(|chunk| file.write_all(chunk))
            })?;
            Ok(true)
        })
        .await
    }

    /// The directories directly under `prefix`, each with the time its newest file (staging
    /// files included) or the directory itself was last changed.
    pub(super) async fn directories_by_newest(
        &self,
        prefix: &ObjectPath,
    ) -> object_store::Result<Vec<(String, SystemTime)>> {
        let parent = self.file(prefix);
        blocking(prefix, move || {
            let mut found = Vec::new();
            let entries = match std::fs::read_dir(&parent) {
                Ok(entries) => entries,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
                Err(error) => return Err(error),
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let mut time = entry.metadata()?.modified()?;
                if let Ok(files) = std::fs::read_dir(entry.path()) {
                    for file in files.flatten() {
                        if let Ok(modified) = file.metadata().and_then(|m| m.modified()) {
                            time = time.max(modified);
                        }
                    }
                }
                found.push((name, time));
            }
            Ok(found)
        })
        .await
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if !matches!(opts.mode, PutMode::Overwrite) {
            return self.plain.put_opts(location, payload, opts).await;
        }
        let (target, fsync) = (self.file(location), self.fsync);
        blocking(location, move || {
            write_atomically(&target, fsync, |file| {
                payload.iter().try_for_each(|chunk| file.write_all(chunk))
            })
        })
        .await?;
        Ok(PutResult {
            e_tag: None,
            version: None,
        })
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(FileUpload::start(
            self.file(location),
            location.clone(),
            self.fsync,
        )))
    }

    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> object_store::Result<GetResult> {
        let conditional = options.if_match.is_some()
            || options.if_none_match.is_some()
            || options.if_modified_since.is_some()
            || options.if_unmodified_since.is_some()
            || options.version.is_some();
        if options.head || conditional {
            return self.plain.get_opts(location, options).await;
        }
        read(
            self.file(location),
            location.clone(),
            options.range,
            self.mapped.clone(),
        )
        .await
    }

    async fn head(&self, location: &ObjectPath) -> object_store::Result<ObjectMeta> {
        self.plain.head(location).await
    }

    async fn delete(&self, location: &ObjectPath) -> object_store::Result<()> {
        self.plain.delete(location).await
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.plain.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> object_store::Result<ListResult> {
        self.plain.list_with_delimiter(prefix).await
    }

    /// Copies through a staging file, fsynced like a write.
    async fn copy(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
        let (source, target, fsync) = (self.file(from), self.file(to), self.fsync);
        blocking(from, move || {
            let mut source = std::fs::File::open(&source)?;
            write_atomically(&target, fsync, |file| std::io::copy(&mut source, file).map(drop))
        })
        .await
    }

    async fn copy_if_not_exists(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
        self.plain.copy_if_not_exists(from, to).await
    }

    /// Moves the file (atomic), creating the target's directory, and fsyncs that directory.
    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
        let (source, target, fsync) = (self.file(from), self.file(to), self.fsync);
        blocking(from, move || move_file(&source, &target, fsync)).await
    }
}

/// Writes `target` atomically (blocking): `fill` writes a fresh staging file next to it
/// (`<name>#<id>`), which is then fsynced (with `fsync`), renamed onto `target`, and its
/// directory fsynced. When anything fails the staging file is removed and nothing is left
/// at `target`.
fn write_atomically(
    target: &Path,
    fsync: bool,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let directory = target.parent().expect("object paths have a parent");
    let staging = staging_path(target);
    let written = (|| {
        let create = || std::fs::OpenOptions::new().write(true).create_new(true).open(&staging);
        // The directory usually exists: it is created only when the file cannot be.
        let mut file = match create() {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(directory)?;
                create()?
            }
            opened => opened?,
        };
        fill(&mut file)?;
        if fsync {
            file.sync_all()?;
        }
        std::fs::rename(&staging, target)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&staging);
        return Err(error);
    }
    if fsync {
        std::fs::File::open(directory)?.sync_all()?;
    }
    Ok(())
}

/// A fresh staging path next to `target`: `<name>#<id>`, the pattern object_store's local
/// backend uses for unfinished files, so listings skip it.
fn staging_path(target: &Path) -> PathBuf {
    let mut staging = target.to_path_buf().into_os_string();
    staging.push(format!("#{}", uuid::Uuid::new_v4().simple()));
    PathBuf::from(staging)
}

/// Moves `source` to `target` (blocking), creating `target`'s directory, and fsyncs that
/// directory when `fsync` is on.
fn move_file(source: &Path, target: &Path, fsync: bool) -> std::io::Result<()> {
    let directory = target.parent().expect("object paths have a parent");
    std::fs::create_dir_all(directory)?;
    std::fs::rename(source, target)?;
    if fsync {
        std::fs::File::open(directory)?.sync_all()?;
    }
    Ok(())
}

enum Message {
    /// A part's buffers and where in the object they go.
    Part { offset: u64, buffers: Vec<Bytes> },
    /// Every part was sent (`length` bytes in all): make the file durable and visible.
    Finish { length: u64 },
}

/// The error the writer thread stopped with, kept for the parts and `complete` that find the
/// thread gone (an `io::Error` is not `Clone`: its kind, OS code and text are kept).
type StoppedWith = Arc<Mutex<Option<(std::io::ErrorKind, Option<i32>, String)>>>;

fn stopped_error(stopped: &StoppedWith) -> std::io::Error {
    match stopped.lock().ok().and_then(|slot| slot.clone()) {
        Some((_, Some(code), _)) => std::io::Error::from_raw_os_error(code),
        Some((kind, None, text)) => std::io::Error::new(kind, text),
        None => std::io::Error::other("the file writer stopped"),
    }
}

/// A streamed write to one file through its writer thread; see the module documentation.
#[derive(Debug)]
struct FileUpload {
    location: ObjectPath,
    /// `None` once completed or aborted.
    sender: Option<mpsc::Sender<Message>>,
    /// The writer thread; `None` once its result was taken.
    worker: Option<JoinHandle<std::io::Result<()>>>,
    stopped: StoppedWith,
    /// Bytes handed out to parts so far: the next part's offset.
    length: u64,
}

impl FileUpload {
    /// Starts the writer thread. The staging file is created by the thread.
    fn start(target: PathBuf, location: ObjectPath, fsync: bool) -> FileUpload {
        let (sender, receiver) = mpsc::channel(QUEUED_PARTS);
        let stopped = StoppedWith::default();
        let record = stopped.clone();
        let worker = tokio::task::spawn_blocking(move || {
            let mut receiver = receiver;
            let result = write_file(&target, fsync, &mut receiver);
            if let Err(error) = &result {
                if let Ok(mut slot) = record.lock() {
                    *slot = Some((error.kind(), error.raw_os_error(), error.to_string()));
                }
            }
            // Closed only now, so a part that finds the thread gone finds its error recorded.
            drop(receiver);
            result
        });
        FileUpload {
            location,
            sender: Some(sender),
            worker: Some(worker),
            stopped,
            length: 0,
        }
    }

    /// Waits for the writer thread and returns how it ended.
    async fn join(&mut self) -> std::io::Result<()> {
        match self.worker.take() {
            Some(worker) => worker.await.map_err(std::io::Error::other)?,
            None => Err(stopped_error(&self.stopped)),
        }
    }
}

#[async_trait]
impl MultipartUpload for FileUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let offset = self.length;
        self.length += data.content_length() as u64;
        let sender = self.sender.clone();
        let (stopped, location) = (self.stopped.clone(), self.location.clone());
        Box::pin(async move {
            let buffers: Vec<Bytes> = data.into_iter().filter(|buffer| !buffer.is_empty()).collect();
            if buffers.is_empty() {
                return Ok(());
            }
            let sent = match sender {
                Some(sender) => sender.send(Message::Part { offset, buffers }).await.is_ok(),
                None => false,
            };
            if sent {
                Ok(())
            } else {
                // The thread stopped: it failed, and its error says why.
                Err(io_error(&location, stopped_error(&stopped)))
            }
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let sender = self.sender.take();
        let sent = match &sender {
            Some(sender) => sender.send(Message::Finish { length: self.length }).await.is_ok(),
            None => false,
        };
        drop(sender);
        let ended = self.join().await;
        let ended = if sent {
            ended
        } else {
            ended.and(Err(stopped_error(&self.stopped)))
        };
        ended.map_err(|error| io_error(&self.location, error))?;
        // The object's buffers are freed: hand the memory back (off the request's path).
        tokio::task::spawn_blocking(release_freed_memory);
        Ok(PutResult {
            e_tag: None,
            version: None,
        })
    }

    /// Returns once the staging file is gone.
    async fn abort(&mut self) -> object_store::Result<()> {
        self.sender = None;
        let _ = self.join().await;
        Ok(())
    }
}

/// The writer thread: writes parts until `Finish` (or until the sender goes away, which
/// abandons the file).
fn write_file(target: &Path, fsync: bool, receiver: &mut mpsc::Receiver<Message>) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    write_atomically(target, fsync, |file| {
        // Where the file's cursor is, how many bytes were written, and up to where
        // write-back was started.
        let (mut position, mut written, mut written_back) = (0u64, 0u64, 0u64);
        loop {
            match receiver.blocking_recv() {
                Some(Message::Part { offset, buffers }) => {
                    if offset != position {
                        file.seek(SeekFrom::Start(offset))?;
                    }
                    let length = write_all_vectored(file, &buffers)?;
                    drop(buffers);
                    position = offset + length;
                    written += length;
                    if fsync && position > written_back && position - written_back >= WRITEBACK_STEP {
                        start_writeback(file, written_back, position - written_back);
                        written_back = position;
                    }
                }
                Some(Message::Finish { length }) if length == written => return Ok(()),
                Some(Message::Finish { length }) => {
                    return Err(std::io::Error::other(format!(
                        "{written} bytes written of the {length} the parts announced"
                    )))
                }
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::Interrupted,
                        "the write was abandoned",
                    ))
                }
            }
        }
    })
}

/// Gives memory the allocator keeps for reuse back to the kernel. A streamed write passes
/// megabytes through buffers that the allocator keeps below its trim threshold (see
/// `server::tune_allocator`); after the write, with several at once, that is tens of MiB no
/// longer needed.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory of the allocator's heaps to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes mapped and handed on at once when reading a file.
const READ_WINDOW: u64 = 4 * 1024 * 1024;
/// Windows being mapped or waiting ahead of the one being sent.
const WINDOWS_AHEAD: usize = 2;
/// Read windows mapped at once across the store (reads in flight hold them until sent).
const MAPPED_WINDOWS: usize = 4;
/// Bytes read into a buffer at once when no mapped window is free.
const READ_PIECE: u64 = 128 * 1024;

/// Streams `range` of the file at `path` (all of it when `None`; a bounded range's end past
/// the file is cut to its size) in mapped windows while `mapped` has permits, else in
/// pieces read into buffers.
async fn read(
    path: PathBuf,
    location: ObjectPath,
    range: Option<GetRange>,
    mapped: Arc<Semaphore>,
) -> object_store::Result<GetResult> {
    let (file, meta) = blocking(&location, move || {
        let file = std::fs::File::open(&path)?;
        let meta = file.metadata()?;
        advise_sequential(&file);
        Ok((file, meta))
    })
    .await?;
    let size = meta.len();
    let Range { start, end } = match range {
        None => 0..size,
        Some(GetRange::Bounded(range)) => range.start..range.end.min(size),
        Some(GetRange::Offset(start)) => start..size,
        Some(GetRange::Suffix(length)) => size.saturating_sub(length)..size,
    };
    if start > end {
        return Err(io_error(
            &location,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("range starts at {start}, past the end of {location} ({size} bytes)"),
            ),
        ));
    }
    let meta = ObjectMeta {
        location: location.clone(),
        last_modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH).into(),
        size,
        e_tag: None,
        version: None,
    };
    let file = Arc::new(file);
    // Each step decides, when it is started, whether it maps a window or reads a piece.
    let stream = futures::stream::unfold(start, move |from| {
        let (file, location, mapped) = (file.clone(), location.clone(), mapped.clone());
        async move {
            if from >= end {
                return None;
            }
            let permit = mapped.try_acquire_owned().ok();
            let to = (from + if permit.is_some() { READ_WINDOW } else { READ_PIECE }).min(end);
            let step = async move {
                blocking(&location, move || match permit {
                    Some(permit) => map_window(&file, from, to, Some(permit)),
                    None => read_window(&file, from, to),
                })
                .await
            };
            Some((step, to))
        }
    })
    .buffered(WINDOWS_AHEAD);
    Ok(GetResult {
        payload: GetResultPayload::Stream(stream.boxed()),
        meta,
        range: start..end,
        attributes: Default::default(),
    })
}

/// Writes every buffer, in order, with as few `writev` calls as the kernel allows.
/// Returns the number of bytes written.
fn write_all_vectored(file: &mut std::fs::File, buffers: &[Bytes]) -> std::io::Result<u64> {
    let total: usize = buffers.iter().map(Bytes::len).sum();
    let mut index = 0;
    // Bytes of `buffers[index]` already written.
    let mut offset = 0;
    while index < buffers.len() {
        let end = (index + MAX_IOVECS).min(buffers.len());
        let slices: Vec<IoSlice<'_>> = std::iter::once(IoSlice::new(&buffers[index][offset..]))
            .chain(buffers[index + 1..end].iter().map(|buffer| IoSlice::new(buffer)))
            .collect();
        let mut done = match file.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(done) => done,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        while index < buffers.len() && done >= buffers[index].len() - offset {
            done -= buffers[index].len() - offset;
            index += 1;
            offset = 0;
        }
        offset += done;
    }
    Ok(total as u64)
}

/// Starts (does not wait for) write-back of a written range, so that the final fsync has
/// little left to do. Advisory: errors surface at the fsync.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, length: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a file descriptor this function borrows; no memory is passed.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            length as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _length: u64) {}

/// A read-only mapping of part of a file, unmapped on drop (which gives its permit back).
struct Mapping {
    address: *mut libc::c_void,
    length: usize,
    _permit: Option<OwnedSemaphorePermit>,
}

// SAFETY: the mapping is private to this value, read-only and never changed through it.
unsafe impl Send for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `address..address + length` is a live readable mapping until `drop`.
        unsafe { std::slice::from_raw_parts(self.address as *const u8, self.length) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region `map_window` mapped, once.
        unsafe {
            libc::munmap(self.address, self.length);
        }
    }
}

/// Maps bytes `from..to` (not empty) of the file, with its pages read in and mapped now
/// (this blocks), so that sending them later does not fault. The mapping holds `permit`.
fn map_window(
    file: &std::fs::File,
    from: u64,
    to: u64,
    permit: Option<OwnedSemaphorePermit>,
) -> std::io::Result<Bytes> {
    use std::os::fd::AsRawFd;
    // SAFETY: `sysconf` has no memory effects.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let aligned = from - from % page;
    let length = usize::try_from(to - aligned).map_err(std::io::Error::other)?;
    #[cfg(target_os = "linux")]
    let flags = libc::MAP_SHARED | libc::MAP_POPULATE;
    #[cfg(not(target_os = "linux"))]
    let flags = libc::MAP_SHARED;
    // SAFETY: a new read-only mapping of a file this function borrows; the kernel picks the
    // address, and `Mapping` owns the result.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            length,
            libc::PROT_READ,
            flags,
            file.as_raw_fd(),
            aligned as libc::off_t,
        )
    };
    if address == libc::MAP_FAILED {
        // A file system that cannot map files (some FUSE and network ones): read the window.
        tracing::debug!(error = %std::io::Error::last_os_error(), "mmap failed; reading instead");
        return read_window(file, from, to);
    }
    let mapping = Mapping {
        address,
        length,
        _permit: permit,
    };
    Ok(Bytes::from_owner(mapping).slice((from - aligned) as usize..))
}

/// Reads bytes `from..to` of the file into a new buffer.
fn read_window(file: &std::fs::File, from: u64, to: u64) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let length = usize::try_from(to - from).map_err(std::io::Error::other)?;
    let mut buffer = vec![0u8; length];
    file.read_exact_at(&mut buffer, from)?;
    Ok(Bytes::from(buffer))
}

/// Tells the kernel the file will be read from start to end (a larger read-ahead).
#[cfg(target_os = "linux")]
fn advise_sequential(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: advisory system call on a borrowed descriptor.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_sequential(_file: &std::fs::File) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_and_read_windows_hold_the_same_bytes() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("file");
        let data: Vec<u8> = (0..3 * 4096 + 100).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        for (from, to) in [(0, data.len()), (1, 4097), (4096, 8192), (5000, data.len())] {
            let (start, end) = (from as u64, to as u64);
            assert_eq!(map_window(&file, start, end, None).unwrap().as_ref(), &data[from..to]);
            assert_eq!(read_window(&file, start, end).unwrap().as_ref(), &data[from..to]);
        }
    }

    #[tokio::test]
    async fn reads_beyond_the_mapped_windows_read_pieces_of_the_same_bytes() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::new(directory.path().to_path_buf(), false).unwrap();
        let location = ObjectPath::from("blobs/b");
        let data: Vec<u8> = (0..9 * 1024 * 1024 + 77).map(|i| (i % 251) as u8).collect();
        store.put(&location, PutPayload::from(data.clone())).await.unwrap();
        let read = || async {
            let stream = store.get(&location).await.unwrap().into_stream();
            let buffers: Vec<Bytes> = futures::TryStreamExt::try_collect(stream).await.unwrap();
            (buffers.len(), buffers.concat())
        };
        // Other downloads hold every mapped window: this one reads pieces, without waiting.
        let held = store
            .mapped
            .clone()
            .try_acquire_many_owned(MAPPED_WINDOWS as u32)
            .unwrap();
        let (buffers, bytes) = read().await;
        assert_eq!(bytes, data);
        assert_eq!(buffers, data.len().div_ceil(READ_PIECE as usize));
        drop(held);
        // With windows free it maps 4 + 4 + 1 MiB, and gives every window back.
        let (buffers, bytes) = read().await;
        assert_eq!(bytes, data);
        assert_eq!(buffers, 3);
        assert_eq!(store.mapped.available_permits(), MAPPED_WINDOWS);
    }

    #[tokio::test]
    async fn parts_polled_out_of_order_land_at_their_offsets() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::new(directory.path().to_path_buf(), true).unwrap();
        let location = ObjectPath::from("uploads/s/p");
        let pieces: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1000 + usize::from(i) * 333]).collect();
        let mut upload = store.put_multipart(&location).await.unwrap();
        let parts: Vec<UploadPart> = pieces
            .iter()
            .map(|piece| upload.put_part(PutPayload::from(piece.clone())))
            .collect();
        // The last part first, as a caller polling them concurrently may.
        for part in parts.into_iter().rev() {
            part.await.unwrap();
        }
        upload.complete().await.unwrap();
        let read = store.get(&location).await.unwrap().bytes().await.unwrap();
        assert_eq!(read.as_ref(), pieces.concat().as_slice());
        let listed: Vec<ObjectMeta> = futures::TryStreamExt::try_collect(store.list(None)).await.unwrap();
        assert_eq!(listed.len(), 1, "no staging file is left or listed");
    }

    #[test]
    fn vectored_writes_keep_every_byte_in_order() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("file");
        let mut file = std::fs::File::create(&path).unwrap();
        let buffers: Vec<Bytes> = (0..700u32)
            .map(|i| Bytes::from(vec![(i % 251) as u8; (i as usize * 37) % 5000]))
            .collect();
        let written = write_all_vectored(&mut file, &buffers).unwrap();
        drop(file);
        let expected = buffers.concat();
        assert_eq!(written, expected.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
