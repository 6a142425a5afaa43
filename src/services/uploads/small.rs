//! Small bodies: a blob pushed whole in one request (`POST ?digest=`, or the `PUT ?digest=`
//! of a session that has received nothing) and small enough to hold is read into memory,
//! checked against its digest, and written once, straight to the blob's key (on the local
//! filesystem: one blocking call that writes a staging file, fsyncs it, renames it into place
//! and fsyncs the directory). No upload part, no move, no upload directory to remove; the
//! database sees the blob's claim, the link and (for a session) the session's removal.
//! Larger bodies stream through the general path, frames already read first.

use bytes::Bytes;
use futures::StreamExt;

use super::{BlobInfo, StreamHasher};
use crate::db::{blobs, now_millis, uploads};
use crate::oci::{Digest, DigestAlgorithm, RepoName, ResumableSha256};
use crate::services::{BodyStream, Registry, RegistryError};
use crate::storage::StorageKey;

/// Bodies up to this many bytes are held whole (the size of one part of a streamed write).
pub(super) const SMALL_BODY_BYTES: u64 = 1024 * 1024;

/// A request body, read whole when it is small.
pub(super) enum ReadBody {
    /// Every frame of a body of at most [`SMALL_BODY_BYTES`] (and at most the largest blob).
    Whole(Vec<Bytes>),
    /// A larger body: the frames already read, then the rest of the stream.
    Streaming(BodyStream),
}

/// Reads `body` whole if it ends within `min(SMALL_BODY_BYTES, max_blob_bytes)`; otherwise
/// gives the body back as a stream (the general path enforces the size limit).
pub(super) async fn read_small(mut body: BodyStream, max_blob_bytes: u64) -> Result<ReadBody, RegistryError> {
    let limit = SMALL_BODY_BYTES.min(max_blob_bytes);
    let mut frames = Vec::new();
    let mut size = 0u64;
    while let Some(frame) = body.next().await {
        let data = frame.map_err(|error| RegistryError::UploadInvalid(format!("request body ended early: {error}")))?;
        size += data.len() as u64;
        let over = size > limit;
        frames.push(data);
        if over {
            let read = futures::stream::iter(frames.into_iter().map(Ok));
            return Ok(ReadBody::Streaming(read.chain(body).boxed()));
        }
    }
    Ok(ReadBody::Whole(frames))
}

/// The digest of `frames` with `algorithm`.
fn digest_of(algorithm: DigestAlgorithm, frames: &[Bytes]) -> Digest {
    let mut hasher = match algorithm {
        DigestAlgorithm::Sha256 => StreamHasher::Sha256(ResumableSha256::new()),
        DigestAlgorithm::Sha512 => StreamHasher::Sha512(Box::default()),
    };
    frames.iter().for_each(|frame| hasher.update(frame));
    hasher.finish()
}

impl Registry {
    /// Checks a whole small body against `digest`, claims the blob (`blobs::insert`, which
    /// keeps `gc` off it) and writes it at the blob's key unless it is stored already.
    /// Returns its size. Links nothing.
    async fn store_small(&self, digest: &Digest, frames: Vec<Bytes>) -> Result<u64, RegistryError> {
        let computed = digest_of(digest.algorithm(), &frames);
        if &computed != digest {
            return Err(RegistryError::DigestMismatch {
                declared: digest.clone(),
                computed,
            });
        }
        let size: u64 = frames.iter().map(|frame| frame.len() as u64).sum();
        blobs::insert(self.db.writer(), digest, size as i64, now_millis()).await?;
        self.store
            .put_if_absent(&StorageKey::Blob(digest.clone()), frames)
            .await?;
        Ok(size)
    }

    /// A whole small blob from `POST ?digest=`: stored, then linked to `name`.
    pub(super) async fn upload_small_monolithic(
        &self,
        name: &RepoName,
        digest: &Digest,
        frames: Vec<Bytes>,
    ) -> Result<BlobInfo, RegistryError> {
        let size = self.store_small(digest, frames).await?;
        self.link_blob(name, digest).await?;
        Ok(BlobInfo {
            digest: digest.clone(),
            size,
        })
    }

    /// Finishes a session that had received nothing with the whole small blob in its `PUT`.
    /// The blob is stored first; then removing the session, if it is still open and empty,
    /// is this finish's claim (a chunk, cancel or other finish that came first wins, and the
    /// stored blob stays unlinked for `gc`); then the blob is linked. A digest mismatch or a
    /// failed write leaves the session as it was.
    pub(super) async fn finish_small(
        &self,
        name: &RepoName,
        session: &uploads::UploadRow,
        digest: &Digest,
        frames: Vec<Bytes>,
    ) -> Result<BlobInfo, RegistryError> {
        let size = self.store_small(digest, frames).await?;
        if !uploads::delete_open_with_size(self.db.writer(), &session.id, session.size).await? {
            return Err(self.lost_race(session).await.unwrap_or(RegistryError::UploadUnknown));
        }
        self.link_blob(name, digest).await?;
        Ok(BlobInfo {
            digest: digest.clone(),
            size,
        })
    }
}
