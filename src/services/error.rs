//! Errors of the registry services, one variant per way a request can fail.
//! `routes::error` maps each to an HTTP status and an OCI error code, in one place.

use crate::db::DbError;
use crate::oci::{Digest, ParseError};
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid input: {0}")]
    Invalid(#[from] ParseError),
    #[error("blob {0} is unknown to this repository")]
    BlobUnknown(Digest),
    #[error("upload session is unknown")]
    UploadUnknown,
    #[error("upload is invalid: {0}")]
    UploadInvalid(String),
    /// A chunk did not start where the upload ends; `size` is what the session holds.
    #[error("chunk starts at byte {start}, but the upload holds {size} bytes")]
    ChunkOutOfOrder { start: u64, size: u64 },
    #[error("digest mismatch: the content's digest is {computed}, not {declared}")]
    DigestMismatch { declared: Digest, computed: Digest },
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    #[error("manifest references {0}, which this repository does not have")]
    ManifestBlobUnknown(Digest),
    #[error("manifest is larger than the {limit}-byte limit")]
    ManifestTooLarge { limit: usize },
    #[error("blob is larger than the {limit}-byte limit")]
    BlobTooLarge { limit: u64 },
    #[error("not a valid worker version: {0}")]
    WorkerVersionInvalid(String),
    #[error("repository {0} is unknown")]
    NameUnknown(String),
    /// The registry's own stored data is damaged (a server fault, never the client's).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// The registry cannot serve the request now but may soon (it is shutting down, its
    /// database is busy): not the client's fault, worth a retry.
    #[error("the registry is unavailable: {0}")]
    Unavailable(String),
    /// The pull-through cache's upstream failed or served content that does not match its
    /// digest; nothing of it was stored.
    #[error("upstream registry: {0}")]
    Upstream(String),
    #[error(transparent)]
    Database(DbError),
    /// The blob store is out of space or over its quota.
    #[error("blob storage is full: {0}")]
    StorageFull(String),
    /// An object the registry's records name is missing from the blob store.
    #[error("{0}")]
    StoredObjectMissing(String),
    /// Any other failure of the blob store (a server fault).
    #[error(transparent)]
    Storage(Box<dyn std::error::Error + Send + Sync>),
}

/// A busy database is a temporary condition the client may retry; any other database
/// failure is a server fault.
impl From<DbError> for RegistryError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Busy(why) => RegistryError::Unavailable(format!("the database is busy: {why}")),
            DbError::Damaged(why) => RegistryError::Corrupt(why),
            other => RegistryError::Database(other),
        }
    }
}

/// Services decide here what a storage failure means to a caller; nothing above services
/// sees a `StorageError`.
impl From<StorageError> for RegistryError {
    fn from(error: StorageError) -> Self {
        if error.is_out_of_space() {
            return RegistryError::StorageFull(error.to_string());
        }
        match error {
            StorageError::NotFound(_) => RegistryError::StoredObjectMissing(error.to_string()),
            other => RegistryError::Storage(Box::new(other)),
        }
    }
}
