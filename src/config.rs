//! Server configuration: one typed struct per concern, assembled in one place.
//!
//! Precedence, highest first: command-line flag, environment variable (`RBEE_…`), the TOML
//! file given by `--config` / `RBEE_CONFIG`, built-in default. Every setting of the file is
//! optional; see `rbee-registry.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::services::RegistryLimits;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Default data directory (SQLite database and blobs).
pub const DEFAULT_DATA_DIR: &str = "./data";

/// Errors while assembling the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid listen address {0:?}")]
    Listen(String),
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// The layout of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    #[serde(default)]
    pub storage: StorageFileConfig,
    #[serde(default)]
    pub limits: LimitsFileConfig,
    #[serde(default)]
    pub server: ServerFileConfig,
    #[serde(default)]
    pub api: ApiFileConfig,
    #[serde(default)]
    pub analytics: AnalyticsFileConfig,
}

/// The JSON catalog API (`/workers`, `/v1/workers`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFileConfig {
    /// Origins allowed to call the catalog API from a browser (CORS), e.g. the marketplace.
    pub cors_origins: Option<Vec<String>>,
}

/// Download analytics.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsFileConfig {
    /// Salt of the client-address hashes. Processes sharing a database must share it.
    /// Default: a random salt kept in `<data_dir>/analytics-salt`.
    pub salt: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFileConfig {
    /// Directory of blobs on the local filesystem (default: `<data_dir>/blobs`).
    pub path: Option<PathBuf>,
    /// fsync blobs before they become visible (default true).
    pub fsync: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFileConfig {
    pub max_manifest_bytes: Option<usize>,
    /// Largest blob accepted (the total of an upload session), bytes.
    pub max_blob_bytes: Option<u64>,
    /// Largest request head (request line and headers), bytes; at least 8192.
    pub max_header_bytes: Option<usize>,
    /// Blob upload requests one client address may have running at once.
    pub max_uploads_per_client: Option<usize>,
    /// Seconds an upload session may stay idle before it is removed.
    pub upload_session_ttl_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFileConfig {
    /// Seconds running requests get to finish after a shutdown signal.
    pub shutdown_grace_secs: Option<u64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Settings given on the command line or in the environment (already merged by clap).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub storage_path: Option<PathBuf>,
    pub max_manifest_bytes: Option<usize>,
    pub max_blob_bytes: Option<u64>,
    pub max_header_bytes: Option<usize>,
    pub max_uploads_per_client: Option<usize>,
    pub upload_session_ttl_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    /// Comma-separated CORS origins (`RBEE_CORS_ORIGINS`).
    pub cors_origins: Option<String>,
    /// `RBEE_ANALYTICS_SALT`.
    pub analytics_salt: Option<String>,
}

/// Defaults of the HTTP limits (see README's configuration table; the registry's own limits
/// default to `RegistryLimits::default()`).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's smallest read buffer; a request head must fit in it.
pub const MIN_HEADER_BYTES: usize = 8192;
pub const DEFAULT_MAX_UPLOADS_PER_CLIENT: usize = 16;
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

/// Limits the HTTP server enforces before a request reaches the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_header_bytes: usize,
    pub max_uploads_per_client: usize,
    /// How long running requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_uploads_per_client: DEFAULT_MAX_UPLOADS_PER_CLIENT,
            shutdown_grace: Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECS),
        }
    }
}

/// Where blobs are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    Filesystem { root: PathBuf, fsync: bool },
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub storage: StorageConfig,
    pub limits: RegistryLimits,
    pub http: HttpLimits,
    /// Origins allowed to call the catalog API cross-origin.
    pub cors_origins: Vec<String>,
    /// Where the analytics salt comes from.
    pub analytics_salt: SaltSource,
}

/// The salt of client-address hashes: given, or kept in a file of the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaltSource {
    Given(String),
    File(PathBuf),
}

impl SaltSource {
    /// The salt bytes; a missing salt file is created with 32 random bytes.
    pub fn load(&self) -> std::io::Result<Vec<u8>> {
        match self {
            SaltSource::Given(salt) => Ok(salt.as_bytes().to_vec()),
            SaltSource::File(path) => match std::fs::read(path) {
                Ok(salt) if !salt.is_empty() => Ok(salt),
                Ok(_) | Err(_) => {
                    let salt = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
                    let staging = path.with_extension("tmp");
                    std::fs::write(&staging, &salt)?;
                    std::fs::rename(&staging, path)?;
                    Ok(salt.into_bytes())
                }
            },
        }
    }
}

