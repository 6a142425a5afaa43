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
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Storage(StorageError),
}

impl From<sqlx::Error> for RegistryError {
    fn from(error: sqlx::Error) -> Self {
        RegistryError::Database(DbError::Query(error))
    }
}

impl From<StorageError> for RegistryError {
    fn from(error: StorageError) -> Self {
        RegistryError::Storage(error)
    }
}
