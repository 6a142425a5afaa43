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
    #[error("unknown storage backend {0:?} (use \"filesystem\" or \"s3\")")]
    StorageBackend(String),
    #[error("the S3 storage backend needs {0}")]
    S3Missing(&'static str),
    #[error("invalid duration {0:?} (use a number with a unit: 30s, 15m, 24h, 7d)")]
    Duration(String),
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
    #[serde(default)]
    pub gc: GcFileConfig,
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
    /// `filesystem` (default) or `s3`.
    pub backend: Option<String>,
    /// Directory of blobs on the local filesystem (default: `<data_dir>/blobs`).
    pub path: Option<PathBuf>,
    /// fsync blobs before they become visible (default true).
    pub fsync: Option<bool>,
    #[serde(default)]
    pub s3: S3FileConfig,
}

/// `[storage.s3]`: an S3-compatible object store (AWS S3, R2, MinIO, Garage, SeaweedFS).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3FileConfig {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
    pub virtual_hosted_style: Option<bool>,
    pub redirect_downloads: Option<bool>,
    pub presign_expiry: Option<String>,
}

/// `[gc]`: garbage collection.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcFileConfig {
    pub grace_period: Option<String>,
    pub upload_max_age: Option<String>,
    /// How often `serve` collects garbage itself (`6h`; `off` or `0`: never, the default).
    pub interval: Option<String>,
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
    pub storage_backend: Option<String>,
    pub s3: S3Overrides,
    pub gc: GcOverrides,
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

/// S3 settings given on the command line or in the environment.
#[derive(Debug, Default, Clone)]
pub struct S3Overrides {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
    pub redirect_downloads: Option<bool>,
}

/// Where blobs are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    Filesystem { root: PathBuf, fsync: bool },
    S3(S3Config),
}

/// An S3-compatible bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL; `None` means AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Key prefix inside the bucket, so several registries (or tests) can share one.
    pub prefix: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow `http://` endpoints (loopback or a private network).
    pub allow_http: bool,
    /// `bucket.host` addressing instead of path style (`host/bucket`).
    pub virtual_hosted_style: bool,
    /// When set, blob downloads are answered with `307` to a presigned URL valid this long.
    pub redirect_downloads: Option<Duration>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("redirect_downloads", &self.redirect_downloads)
            .finish()
    }
}

/// Default lifetime of a presigned download URL.
pub const DEFAULT_PRESIGN_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Default grace period of garbage collection: younger blobs and links are never removed.
pub const DEFAULT_GC_GRACE_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// Default age past which an untouched upload session is removed.
pub const DEFAULT_UPLOAD_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses `90s`, `15m`, `24h`, `7d` (or plain seconds).
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let text = text.trim();
    let error = || ConfigError::Duration(text.to_string());
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| error())?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(error()),
    };
    number.checked_mul(seconds).map(Duration::from_secs).ok_or_else(error)
}

/// Settings of garbage collection: of `rbee-registry gc`, and of the periodic collection
/// inside `serve` when `interval` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcConfig {
    pub grace_period: Duration,
    pub upload_max_age: Duration,
    /// How often `serve` runs a collection; `None` (the default): never.
    pub interval: Option<Duration>,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace_period: DEFAULT_GC_GRACE_PERIOD,
            upload_max_age: DEFAULT_UPLOAD_MAX_AGE,
            interval: None,
        }
    }
}

/// Garbage-collection settings from the command line or environment.
#[derive(Debug, Default, Clone)]
pub struct GcOverrides {
    pub grace_period: Option<String>,
    pub upload_max_age: Option<String>,
    pub interval: Option<String>,
}

/// Parses a GC interval: a duration, or `off` / `0` for no periodic collection.
fn parse_interval(text: &str) -> Result<Option<Duration>, ConfigError> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let interval = parse_duration(text)?;
    Ok((!interval.is_zero()).then_some(interval))
}

impl GcConfig {
    pub fn assemble(overrides: GcOverrides, file: &GcFileConfig) -> Result<Self, ConfigError> {
        let pick = |flag: Option<String>, file: &Option<String>, default: Duration| {
            flag.or_else(|| file.clone())
                .map(|text| parse_duration(&text))
                .transpose()
                .map(|value| value.unwrap_or(default))
        };
        let interval = match overrides.interval.or_else(|| file.interval.clone()) {
            Some(text) => parse_interval(&text)?,
            None => None,
        };
        Ok(GcConfig {
            grace_period: pick(overrides.grace_period, &file.grace_period, DEFAULT_GC_GRACE_PERIOD)?,
            upload_max_age: pick(overrides.upload_max_age, &file.upload_max_age, DEFAULT_UPLOAD_MAX_AGE)?,
            interval,
        })
    }
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
    /// Garbage collection (the periodic collection runs only when `gc.interval` is set).
    pub gc: GcConfig,
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
        let gc = GcConfig::assemble(overrides.gc, &file.gc)?;
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
        let backend = overrides
            .storage_backend
            .or(file.storage.backend)
            .unwrap_or_else(|| "filesystem".to_string());
        let storage = match backend.as_str() {
            "filesystem" | "fs" => StorageConfig::Filesystem {
                root: overrides
                    .storage_path
                    .or(file.storage.path)
                    .unwrap_or_else(|| data_dir.join("blobs")),
                fsync: file.storage.fsync.unwrap_or(true),
            },
            "s3" => StorageConfig::S3(S3Config::assemble(overrides.s3, file.storage.s3)?),
            other => return Err(ConfigError::StorageBackend(other.to_string())),
        };
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
            storage,
            limits,
            http,
            gc,
        })
    }
}

