//! The registry's rules: uploads, blobs, manifests, tags, referrers, the repository catalog,
//! workers (the worker catalog computed from what is stored) and download analytics.
//!
//! Services take typed input (already-validated names and digests) and return domain
//! values; they never see HTTP. Dependency direction: routes → services → db / storage / oci.
//! Services never call routes.

pub mod admin_sessions;
pub mod admin_token;
pub mod analytics;
pub mod archive;
pub mod blobs;
pub mod catalog;
pub mod credentials;
pub mod discovery;
pub mod error;
pub mod expiry;
pub mod gc;
pub mod health;
pub mod jobs;
pub mod keys;
pub mod licenses;
pub mod manifests;
pub mod mirror;
pub mod policies;
pub mod public_url;
pub mod publishers;
pub mod pull_through;
pub mod signed_urls;
pub mod stars;
pub mod token_cache;
pub mod tokens;
pub mod uploads;
pub mod workers;

pub use error::RegistryError;
pub use public_url::PublicUrl;

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
    /// Largest blob accepted (all chunks of a session together), in bytes.
    pub max_blob_bytes: u64,
    /// An upload session idle for longer is unknown to clients and removed by the sweeper.
    pub upload_session_ttl: std::time::Duration,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_blob_bytes: 64 * 1024 * 1024 * 1024,
            upload_session_ttl: std::time::Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// The registry: metadata database, blob store and limits.
#[derive(Clone, Debug)]
pub struct Registry {
    db: Database,
    store: BlobStore,
    limits: RegistryLimits,
    downloads: Option<analytics::DownloadRecorder>,
    /// Wakes this process's job tasks when a job is triggered here (`jobs`).
    jobs: jobs::JobSignals,
    /// The token signing keys, cached (`keys`).
    keys: keys::KeyCache,
    /// Settings of the token service (`tokens`).
    tokens: tokens::TokenSettings,
    /// Bearer tokens verified before, until they expire (`token_cache`).
    verified_tokens: token_cache::TokenCache,
    /// Public keys from the configuration and the download URLs' lifetime.
    licensing: licenses::LicenseSettings,
    /// The Git catalog's repository and source.
    catalog: std::sync::Arc<catalog::CatalogSettings>,
    /// The pull-through cache's upstreams and running fetches (`pull_through`), if any.
    pull_through: Option<std::sync::Arc<pull_through::PullThrough>>,
    /// A mirror whose last success is older is listed by `/readyz` (`mirror.stale_after`).
    mirror_stale_after: std::time::Duration,
    /// The merged worker list, held while the database's list generation is unchanged.
    worker_list: workers::WorkerListCache,
}

impl Registry {
    pub fn new(db: Database, store: BlobStore, limits: RegistryLimits) -> Self {
        Registry {
            db,
            store,
            limits,
            downloads: None,
            jobs: jobs::JobSignals::default(),
            keys: keys::KeyCache::default(),
            tokens: tokens::TokenSettings::default(),
            verified_tokens: token_cache::TokenCache::default(),
            licensing: licenses::LicenseSettings::default(),
            catalog: std::sync::Arc::new(
                catalog::CatalogSettings::new(std::path::Path::new("data"), None, None, None)
                    .expect("no source to parse"),
            ),
            pull_through: None,
            mirror_stale_after: mirror::DEFAULT_STALE_AFTER,
            worker_list: workers::WorkerListCache::default(),
        }
    }

    /// Verifies licenses also with these public keys, and hands out download URLs valid for
    /// the configured time.
    pub fn with_license_settings(mut self, licensing: licenses::LicenseSettings) -> Self {
        self.licensing = licensing;
        self
    }

    /// Reads and syncs the Git catalog `settings` name.
    pub fn with_catalog(mut self, settings: catalog::CatalogSettings) -> Self {
        self.catalog = std::sync::Arc::new(settings);
        self
    }

    /// Fetches what is missing from these upstreams (`pull_through`); no upstreams: none.
    pub fn with_pull_through(mut self, settings: pull_through::PullThroughSettings) -> Self {
        self.pull_through =
            (!settings.upstreams.is_empty()).then(|| std::sync::Arc::new(pull_through::PullThrough::new(settings)));
        self
    }

    /// Lists mirrors whose last success is older than `stale_after` on `/readyz`.
    pub fn with_mirror_stale_after(mut self, stale_after: std::time::Duration) -> Self {
        self.mirror_stale_after = stale_after;
        self
    }

    /// Counts completed worker package downloads with `recorder`.
    pub fn with_download_recorder(mut self, recorder: analytics::DownloadRecorder) -> Self {
        self.downloads = Some(recorder);
        self
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
