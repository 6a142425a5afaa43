//! Git: the catalog repository (a bare repository read and written with gix) and the smart
//! HTTP server that serves it read-only at `/catalog.git`. No `git` binary at run time.
//! gix stays inside this module (tests/it/layering.rs).

/// The catalog's bare repository, relative to the data directory: the source itself when made
/// by `catalog init`, else the local copy the sync fetches into. `/catalog.git` serves it.
pub const CATALOG_REPO_DIR: &str = "catalog.git";

pub mod http;
