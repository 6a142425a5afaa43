//! The registry's rules: uploads, blobs, manifests, tags, referrers and the catalog.
//!
//! Services take typed input (already-validated names and digests) and return domain
//! values; they never see HTTP. Dependency direction: routes → services → db / storage / oci.
//! Services never call routes.

pub mod blobs;
pub mod discovery;
pub mod error;
pub mod gc;
pub mod manifests;
pub mod uploads;

pub use error::RegistryError;

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::db::Database;
use crate::storage::BlobStore;

/// A request body as a stream of buffers.
pub type BodyStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Limits the registry enforces on clients.
#[derive(Debug, Clone)]
pub struct RegistryLimits {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_manifest_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The registry: metadata database, blob store and limits.
#[derive(Clone, Debug)]
pub struct Registry {
    db: Database,
    store: BlobStore,
    limits: RegistryLimits,
}

impl Registry {
    pub fn new(db: Database, store: BlobStore, limits: RegistryLimits) -> Self {
        Registry { db, store, limits }
    }

    pub fn limits(&self) -> &RegistryLimits {
        &self.limits
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn blob_store(&self) -> &BlobStore {
        &self.store
    }
}