impl ServeConfig {
    /// Merges overrides over the file over defaults.
    pub fn assemble(overrides: Overrides, file: FileConfig) -> Result<Self, ConfigError> {
        let listen_text = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text
            .parse()
            .map_err(|_| ConfigError::Listen(listen_text.clone()))?;
        let data_dir = overrides
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = overrides
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("registry.db").display()));
        let root = overrides
            .storage_path
            .or(file.storage.path)
            .unwrap_or_else(|| data_dir.join("blobs"));
        let defaults = RegistryLimits::default();
        let limits = RegistryLimits {
            max_manifest_bytes: overrides
                .max_manifest_bytes
                .or(file.limits.max_manifest_bytes)
                .unwrap_or(defaults.max_manifest_bytes),
            max_blob_bytes: overrides
                .max_blob_bytes
                .or(file.limits.max_blob_bytes)
                .unwrap_or(defaults.max_blob_bytes),
            upload_session_ttl: overrides
                .upload_session_ttl_secs
                .or(file.limits.upload_session_ttl_secs)
                .map(Duration::from_secs)
                .unwrap_or(defaults.upload_session_ttl),
        };
        let http = HttpLimits {
            max_header_bytes: overrides
                .max_header_bytes
                .or(file.limits.max_header_bytes)
                .unwrap_or(DEFAULT_MAX_HEADER_BYTES),
            max_uploads_per_client: overrides
                .max_uploads_per_client
                .or(file.limits.max_uploads_per_client)
                .unwrap_or(DEFAULT_MAX_UPLOADS_PER_CLIENT),
            shutdown_grace: Duration::from_secs(
                overrides
                    .shutdown_grace_secs
                    .or(file.server.shutdown_grace_secs)
                    .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
            ),
        };
        if http.max_header_bytes < MIN_HEADER_BYTES {
            return Err(ConfigError::Invalid(format!(
                "limits.max_header_bytes must be at least {MIN_HEADER_BYTES}"
            )));
        }
        if http.max_uploads_per_client == 0 {
            return Err(ConfigError::Invalid(
                "limits.max_uploads_per_client must be at least 1".into(),
            ));
        }
        if limits.upload_session_ttl.is_zero() {
            return Err(ConfigError::Invalid(
                "limits.upload_session_ttl_secs must be at least 1".into(),
            ));
        }
        let cors_origins = match overrides.cors_origins {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_string)
                .collect(),
            None => file.api.cors_origins.unwrap_or_default(),
        };
        let analytics_salt = match overrides.analytics_salt.or(file.analytics.salt) {
            Some(salt) => SaltSource::Given(salt),
            None => SaltSource::File(data_dir.join("analytics-salt")),
        };
        Ok(ServeConfig {
            listen,
            cors_origins,
            analytics_salt,
            data_dir,
            database_url,
            storage: StorageConfig::Filesystem {
                root,
                fsync: file.storage.fsync.unwrap_or(true),
            },
            limits,
            http,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = ServeConfig::assemble(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.database_url, "sqlite://./data/registry.db?mode=rwc");
        assert_eq!(
            config.storage,
            StorageConfig::Filesystem {
                root: PathBuf::from("./data/blobs"),
                fsync: true
            }
        );
    }

    #[test]
    fn overrides_beat_the_file() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/a\"\n[storage]\nfsync = false\n[limits]\nmax_manifest_bytes = 10\n",
        )
        .unwrap();
        let overrides = Overrides {
            listen: Some("127.0.0.1:9001".into()),
            ..Overrides::default()
        };
        let config = ServeConfig::assemble(overrides, file).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(config.data_dir, PathBuf::from("/srv/a"));
        assert_eq!(config.limits.max_manifest_bytes, 10);
        assert_eq!(config.limits.max_blob_bytes, RegistryLimits::default().max_blob_bytes);
        assert_eq!(config.http, HttpLimits::default());
        assert_eq!(
            config.storage,
            StorageConfig::Filesystem {
                root: PathBuf::from("/srv/a/blobs"),
                fsync: false
            }
        );
    }

    #[test]
    fn limits_come_from_flags_over_the_file() {
        let file: FileConfig = toml::from_str(
            "[limits]\nmax_blob_bytes = 100\nmax_header_bytes = 9000\nmax_uploads_per_client = 3\nupload_session_ttl_secs = 60\n[server]\nshutdown_grace_secs = 5\n",
        )
        .unwrap();
        let overrides = Overrides {
            max_uploads_per_client: Some(4),
            ..Overrides::default()
        };
        let config = ServeConfig::assemble(overrides, file).unwrap();
        assert_eq!(config.limits.max_blob_bytes, 100);
        assert_eq!(config.limits.upload_session_ttl, Duration::from_secs(60));
        assert_eq!(
            config.http,
            HttpLimits {
                max_header_bytes: 9000,
                max_uploads_per_client: 4,
                shutdown_grace: Duration::from_secs(5),
            }
        );
        for bad in [
            "[limits]\nmax_header_bytes = 100\n",
            "[limits]\nmax_uploads_per_client = 0\n",
            "[limits]\nupload_session_ttl_secs = 0\n",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            assert!(ServeConfig::assemble(Overrides::default(), file).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rbee-registry.example.toml");
        FileConfig::load(&path).unwrap();
    }
}
