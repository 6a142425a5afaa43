//! Writing an archive: tar headers and file bytes written by the exporting task straight to
//! the output file (blobs streamed from the blob store, never whole in memory), each file's
//! SHA-256 and size recorded for the contents manifest.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::Digest as _;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::layout::ContentsFile;
use super::ArchiveError;
use crate::client::progress::Progress;

const BLOCK: u64 = 512;

/// A tar file being written.
pub(super) struct TarWriter {
    out: BufWriter<tokio::fs::File>,
    mtime: u64,
    /// Every file written, in order.
    pub files: Vec<ContentsFile>,
    /// Bytes written so far.
    pub written: u64,
}

impl TarWriter {
    pub fn new(file: tokio::fs::File, mtime: u64) -> TarWriter {
        TarWriter {
            out: BufWriter::with_capacity(1024 * 1024, file),
            mtime,
            files: Vec::new(),
            written: 0,
        }
    }

    async fn header(&mut self, path: &str, size: u64, kind: tar::EntryType) -> Result<(), ArchiveError> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(path)
            .map_err(|error| ArchiveError::Invalid(format!("cannot write entry {path:?}: {error}")))?;
        header.set_size(size);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_mtime(self.mtime);
        header.set_entry_type(kind);
        header.set_cksum();
        self.put(header.as_bytes()).await
    }

    async fn put(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.out
            .write_all(bytes)
            .await
            .map_err(ArchiveError::io("writing the archive"))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    async fn pad(&mut self, size: u64) -> Result<(), ArchiveError> {
        let padding = (BLOCK - size % BLOCK) % BLOCK;
        self.put(&vec![0u8; padding as usize]).await
    }

    /// A directory entry.
    pub async fn directory(&mut self, path: &str) -> Result<(), ArchiveError> {
        self.header(&format!("{path}/"), 0, tar::EntryType::Directory).await
    }

    /// A small file given whole.
    pub async fn file(&mut self, path: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.header(path, bytes.len() as u64, tar::EntryType::Regular).await?;
        self.put(bytes).await?;
        self.pad(bytes.len() as u64).await?;
        self.files.push(ContentsFile {
            path: path.to_string(),
            size: bytes.len() as u64,
            sha256: hex_of(&sha2::Sha256::digest(bytes)),
        });
        Ok(())
    }

    /// A file of `size` bytes read from `stream`; fails when the stream gives another
    /// length. Returns the SHA-256 (hex) of what was written.
    pub async fn file_stream<S, E>(
        &mut self,
        path: &str,
        size: u64,
        mut stream: S,
        progress: &mut dyn Progress,
    ) -> Result<String, ArchiveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.header(path, size, tar::EntryType::Regular).await?;
        let mut hasher = sha2::Sha256::new();
        let mut copied = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| ArchiveError::Io(format!("reading {path}: {error}")))?;
            copied += chunk.len() as u64;
            if copied > size {
                break;
            }
            hasher.update(&chunk);
            self.put(&chunk).await?;
            progress.advance(chunk.len() as u64);
        }
        if copied != size {
            return Err(ArchiveError::Io(format!(
                "{path}: the source gave {copied} bytes where {size} were recorded"
            )));
        }
        self.pad(size).await?;
        let sha256 = hex_of(&hasher.finalize());
        self.files.push(ContentsFile {
            path: path.to_string(),
            size,
            sha256: sha256.clone(),
        });
        Ok(sha256)
    }

    /// The end-of-archive marker; flushes and syncs the file.
    pub async fn finish(mut self) -> Result<u64, ArchiveError> {
        self.put(&[0u8; 2 * BLOCK as usize]).await?;
        self.out
            .flush()
            .await
            .map_err(ArchiveError::io("writing the archive"))?;
        self.out
            .get_mut()
            .sync_all()
            .await
            .map_err(ArchiveError::io("syncing the archive"))?;
        Ok(self.written)
    }
}

pub(super) fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
