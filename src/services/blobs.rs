//! Reading and deleting blobs of a repository.

use bytes::Bytes;
use futures::StreamExt;

use super::{Registry, RegistryError};
use crate::db::blobs::BlobObject;
use crate::db::{blobs, manifests, repositories};
use crate::oci::{resolve_range, ByteRange, Digest, RangeRequest, RepoName};
use crate::storage::{ByteStream, StorageError, StorageKey};

/// What a blob `GET` or `HEAD` serves.
pub struct BlobContent {
    pub digest: Digest,
    /// Size of the whole blob.
    pub size: u64,
    /// The part served, when the client asked for a range.
    pub range: Option<ByteRange>,
    pub body: ByteStream,
}

/// The answer to a blob request.
pub enum BlobRead {
    Content(BlobContent),
    /// The requested range lies outside the blob of this size.
    RangeNotSatisfiable {
        size: u64,
    },
    /// The blob store hands the bytes out itself: a presigned URL to redirect the client to.
    Redirect {
        digest: Digest,
        location: String,
    },
}

/// The key of a stored blob's bytes: its own key, or the upload part that became the blob.
pub(crate) fn blob_key(digest: &Digest, object: BlobObject) -> StorageKey {
    match object {
        BlobObject::Own => StorageKey::Blob(digest.clone()),
        BlobObject::Held { session_id, part_id } => StorageKey::UploadPart { session_id, part_id },
    }
}

impl Registry {
    /// The key of a recorded blob's bytes ([`blob_key`]); its own key when there is no row,
    /// and without a read where moves do not copy (no part is ever held there).
    pub(crate) async fn stored_blob_key(&self, digest: &Digest) -> Result<StorageKey, RegistryError> {
        if !self.store.moves_by_copy() {
            return Ok(StorageKey::Blob(digest.clone()));
        }
        let object = blobs::object_of(self.db.reader(), digest).await?;
        Ok(blob_key(digest, object.unwrap_or(BlobObject::Own)))
    }

    /// Size of a blob of the repository (`HEAD`), without opening it.
    pub async fn stat_blob(&self, name: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        if let Some(size) = blobs::linked_size(self.db.reader(), name, digest).await? {
            return Ok(size as u64);
        }
        // Manifests are content too; distribution serves them from the blob endpoint.
        match manifests::find_by_digest(self.db.reader(), name, digest).await? {
            Some(manifest) => Ok(manifest.content.len() as u64),
            None => Err(RegistryError::BlobUnknown(digest.clone())),
        }
    }

    /// Opens a blob of the repository, or the range `Range` asks for (`GET`).
    /// With `open_body` false only the headers' facts are computed (`HEAD`). When the blob
    /// store redirects downloads, a `GET` of a stored blob answers with a presigned URL
    /// instead (the client sends its `Range` there).
    pub async fn read_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
        range_header: Option<&str>,
        open_body: bool,
    ) -> Result<BlobRead, RegistryError> {
        let linked = blobs::linked_blob(self.db.reader(), name, digest).await?;
        let (size, key, manifest_content) = match linked {
            Some((size, object)) => (size as u64, blob_key(digest, object), None),
            None => match manifests::find_by_digest(self.db.reader(), name, digest).await? {
                Some(manifest) => (
                    manifest.content.len() as u64,
                    StorageKey::Blob(digest.clone()),
                    Some(Bytes::from(manifest.content)),
                ),
                None => return Err(RegistryError::BlobUnknown(digest.clone())),
            },
        };
        let range = match range_header.map(|header| resolve_range(header, size)) {
            None | Some(RangeRequest::Whole) => None,
            Some(RangeRequest::Partial(range)) => Some(range),
            Some(RangeRequest::Unsatisfiable) => return Ok(BlobRead::RangeNotSatisfiable { size }),
        };
        if open_body && manifest_content.is_none() {
            if let Some((url, _)) = self.store.presigned_download(&key).await? {
                return Ok(BlobRead::Redirect {
                    digest: digest.clone(),
                    location: url.to_string(),
                });
            }
        }
        let body: ByteStream = if !open_body {
            futures::stream::empty().boxed()
        } else if let Some(content) = manifest_content {
            let content = match range {
                Some(range) => content.slice(range.start as usize..=range.end as usize),
                None => content,
            };
            futures::stream::once(async move { Ok(content) }).boxed()
        } else {
            match self.store.read(&key, range).await {
                Ok(stream) => stream,
                Err(StorageError::NotFound(_)) => {
                    tracing::error!(%digest, "blob recorded in the database is missing from storage");
                    return Err(RegistryError::BlobUnknown(digest.clone()));
                }
                Err(error) => return Err(error.into()),
            }
        };
        Ok(BlobRead::Content(BlobContent {
            digest: digest.clone(),
            size,
            range,
            body,
        }))
    }

    /// Removes a blob from a repository. The bytes stay until garbage collection finds no
    /// repository and no manifest using them.
    pub async fn delete_blob(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let Some(repository_id) = repositories::find(self.db.reader(), name).await? else {
            return Err(RegistryError::BlobUnknown(digest.clone()));
        };
        if !blobs::unlink(self.db.writer(), repository_id, digest).await? {
            return Err(RegistryError::BlobUnknown(digest.clone()));
        }
        Ok(())
    }
}
