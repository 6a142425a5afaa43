//! Streaming writes to the local filesystem on one dedicated blocking thread.
//!
//! A large object arrives as many small buffers (a request body comes in frames of at most
//! the server's read buffer). Handing each to the blocking pool would cost a thread hand-off
//! per frame, and object_store's multipart writer copies them into 5 MiB parts first. Here the
//! async side groups buffers (by reference, no copy) into batches of about [`BATCH_BYTES`] and
//! passes them through a bounded channel to one thread that owns the file and writes each batch
//! with vectored writes. Receiving and writing overlap, and memory stays bounded: at most
//! [`QUEUED_BATCHES`] batches wait in the channel, one is being written, one is being filled.
//!
//! The thread writes a staging file next to the target (`<name>#<id>`, the pattern
//! object_store's local backend uses, so listings skip it). When `fsync` is on it asks the
//! kernel to start writing back every [`WRITEBACK_STEP`] bytes as they arrive
//! (`sync_file_range`, Linux), so the final `fsync` waits for the tail only instead of the
//! whole object. On finish: fsync the file, rename it onto the target, fsync the directory.
//! Anything else (an abandoned or failed write, a dropped writer) removes the staging file, and
//! a crash leaves only the staging file, which is never served and is removed with its upload
//! directory.
//!
//! Reads map the file in windows of [`READ_WINDOW`] bytes (`mmap` with `MAP_POPULATE`, on a
//! blocking thread, one window ahead of the one being sent) and hand each window to the HTTP
//! layer as one buffer, which it writes to the socket from there: no copy into a user-space
//! buffer and one thread hand-off per window instead of per 256 KiB read. A window is unmapped
//! when its last reference is dropped, so memory stays bounded by about two windows per
//! download. Mapping is safe here because files under the storage root are never truncated or
//! rewritten in place (they are written to a staging file and renamed; deleting a mapped file
//! keeps its pages until they are unmapped); truncating one from outside while it is being
//! served would fault the server.

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ByteStream, StorageError};

/// Bytes gathered on the async side before they are handed to the writer thread.
pub(super) const BATCH_BYTES: usize = 1024 * 1024;
/// Batches that may wait for the writer thread; the sender waits beyond that.
const QUEUED_BATCHES: usize = 4;
/// With `fsync`, write-back of the file is started after every this many bytes.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;
/// Buffers passed to one `writev` (Linux's `IOV_MAX` is 1024).
const MAX_IOVECS: usize = 256;

enum Message {
    Data(Vec<Bytes>),
    /// Everything was sent: make the file durable and visible.
    Finish,
}

/// Streams one file to `target` through a writer thread; see the module documentation.
pub(super) struct FileWriter {
    sender: mpsc::Sender<Message>,
    /// The writer thread; `None` once its result was taken.
    worker: Option<JoinHandle<std::io::Result<()>>>,
    batch: Vec<Bytes>,
    batch_bytes: usize,
}

impl FileWriter {
    /// Starts the writer thread. The staging file is created by the thread.
    pub(super) fn start(target: PathBuf, fsync: bool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUED_BATCHES);
        let worker = tokio::task::spawn_blocking(move || write_file(&target, fsync, receiver));
        FileWriter {
            sender,
            worker: Some(worker),
            batch: Vec::new(),
            batch_bytes: 0,
        }
    }

    pub(super) async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        if data.is_empty() {
            return Ok(());
        }
        self.batch_bytes += data.len();
        self.batch.push(data);
        if self.batch_bytes >= BATCH_BYTES {
            self.send_batch().await?;
        }
        Ok(())
    }

    async fn send_batch(&mut self) -> Result<(), StorageError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        if self.sender.send(Message::Data(batch)).await.is_err() {
            // The thread stopped: it failed, and its error says why.
            return Err(self.stopped_error().await);
        }
        Ok(())
    }

    /// The error the writer thread stopped with.
    async fn stopped_error(&mut self) -> StorageError {
        let Some(worker) = self.worker.take() else {
            return StorageError::Io(std::io::Error::other("the file writer stopped"));
        };
        match worker.await {
            Ok(Err(error)) => StorageError::Io(error),
            Ok(Ok(())) => StorageError::Io(std::io::Error::other("the file writer stopped early")),
            Err(join) => StorageError::Io(std::io::Error::other(join)),
        }
    }

    /// Writes what is left, makes the file durable and moves it onto the target.
    pub(super) async fn finish(mut self) -> Result<(), StorageError> {
        self.send_batch().await?;
        if self.sender.send(Message::Finish).await.is_err() {
            return Err(self.stopped_error().await);
        }
        match self.worker.take() {
            Some(worker) => worker.await.map_err(std::io::Error::other)??,
            None => return Err(self.stopped_error().await),
        }
        Ok(())
    }

    /// Abandons the file; returns once the staging file is gone.
    pub(super) async fn abort(self) {
        let FileWriter { sender, worker, .. } = self;
        drop(sender);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
    }
}

