//! Git: the catalog repository (a bare repository read and written with gix) and the smart
//! HTTP server that serves it read-only at `/catalog.git`. No `git` binary at run time.
//! gix stays inside this module (tests/it/layering.rs).
//!
//! - [`index`]: the master index (`index.json` on `master`, spec/catalog.md), pure.
//! - [`read`]: one consistent reading of the catalog at its branch tips ([`read::read_catalog`]),
//!   with the per-file limits and the refusal of symlinks and non-file entries.
//! - [`write`]: `catalog init` and `catalog add` (objects, tree editing, compare-and-swap ref
//!   updates; no worktree).
//! - [`fetch`]: bringing `<data_dir>/catalog.git` in step with a remote source (HTTP(S) with
//!   gix's client, or another repository on this machine, copied object by object).
//!
//! Everything here is blocking (gix is); services call it on a blocking thread.

pub mod fetch;
pub mod index;
pub mod read;
pub mod write;

use std::path::PathBuf;

/// The catalog's bare repository, relative to the data directory: the source itself when made
/// by `catalog init`, else the local copy the sync fetches into. `/catalog.git` serves it.
pub const CATALOG_REPO_DIR: &str = "catalog.git";
/// The branch holding the master index.
pub const MASTER_BRANCH: &str = "master";
/// The master index's file on `master`.
pub const INDEX_FILE: &str = "index.json";
/// A worker branch's files.
pub const METADATA_FILE: &str = "metadata.json";
pub const PKGBUILD_FILE: &str = "PKGBUILD";
pub const README_FILE: &str = "README.md";
/// Largest file the catalog reads from a branch (`index.json`, `metadata.json`, `PKGBUILD`,
/// `README.md`), bytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why the catalog repository could not be read, written or fetched.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("there is no catalog repository at {0} (run `rbee-registry catalog init`, or set catalog.source)")]
    NoRepository(PathBuf),
    #[error("the catalog source {source_name} cannot be fetched: {message}")]
    Source { source_name: String, message: String },
    #[error("the catalog's master index is unusable: {0}")]
    Index(String),
    #[error("{0} was moved by another writer meanwhile; nothing was changed")]
    Conflict(String),
    #[error("catalog repository: {0}")]
    Repository(String),
}

pub(crate) fn fault(context: &str, error: impl std::fmt::Display) -> GitError {
    GitError::Repository(format!("{context}: {error}"))
}

pub mod http;