impl S3Config {
    fn assemble(overrides: S3Overrides, file: S3FileConfig) -> Result<Self, ConfigError> {
        let redirect = overrides
            .redirect_downloads
            .or(file.redirect_downloads)
            .unwrap_or(false);
        let expiry = file
            .presign_expiry
            .map(|text| parse_duration(&text))
            .transpose()?
            .unwrap_or(DEFAULT_PRESIGN_EXPIRY);
        Ok(S3Config {
            endpoint: overrides.endpoint.or(file.endpoint),
            region: overrides
                .region
                .or(file.region)
                .unwrap_or_else(|| "us-east-1".to_string()),
            bucket: overrides
                .bucket
                .or(file.bucket)
                .ok_or(ConfigError::S3Missing("a bucket (storage.s3.bucket, RBEE_S3_BUCKET)"))?,
            prefix: overrides.prefix.or(file.prefix).filter(|prefix| !prefix.is_empty()),
            access_key_id: overrides.access_key_id.or(file.access_key_id),
            secret_access_key: overrides.secret_access_key.or(file.secret_access_key),
            allow_http: overrides.allow_http.or(file.allow_http).unwrap_or(false),
            virtual_hosted_style: file.virtual_hosted_style.unwrap_or(false),
            redirect_downloads: redirect.then_some(expiry),
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
    fn s3_from_file_and_environment() {
        let file: FileConfig = toml::from_str(
            "[storage]\nbackend = \"s3\"\n[storage.s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"a\"\n\
             allow_http = true\nredirect_downloads = true\npresign_expiry = \"5m\"\n",
        )
        .unwrap();
        let overrides = Overrides {
            s3: S3Overrides {
                bucket: Some("b".into()),
                ..S3Overrides::default()
            },
            ..Overrides::default()
        };
        let config = ServeConfig::assemble(overrides, file).unwrap();
        let StorageConfig::S3(s3) = config.storage else {
            panic!("expected S3 storage")
        };
        assert_eq!(s3.bucket, "b");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region, "us-east-1");
        assert!(s3.allow_http && !s3.virtual_hosted_style);
        assert_eq!(s3.redirect_downloads, Some(Duration::from_secs(300)));
    }

    #[test]
    fn s3_without_a_bucket_is_an_error() {
        let overrides = Overrides {
            storage_backend: Some("s3".into()),
            ..Overrides::default()
        };
        assert!(matches!(
            ServeConfig::assemble(overrides, FileConfig::default()),
            Err(ConfigError::S3Missing(_))
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("3w").is_err());
    }

    #[test]
    fn gc_settings_and_the_periodic_interval() {
        let config = ServeConfig::assemble(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(config.gc, GcConfig::default());
        assert_eq!(config.gc.interval, None);

        let file: FileConfig = toml::from_str("[gc]\ninterval = \"6h\"\ngrace_period = \"2h\"\n").unwrap();
        let config = ServeConfig::assemble(Overrides::default(), file).unwrap();
        assert_eq!(config.gc.interval, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(config.gc.grace_period, Duration::from_secs(2 * 3600));
        assert_eq!(config.gc.upload_max_age, DEFAULT_UPLOAD_MAX_AGE);

        // A flag or the environment wins, and can switch the file's schedule off.
        for (flag, expected) in [("30m", Some(Duration::from_secs(1800))), ("off", None), ("0", None)] {
            let file: FileConfig = toml::from_str("[gc]\ninterval = \"6h\"\n").unwrap();
            let overrides = Overrides {
                gc: GcOverrides {
                    interval: Some(flag.into()),
                    ..GcOverrides::default()
                },
                ..Overrides::default()
            };
            assert_eq!(
                ServeConfig::assemble(overrides, file).unwrap().gc.interval,
                expected,
                "{flag}"
            );
        }
        let file: FileConfig = toml::from_str("[gc]\ninterval = \"often\"\n").unwrap();
        assert!(matches!(
            ServeConfig::assemble(Overrides::default(), file),
            Err(ConfigError::Duration(_))
        ));
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rbee-registry.example.toml");
        FileConfig::load(&path).unwrap();
    }
}
