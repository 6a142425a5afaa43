//! Server configuration: one typed struct per concern, assembled in one place.
//!
//! Precedence, highest first: command-line flag, environment variable (`RBEE_…`), the TOML
//! file given by `--config` / `RBEE_CONFIG`, built-in default. Every setting of the file is
//! optional; see `rbee-registry.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
        let mut limits = RegistryLimits::default();
        if let Some(max) = file.limits.max_manifest_bytes {
            limits.max_manifest_bytes = max;
        }
        Ok(ServeConfig {
            listen,
            data_dir,
            database_url,
            storage: StorageConfig::Filesystem {
                root,
                fsync: file.storage.fsync.unwrap_or(true),
            },
            limits,
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
        assert_eq!(
            config.storage,
            StorageConfig::Filesystem {
                root: PathBuf::from("/srv/a/blobs"),
                fsync: false
            }
        );
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rbee-registry.example.toml");
        FileConfig::load(&path).unwrap();
    }
}
