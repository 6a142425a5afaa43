//! Downloading a worker package and unpacking it in the same pass: the response body goes
//! once through SHA-256, the resumable `.partial` file and gunzip + untar into a staging
//! directory, instead of three passes over the file (write, hash, unpack). The staging
//! directory is the caller's to move into place, and only after [`Fetched::digest`] matches:
//! until then the unpacked bytes are unverified and stay hidden under `.rbee/`.
//!
//! Two threads share the work: the async task receives the body and reports progress; a
//! blocking thread ([`Tee`]) hashes, appends to the `.partial` and feeds the unpacker. A
//! bounded channel between them keeps memory bounded. A resumed attempt first replays the
//! bytes already in the `.partial` (hashing and unpacking them, not writing them again).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;
use tokio::sync::mpsc;

use super::progress::Progress;
use super::unpack::{unpack_stream, UnpackError, UnpackReport};
use super::RegistryClient;
use crate::oci::{Digest, ResumableSha256};

/// How many times a download is attempted (each attempt resumes where the last stopped).
pub const DOWNLOAD_ATTEMPTS: usize = 4;

/// Body chunks in flight between the receiving task and the unpacking thread.
const CHANNEL_CHUNKS: usize = 32;

/// A package, downloaded and unpacked (not yet verified).
#[derive(Debug)]
pub struct Fetched {
    /// What the downloaded bytes hash to; the caller compares it with the expected digest.
    pub digest: Digest,
    /// The unpack's outcome. On a digest mismatch it means nothing (the bytes were wrong).
    pub unpacked: Result<UnpackReport, UnpackError>,
    /// Attempts made (0 when the `.partial` already held every byte).
    pub attempts: usize,
    /// Bytes that were already on disk when the last attempt started.
    pub resumed_from: u64,
}

/// What the last attempt failed with, after [`DOWNLOAD_ATTEMPTS`].
#[derive(Debug)]
pub struct DownloadFailed(pub String);

/// Where one download goes.
pub struct Target<'a> {
    pub repository: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
    /// The resumable download file.
    pub partial: &'a Path,
    /// An empty directory to unpack into (emptied again before each attempt).
    pub staging: &'a Path,
    pub label: &'a str,
}

/// Downloads `target.digest` into `target.partial`, resuming from what is there, and unpacks
/// it into `target.staging` on the way.
pub async fn download_and_unpack(
    client: &RegistryClient,
    target: &Target<'_>,
    progress: &mut dyn Progress,
) -> Result<Fetched, DownloadFailed> {
    let mut last_error = String::new();
    for attempt in 1..=DOWNLOAD_ATTEMPTS {
        let mut offset = tokio::fs::metadata(target.partial).await.map(|m| m.len()).unwrap_or(0);
        if offset > target.size {
            let _ = tokio::fs::remove_file(target.partial).await;
            offset = 0;
        }
        if offset > 0 {
            progress.note(&format!(
                "resuming {} at byte {offset} of {}",
                target.label, target.size
            ));
        }
        match attempt_once(client, target, offset, progress).await {
            Ok((digest, unpacked)) => {
                progress.finish();
                let attempts = if offset == target.size && target.size > 0 {
                    attempt - 1
                } else {
                    attempt
                };
                return Ok(Fetched {
                    digest,
                    unpacked,
                    attempts,
                    resumed_from: offset,
                });
            }
            Err(error) => {
                progress.note(&format!("download interrupted: {error}"));
                last_error = error;
            }
        }
    }
    Err(DownloadFailed(last_error))
}

