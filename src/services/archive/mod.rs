//! Archives for air-gapped replicas (spec/replication.md, "Archives"): `export` writes an
//! OCI image layout tar of the registry's repositories plus our own directory `rbee/` (the
//! Git catalog, the license verification keys, the revocation list and a manifest of the
//! archive's contents); `import` loads one, written by us or by another tool, verifying
//! every blob before anything becomes visible and making the archive's repositories,
//! manifests and tags visible in one transaction.
//!
//! `layout.rs` is the format (pure), `tar_read.rs` reads and checks entries on a thread,
//! `tar_write.rs` writes them, `export.rs` and `import.rs` are the rules.

mod export;
mod import;
pub mod layout;
mod tar_read;
mod tar_write;

pub use export::{ExportOptions, ExportReport};
pub use import::{ImportOptions, ImportReport};

use super::RegistryError;
use crate::db::DbError;
use crate::storage::StorageError;

/// Why an export or an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive (or an option) is not acceptable; the message names the entry.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ArchiveError {
    /// An I/O error in `context`.
    fn io(context: &'static str) -> impl Fn(std::io::Error) -> ArchiveError {
        move |error| ArchiveError::Io(format!("{context}: {error}"))
    }
}

impl From<DbError> for ArchiveError {
    fn from(error: DbError) -> Self {
        ArchiveError::Registry(error.into())
    }
}

impl From<StorageError> for ArchiveError {
    fn from(error: StorageError) -> Self {
        ArchiveError::Registry(error.into())
    }
}
