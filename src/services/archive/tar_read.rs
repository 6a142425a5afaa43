//! Reading an archive: the `tar` crate on a thread of its own, which checks every entry
//! (path, type, duplicates, length), hashes its bytes and hands them on in bounded chunks
//! through a channel, so the importing task never holds a whole file. After the last entry
//! it requires tar's end-of-archive marker: an archive cut short at an entry boundary is as
//! truncated as one cut inside an entry.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;
use sha2::Digest as _;
use tokio::sync::mpsc;

use super::layout::normalize_entry_path;
use crate::oci::Digest;

/// Bytes handed on at once.
const CHUNK: usize = 256 * 1024;
/// Chunks queued between the reading thread and the importing task.
const QUEUE: usize = 8;

/// What the reading thread reports, in archive order.
#[derive(Debug)]
pub(super) enum TarEvent {
    /// A regular file starts (its path checked and normalised).
    File { path: String, size: u64 },
    /// The next bytes of that file.
    Data(Bytes),
    /// The file ended; its SHA-256.
    End { sha256: Digest },
    /// The archive ended properly.
    Finished,
}

/// Reads the archive at `path` on a thread; the receiver yields its events or the one error
/// that stopped it (naming the entry). Dropping the receiver stops the thread.
pub(super) fn read_archive(path: PathBuf) -> mpsc::Receiver<Result<TarEvent, String>> {
    let (sender, receiver) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("archive-reader".into())
        .spawn(move || {
            let result = read_entries(&path, &sender);
            if let Err(message) = result {
                let _ = sender.blocking_send(Err(message));
            }
        })
        .map_err(|error| tracing::error!(%error, "cannot start the archive reader"))
        .ok();
    receiver
}

/// The receiving side went away (the import failed elsewhere): stop quietly.
struct Stopped;

fn send(sender: &mpsc::Sender<Result<TarEvent, String>>, event: TarEvent) -> Result<(), Stopped> {
    sender.blocking_send(Ok(event)).map_err(|_| Stopped)
}

fn read_entries(path: &std::path::Path, sender: &mpsc::Sender<Result<TarEvent, String>>) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(CHUNK, file));
    let mut seen: HashSet<String> = HashSet::new();
    let mut last = String::from("the start");
    // Where the data of the last entry ends, rounded up to the next block.
    let mut end = 0u64;
    let entries = archive
        .entries()
        .map_err(|error| format!("{}: not a tar archive: {error}", path.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|error| format!("the archive is truncated or damaged after {last}: {error}"))?;
        let path = normalize_entry_path(&entry.path_bytes())?;
        let size = entry
            .header()
            .entry_size()
            .map_err(|error| format!("entry {path:?}: {error}"))?;
        end = entry.raw_file_position() + size.div_ceil(512) * 512;
        last = format!("entry {path:?}");
        let kind = entry.header().entry_type();
        let what = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => None,
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => continue,
            tar::EntryType::Symlink => Some("a symbolic link"),
            tar::EntryType::Link => Some("a hard link"),
            tar::EntryType::Char | tar::EntryType::Block => Some("a device"),
            tar::EntryType::Fifo => Some("a FIFO"),
            _ => Some("not a regular file"),
        };
        if let Some(what) = what {
            return Err(format!(
                "entry {path:?} is {what}: an archive holds only regular files and directories"
            ));
        }
        if !seen.insert(path.clone()) {
            return Err(format!("entry {path:?} appears twice in the archive"));
        }
        if send(
            sender,
            TarEvent::File {
                path: path.clone(),
                size,
            },
        )
        .is_err()
        {
            return Ok(());
        }
        let mut hasher = sha2::Sha256::new();
        let mut read = 0u64;
        loop {
            let mut buffer = vec![0u8; CHUNK];
            let n = entry
                .read(&mut buffer)
                .map_err(|error| format!("entry {path:?}: reading failed after {read} bytes: {error}"))?;
            if n == 0 {
                break;
            }
            buffer.truncate(n);
            hasher.update(&buffer);
            read += n as u64;
            if send(sender, TarEvent::Data(Bytes::from(buffer))).is_err() {
                return Ok(());
            }
        }
        if read != size {
            return Err(format!(
                "the archive is truncated: entry {path:?} has {read} of its {size} bytes"
            ));
        }
        let hex = hex_of(&hasher.finalize());
        let sha256 = Digest::new(crate::oci::DigestAlgorithm::Sha256, hex).expect("64 hex digits");
        if send(sender, TarEvent::End { sha256 }).is_err() {
            return Ok(());
        }
    }
    // tar ends with two zero blocks; `entries` also stops, without an error, at the end of
    // the file, so a file cut at an entry boundary is caught here.
    let mut file = std::fs::File::open(path).map_err(|error| format!("{}: {error}", path.display()))?;
    file.seek(SeekFrom::Start(end))
        .map_err(|error| format!("{}: {error}", path.display()))?;
    let mut marker = Vec::with_capacity(1024);
    file.take(1024)
        .read_to_end(&mut marker)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    if marker.len() < 1024 || marker.iter().any(|byte| *byte != 0) {
        return Err(format!(
            "the archive is truncated: no end-of-archive marker after {last}"
        ));
    }
    let _ = send(sender, TarEvent::Finished);
    Ok(())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