/// One attempt: the request (none when the `.partial` is complete), then the body through
/// the [`Tee`] into the unpacker. Returns the digest of the whole file and the unpack's outcome.
async fn attempt_once(
    client: &RegistryClient,
    target: &Target<'_>,
    offset: u64,
    progress: &mut dyn Progress,
) -> Result<(Digest, Result<UnpackReport, UnpackError>), String> {
    let complete = offset == target.size && target.size > 0;
    let response = match complete {
        true => None,
        false => Some(
            client
                .get_blob(target.repository, target.digest, offset)
                .await
                .map_err(|e| e.to_string())?,
        ),
    };
    let replay = match response.as_ref().map(|r| r.status()) {
        None => offset,
        Some(StatusCode::PARTIAL_CONTENT) if offset > 0 => offset,
        // The registry sent the whole blob: start over.
        Some(StatusCode::OK) => 0,
        Some(StatusCode::RANGE_NOT_SATISFIABLE) => {
            let _ = tokio::fs::remove_file(target.partial).await;
            return Err("the registry refused the resume range; starting over".into());
        }
        Some(status) => return Err(format!("the registry answered {status}")),
    };
    progress.start(target.label, target.size, replay);

    let _ = tokio::fs::remove_dir_all(target.staging).await;
    tokio::fs::create_dir_all(target.staging)
        .await
        .map_err(|e| e.to_string())?;
    let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let (partial, staging) = (target.partial.to_path_buf(), target.staging.to_path_buf());
    let unpacking = tokio::task::spawn_blocking(move || Tee::open(&partial, replay, receiver)?.unpack_into(&staging));

    if let Some(response) = response {
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let piece = chunk.map_err(|error| format!("connection lost: {error}"));
            let failed = piece.is_err();
            if let Ok(chunk) = &piece {
                progress.advance(chunk.len() as u64);
            }
            // A closed channel means the thread stopped on a write error, reported below.
            if sender.send(piece).await.is_err() || failed {
                break;
            }
        }
    }
    drop(sender);
    let (digest, written, unpacked) = unpacking.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    if written != target.size {
        return Err(format!("received {written} of {} bytes", target.size));
    }
    Ok((digest, unpacked))
}

/// The blocking end of the pipeline: a reader over the `.partial`'s first `replay` bytes,
/// then over the received chunks, each appended to the `.partial`; everything read is hashed.
struct Tee {
    file: File,
    replay: u64,
    receiver: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
    hasher: ResumableSha256,
    appended: bool,
    path: PathBuf,
}

impl Tee {
    fn open(path: &Path, replay: u64, receiver: mpsc::Receiver<Result<Bytes, String>>) -> io::Result<Tee> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        file.set_len(replay)?;
        Ok(Tee {
            file,
            replay,
            receiver,
            current: Bytes::new(),
            hasher: ResumableSha256::new(),
            appended: false,
            path: path.to_path_buf(),
        })
    }

    /// Unpacks everything read into `staging`, then reads on to the end (an unpack that
    /// stopped early, refused or finished, still has the rest downloaded and hashed).
    /// Returns the digest, the bytes in the `.partial` and the unpack's outcome; an error
    /// when the download itself failed (what arrived stays in the `.partial`).
    fn unpack_into(mut self, staging: &Path) -> io::Result<(Digest, u64, Result<UnpackReport, UnpackError>)> {
        let unpacked = unpack_stream(&mut self, staging);
        let drained = io::copy(&mut self, &mut io::sink());
        if drained.is_err() {
            // Keep what arrived for the next attempt's resume.
            let _ = self.file.sync_data();
        }
        drained?;
        let written = self.file.stream_position()?;
        Ok((self.hasher.finish(), written, unpacked))
    }
}

impl Read for Tee {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.replay > 0 {
            let wanted = buffer.len().min(usize::try_from(self.replay).unwrap_or(usize::MAX));
            let read = self.file.read(&mut buffer[..wanted])?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than it was", self.path.display()),
                ));
            }
            self.replay -= read as u64;
            self.hasher.update(&buffer[..read]);
            return Ok(read);
        }
        if self.current.is_empty() {
            match self.receiver.blocking_recv() {
                None => return Ok(0),
                Some(Err(error)) => return Err(io::Error::other(error)),
                Some(Ok(chunk)) => {
                    if !self.appended {
                        // After the replayed bytes: append from here.
                        self.file.seek(SeekFrom::End(0))?;
                        self.appended = true;
                    }
                    self.file.write_all(&chunk)?;
                    self.hasher.update(&chunk);
                    self.current = chunk;
                }
            }
        }
        let take = buffer.len().min(self.current.len());
        buffer[..take].copy_from_slice(&self.current.split_to(take));
        Ok(take)
    }
}