/// The writer thread: receives batches until `Finish` (or until the sender goes away, which
/// abandons the file).
fn write_file(target: &Path, fsync: bool, mut receiver: mpsc::Receiver<Message>) -> std::io::Result<()> {
    write_atomically(target, fsync, |file| {
        let mut position = 0u64;
        let mut written_back = 0u64;
        loop {
            match receiver.blocking_recv() {
                Some(Message::Data(batch)) => {
                    position += write_all_vectored(file, &batch)?;
                    drop(batch);
                    if fsync && position - written_back >= WRITEBACK_STEP {
                        start_writeback(file, written_back, position - written_back);
                        written_back = position;
                    }
                }
                Some(Message::Finish) => return Ok(()),
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

/// Writes `target` atomically (blocking): `fill` writes a fresh staging file next to it
/// (`<name>#<id>`), which is then fsynced (with `fsync`), renamed onto `target`, and its
/// directory fsynced. When anything fails the staging file is removed and nothing is left
/// at `target`.
pub(super) fn write_atomically(
    target: &Path,
    fsync: bool,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let directory = target.parent().expect("object paths have a parent");
    std::fs::create_dir_all(directory)?;
    let staging = staging_path(target);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)?;
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
pub(super) fn move_file(source: &Path, target: &Path, fsync: bool) -> std::io::Result<()> {
    let directory = target.parent().expect("object paths have a parent");
    std::fs::create_dir_all(directory)?;
    std::fs::rename(source, target)?;
    if fsync {
        std::fs::File::open(directory)?.sync_all()?;
    }
    Ok(())
}

/// Removes a directory and everything in it (blocking); a missing directory is fine.
pub(super) fn remove_directory(directory: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(directory) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
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

/// Bytes mapped and handed on at once when reading a file.
const READ_WINDOW: u64 = 4 * 1024 * 1024;
/// Windows being mapped or waiting ahead of the one being sent.
const WINDOWS_AHEAD: usize = 2;

/// Streams the half-open byte range `start..end` of the file at `path` (the whole file when
/// `range` is `None`; an `end` past the file is cut to its size). `shown` names the object in
/// a not-found error.
pub(super) async fn read(path: PathBuf, range: Option<(u64, u64)>, shown: String) -> Result<ByteStream, StorageError> {
    let opened = tokio::task::spawn_blocking(move || -> std::io::Result<(std::fs::File, u64)> {
        let file = std::fs::File::open(&path)?;
        let size = file.metadata()?.len();
        advise_sequential(&file);
        Ok((file, size))
    })
    .await
    .map_err(std::io::Error::other)?;
    let (file, size) = match opened {
        Ok(opened) => opened,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::NotFound(shown)),
        Err(error) => return Err(error.into()),
    };
    let (start, end) = match range {
        Some((start, end)) => (start, end.min(size)),
        None => (0, size),
    };
    if start > end {
        return Err(StorageError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("range starts at {start}, past the end of {shown} ({size} bytes)"),
        )));
    }
    let file = Arc::new(file);
    let windows = (start..end)
        .step_by(READ_WINDOW as usize)
        .map(move |from| (from, (from + READ_WINDOW).min(end)));
    let stream = futures::stream::iter(windows)
        .map(move |(from, to)| {
            let file = file.clone();
            async move {
                tokio::task::spawn_blocking(move || map_window(&file, from, to))
                    .await
                    .map_err(std::io::Error::other)?
                    .map_err(StorageError::Io)
            }
        })
        .buffered(WINDOWS_AHEAD);
    Ok(stream.boxed())
}

/// A read-only mapping of part of a file, unmapped on drop.
struct Mapping {
    address: *mut libc::c_void,
    length: usize,
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
/// (this blocks), so that sending them later does not fault.
fn map_window(file: &std::fs::File, from: u64, to: u64) -> std::io::Result<Bytes> {
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
    let mapping = Mapping { address, length };
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
            assert_eq!(map_window(&file, start, end).unwrap().as_ref(), &data[from..to]);
            assert_eq!(read_window(&file, start, end).unwrap().as_ref(), &data[from..to]);
        }
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
