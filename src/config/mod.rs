//! Server configuration: every setting declared once, assembled in one place.
//!
//! Each setting is one entry of the `settings!` table below: its field and type, default,
//! file key, environment variable, command-line flags and documentation. From that one
//! declaration follow the `serve`/`gc` flags (`ServeFlags`, `GcFlags`), the file's layout
//! (`FileConfig`, unknown keys refused), the precedence (command-line flag, environment variable
//! `RBEE_…`, the TOML file given by `--config` / `RBEE_CONFIG`, built-in default) and README's
//! configuration table (checked by a test). Adding a setting is one entry plus its use in
//! `ServeConfig::assemble`.
//!
//! The plain values the other layers use are theirs (`storage::S3Config`,
//! `services::RegistryLimits`, `services::PublicUrl`, `routes::edge::TrustedProxies`): this
//! module imports them, never the other way round. Secrets (`Secret`) never show in `Debug`.
//!
//! Where things are: `settings.rs` (the table, the layers, the flags and README's table),
//! `values.rs` (how each type of value is read from text and from TOML), this file (the
//! assembled `ServeConfig` and what `serve` and `gc` take from it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthMode;
use crate::routes::edge::TrustedProxies;
use crate::services::tokens::TokenSettings;
use crate::services::{PublicUrl, RegistryLimits};
use crate::storage::S3Config;

mod mirror;
mod pull_through;
mod settings;
mod values;

pub use pull_through::{PullThroughConfig, DEFAULT_TAG_TTL};

pub use settings::{
    markdown_table, CliCommand, FileConfig, GcFlags, Layer, Overrides, ServeFlags, SettingDef, Settings, SETTINGS,
};
pub use values::{parse_duration, Interval, Secret, SettingValue, StorageBackend};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Default data directory (SQLite database and blobs).
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default of the largest request head (request line and headers).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's smallest read buffer; a request head must fit in it.
pub const MIN_HEADER_BYTES: usize = 8192;
pub const DEFAULT_MAX_UPLOADS_PER_CLIENT: usize = 16;
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;
/// Default lifetime of a presigned download URL.
pub const DEFAULT_PRESIGN_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Default lifetime of the download URLs the v1 API hands out (the design's `expires_in`).
pub const DEFAULT_DOWNLOAD_URL_EXPIRY: Duration = crate::services::licenses::DEFAULT_DOWNLOAD_URL_EXPIRY;
/// Default grace period of garbage collection: younger blobs and links are never removed.
pub const DEFAULT_GC_GRACE_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// Default age past which an untouched upload session is removed.
pub const DEFAULT_UPLOAD_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Default of the token requests one client address may make per minute.
pub const DEFAULT_TOKEN_RATE_LIMIT: u64 = 600;

/// Token authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The token service: `service`, lifetime, anonymous pull.
    pub tokens: TokenSettings,
    /// Token requests one client address may make per minute.
    pub token_rate_limit: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::On,
            tokens: TokenSettings::default(),
            token_rate_limit: DEFAULT_TOKEN_RATE_LIMIT,
        }
    }
}

/// Errors while assembling the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("unknown setting {0:?} in the config file")]
    UnknownKey(String),
    #[error("{key}: {source}")]
    Setting {
        key: &'static str,
        source: Box<ConfigError>,
    },
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
    S3(S3Config),
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

/// The certificate and key files `serve` serves HTTPS with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM: the private key.
    pub key: PathBuf,
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// HTTPS with these files; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The base of the URLs the registry hands out; `None`: `http://` (`https://` with TLS)
    /// and the bound address.
    pub public_url: Option<PublicUrl>,
    /// Proxies whose forwarded headers are believed.
    pub trusted_proxies: TrustedProxies,
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
    /// Token authentication.
    pub auth: AuthConfig,
    /// License verification keys and download URL lifetime.
    pub licenses: LicenseConfig,
    /// The Git catalog: its repository, source, sync interval and webhook secret.
    pub catalog: crate::services::catalog::CatalogSettings,
    /// The pull-through cache (no upstreams: none).
    pub pull_through: PullThroughConfig,
    /// The configured mirror job (`mirror.*`) and the staleness threshold of `/readyz`.
    pub mirror: crate::services::mirror::MirrorSettings,
}

/// Settings of licenses and download URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseConfig {
    /// A public-key file that verifies licenses besides the database's keys.
    pub verify_keys: Option<PathBuf>,
    /// Lifetime of the registry's own signed download URLs.
    pub download_url_expiry: Duration,
}

impl LicenseConfig {
    /// The services' settings: the key file read and checked.
    pub fn load(&self) -> Result<crate::services::licenses::LicenseSettings, ConfigError> {
        use crate::services::licenses::LicenseSettings;
        let verify_keys = match &self.verify_keys {
            Some(path) => LicenseSettings::load_verify_keys(path).map_err(ConfigError::Invalid)?,
            None => Vec::new(),
        };
        Ok(LicenseSettings {
            verify_keys,
            download_url_expiry: self.download_url_expiry,
        })
    }
}

/// The salt of client-address hashes: given, or kept in a file of the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaltSource {
    Given(Secret),
    File(PathBuf),
}

impl SaltSource {
    /// The salt bytes. A missing (or empty) salt file is created with 32 random bytes, readable
    /// by the owner only (mode 0600); an existing one that others may read is narrowed to 0600.
    /// Any other read error is returned, never papered over with a new salt (which would make
    /// earlier download hashes uncomparable).
    pub fn load(&self) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::PermissionsExt;
        match self {
            SaltSource::Given(salt) => Ok(salt.expose().as_bytes().to_vec()),
            SaltSource::File(path) => match std::fs::read(path) {
                Ok(salt) if !salt.is_empty() => {
                    let mode = std::fs::metadata(path)?.permissions().mode();
                    if mode & 0o077 != 0 {
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                        tracing::warn!(path = %path.display(), "the analytics salt file was readable by others; it is 0600 now");
                    }
                    Ok(salt)
                }
                Ok(_) => Self::create(path),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Self::create(path),
                Err(error) => Err(error),
            },
        }
    }

    fn create(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let salt = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let staging = path.with_extension("tmp");
        let _ = std::fs::remove_file(&staging);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staging)?;
        file.write_all(salt.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&staging, path)?;
        Ok(salt.into_bytes())
    }
}

impl ServeConfig {
    /// Merges overrides over the file over defaults, and checks what the types cannot.
    pub fn assemble(overrides: Overrides, file: FileConfig) -> Result<Self, ConfigError> {
        let mut settings = Settings::resolve(overrides.or(file));
        let data_dir = settings.data_dir;
        let database_url = settings
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("registry.db").display()));
        let storage = match settings.storage_backend {
            StorageBackend::Filesystem => StorageConfig::Filesystem {
                root: settings.storage_path.unwrap_or_else(|| data_dir.join("blobs")),
                fsync: settings.storage_fsync,
            },
            StorageBackend::S3 => StorageConfig::S3(S3Config {
                endpoint: settings.s3_endpoint,
                region: settings.s3_region,
                bucket: settings
                    .s3_bucket
                    .ok_or(ConfigError::S3Missing("a bucket (storage.s3.bucket, RBEE_S3_BUCKET)"))?,
                prefix: settings.s3_prefix.filter(|prefix| !prefix.is_empty()),
                access_key_id: settings.s3_access_key_id,
                secret_access_key: settings.s3_secret_access_key.map(Secret::into_inner),
                allow_http: settings.s3_allow_http,
                virtual_hosted_style: settings.s3_virtual_hosted_style,
                redirect_downloads: settings.s3_redirect_downloads.then_some(settings.s3_presign_expiry),
            }),
        };
        let limits = RegistryLimits {
            max_manifest_bytes: settings.max_manifest_bytes,
            max_blob_bytes: settings.max_blob_bytes,
            upload_session_ttl: Duration::from_secs(settings.upload_session_ttl_secs),
        };
        let http = HttpLimits {
            max_header_bytes: settings.max_header_bytes,
            max_uploads_per_client: settings.max_uploads_per_client,
            shutdown_grace: Duration::from_secs(settings.shutdown_grace_secs),
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
        if settings.download_url_expiry.is_zero() {
            return Err(ConfigError::Invalid(
                "license.download_url_expiry must be at least 1s".into(),
            ));
        }
        if limits.upload_session_ttl.is_zero() {
            return Err(ConfigError::Invalid(
                "limits.upload_session_ttl_secs must be at least 1".into(),
            ));
        }
        let analytics_salt = match settings.analytics_salt {
            Some(salt) => SaltSource::Given(salt),
            None => SaltSource::File(data_dir.join("analytics-salt")),
        };
        let catalog = crate::services::catalog::CatalogSettings::new(
            &data_dir,
            settings.catalog_source.as_deref(),
            settings.catalog_interval.0,
            settings.catalog_webhook_secret.map(Secret::into_inner),
        )
        .map_err(|error| ConfigError::Invalid(format!("catalog.source: {error}")))?;
        let mirror = mirror::mirror_settings(
            settings.mirror_upstream.take(),
            std::mem::take(&mut settings.mirror_repos),
            std::mem::take(&mut settings.mirror_platforms),
            settings.mirror_interval.0,
            settings.mirror_prune,
            (
                settings.mirror_username.take(),
                settings.mirror_password.take().map(Secret::into_inner),
            ),
            settings.mirror_concurrency,
            settings.mirror_stale_after,
        )?;
        let tls = match (settings.tls_cert, settings.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Invalid(
                    "tls.cert needs tls.key (--tls-key, RBEE_TLS_KEY)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "tls.key needs tls.cert (--tls-cert, RBEE_TLS_CERT)".into(),
                ))
            }
        };
        if settings.auth_token_lifetime.is_zero() || settings.auth_service.is_empty() {
            return Err(ConfigError::Invalid(
                "auth.token_lifetime must be at least 1s and auth.service not empty".into(),
            ));
        }
        let auth = AuthConfig {
            mode: settings.auth_mode,
            tokens: TokenSettings {
                service: settings.auth_service,
                lifetime: settings.auth_token_lifetime,
                anonymous_pull: settings.auth_anonymous_pull,
            },
            token_rate_limit: settings.auth_token_rate_limit,
        };
        let pull_through = PullThroughConfig::new(
            settings.pull_through_upstreams,
            settings.pull_through_username,
            settings.pull_through_password.map(Secret::into_inner),
            settings.pull_through_docker_config,
            settings.pull_through_tag_ttl,
        )?;
        Ok(ServeConfig {
            auth,
            catalog,
            pull_through,
            mirror,
            listen: settings.listen,
            tls,
            public_url: settings.public_url,
            trusted_proxies: settings.trusted_proxies,
            cors_origins: settings.cors_origins,
            analytics_salt,
            data_dir,
            database_url,
            storage,
            limits,
            http,
            gc: GcConfig {
                grace_period: settings.gc_grace_period,
                upload_max_age: settings.gc_upload_max_age,
                interval: settings.gc_interval.0,
            },
            licenses: LicenseConfig {
                verify_keys: settings.license_verify_keys,
                download_url_expiry: settings.download_url_expiry,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::settings::add_flags;
    use super::*;

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

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
        assert_eq!(config.public_url, None);
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn overrides_beat_the_file() {
        let file = file(
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/a\"\n[storage]\nfsync = false\n[limits]\nmax_manifest_bytes = 10\n",
        );
        let overrides = Overrides {
            listen: Some("127.0.0.1:9001".parse().unwrap()),
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
        let file = file(
            "[limits]\nmax_blob_bytes = 100\nmax_header_bytes = 9000\nmax_uploads_per_client = 3\nupload_session_ttl_secs = 60\n[server]\nshutdown_grace_secs = 5\n",
        );
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
            assert!(
                ServeConfig::assemble(Overrides::default(), self::file(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_file_refuses_unknown_keys_and_wrong_types() {
        for bad in [
            "lisen = \"127.0.0.1:1\"\n",
            "[limits]\nmax_header_byte = 9000\n",
            "[storage.s3]\nbuckets = \"a\"\n",
            "[nothing]\na = 1\n",
            "[limits]\nmax_blob_bytes = -1\n",
            "[limits]\nmax_blob_bytes = \"100\"\n",
            "[storage]\nfsync = \"yes\"\n",
            "[api]\ncors_origins = \"https://a\"\n",
            "listen = 8787\n",
            "[limits]\n[limits.max_blob_bytes]\n",
        ] {
            assert!(toml::from_str::<FileConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn s3_from_file_and_environment() {
        let file = file(
            "[storage]\nbackend = \"s3\"\n[storage.s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"a\"\n\
             allow_http = true\nredirect_downloads = true\npresign_expiry = \"5m\"\n",
        );
        let overrides = Overrides {
            s3_bucket: Some("b".into()),
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
            storage_backend: Some(StorageBackend::S3),
            ..Overrides::default()
        };
        assert!(matches!(
            ServeConfig::assemble(overrides, FileConfig::default()),
            Err(ConfigError::S3Missing(_))
        ));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let file = file(
            "[storage]\nbackend = \"s3\"\n[storage.s3]\nbucket = \"a\"\nsecret_access_key = \"s3-secret-text\"\n\
             [analytics]\nsalt = \"salt-secret-text\"\n\
             [pull_through]\nusername = \"u\"\npassword = \"upstream-secret-text\"\n",
        );
        let shown = format!("{file:?}");
        let config = ServeConfig::assemble(file.clone(), FileConfig::default()).unwrap();
        for shown in [shown, format!("{config:?}"), format!("{:?}", Settings::resolve(file))] {
            assert!(!shown.contains("s3-secret-text"), "{shown}");
            assert!(!shown.contains("salt-secret-text"), "{shown}");
            assert!(!shown.contains("upstream-secret-text"), "{shown}");
        }
        let secrets: Vec<_> = SETTINGS
            .iter()
            .filter(|setting| setting.secret)
            .map(|s| s.key)
            .collect();
        assert_eq!(
            secrets,
            [
                "analytics.salt",
                "storage.s3.secret_access_key",
                "catalog.webhook_secret",
                "pull_through.password",
                "mirror.password"
            ]
        );
    }

    #[test]
    fn tls_takes_both_files_or_neither() {
        let config = ServeConfig::assemble(
            Overrides::default(),
            file("[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n"),
        )
        .unwrap();
        assert_eq!(
            config.tls,
            Some(TlsFiles {
                cert: PathBuf::from("/c.pem"),
                key: PathBuf::from("/k.pem")
            })
        );
        assert_eq!(
            ServeConfig::assemble(Overrides::default(), FileConfig::default())
                .unwrap()
                .tls,
            None
        );
        let layer = parse(CliCommand::Serve, &["--tls-cert", "/c.pem"]).unwrap();
        let error = ServeConfig::assemble(layer, FileConfig::default()).unwrap_err();
        assert!(error.to_string().contains("tls.cert needs tls.key"), "{error}");
        let error = ServeConfig::assemble(Overrides::default(), file("[tls]\nkey = \"/k.pem\"\n")).unwrap_err();
        assert!(error.to_string().contains("tls.key needs tls.cert"), "{error}");
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

        let config = ServeConfig::assemble(
            Overrides::default(),
            file("[gc]\ninterval = \"6h\"\ngrace_period = \"2h\"\n"),
        )
        .unwrap();
        assert_eq!(config.gc.interval, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(config.gc.grace_period, Duration::from_secs(2 * 3600));
        assert_eq!(config.gc.upload_max_age, DEFAULT_UPLOAD_MAX_AGE);

        // A flag or the environment wins, and can switch the file's schedule off.
        for (flag, expected) in [("30m", Some(Duration::from_secs(1800))), ("off", None), ("0", None)] {
            let overrides = Overrides {
                gc_interval: Some(Interval::from_text(flag).unwrap()),
                ..Overrides::default()
            };
            assert_eq!(
                ServeConfig::assemble(overrides, file("[gc]\ninterval = \"6h\"\n"))
                    .unwrap()
                    .gc
                    .interval,
                expected,
                "{flag}"
            );
        }
        let error = toml::from_str::<FileConfig>("[gc]\ninterval = \"often\"\n").unwrap_err();
        assert!(error.to_string().contains("gc.interval: invalid duration"), "{error}");
    }

    /// Parses a command line with the `serve` or `gc` flags.
    fn parse(command: CliCommand, args: &[&str]) -> Result<Layer, clap::Error> {
        let cli = add_flags(clap::Command::new("t").no_binary_name(true), command);
        let matches = cli.try_get_matches_from(args)?;
        Layer::from_matches(&matches)
    }

    #[test]
    fn flags_follow_from_the_declarations() {
        let layer = parse(
            CliCommand::Serve,
            &[
                "--listen",
                "0.0.0.0:1",
                "--gc-grace-period",
                "2h",
                "--public-url",
                "https://registry.example.com",
                "--trusted-proxies",
                "10.0.0.0/8, 127.0.0.1",
                "--cors-origins",
                "https://a,https://b",
                "--s3-allow-http",
                "true",
            ],
        )
        .unwrap();
        assert_eq!(layer.listen, Some("0.0.0.0:1".parse().unwrap()));
        assert_eq!(layer.gc_grace_period, Some(Duration::from_secs(7200)));
        assert_eq!(layer.public_url.unwrap().as_str(), "https://registry.example.com");
        assert_eq!(layer.trusted_proxies.unwrap().len(), 2);
        assert_eq!(layer.cors_origins.unwrap(), ["https://a", "https://b"]);
        assert_eq!(layer.s3_allow_http, Some(true));

        let layer = parse(CliCommand::Gc, &["--grace-period", "1h", "--data-dir", "/x"]).unwrap();
        assert_eq!(layer.gc_grace_period, Some(Duration::from_secs(3600)));
        assert_eq!(layer.data_dir, Some(PathBuf::from("/x")));
        // Flags of the other command, unknown flags and bad values are refused, naming the flag.
        assert!(parse(CliCommand::Gc, &["--listen", "127.0.0.1:1"]).is_err());
        assert!(parse(CliCommand::Serve, &["--grace-period", "1h"]).is_err());
        let error = parse(CliCommand::Serve, &["--max-header-bytes", "lots"]).unwrap_err();
        assert!(error.to_string().contains("--max-header-bytes"), "{error}");
        let error = parse(CliCommand::Serve, &["--public-url", "registry.example.com"]).unwrap_err();
        assert!(error.to_string().contains("--public-url"), "{error}");
    }

    #[test]
    fn upstreams_repeat_and_take_credentials_together() {
        let layer = parse(
            CliCommand::Serve,
            &[
                "--upstream",
                "http://127.0.0.1:5000",
                "--upstream",
                "https://a.example,https://b.example",
                "--upstream-tag-ttl",
                "10m",
            ],
        )
        .unwrap();
        let config = ServeConfig::assemble(layer, FileConfig::default()).unwrap();
        assert_eq!(
            config.pull_through.upstreams,
            ["http://127.0.0.1:5000", "https://a.example", "https://b.example"]
        );
        assert_eq!(config.pull_through.tag_ttl, Duration::from_secs(600));
        assert_eq!(config.pull_through.load().unwrap().upstreams.len(), 3);
        let config = ServeConfig::assemble(Overrides::default(), FileConfig::default()).unwrap();
        assert!(config.pull_through.upstreams.is_empty());
        assert_eq!(config.pull_through.tag_ttl, DEFAULT_TAG_TTL);
        let alone = file("[pull_through]\nupstreams = [\"http://127.0.0.1:5000\"]\nusername = \"u\"\n");
        assert!(ServeConfig::assemble(Overrides::default(), alone).is_err());
    }

    #[test]
    fn the_environment_sits_between_flags_and_the_file() {
        // Only this test reads RBEE_TRUSTED_PROXIES in this process.
        std::env::set_var("RBEE_TRUSTED_PROXIES", "10.1.0.0/16");
        let from_env = parse(CliCommand::Serve, &[]).unwrap();
        let from_flag = parse(CliCommand::Serve, &["--trusted-proxies", "10.2.0.1"]).unwrap();
        std::env::remove_var("RBEE_TRUSTED_PROXIES");
        let file = file("trusted_proxies = [\"10.3.0.1\"]\n");
        let proxies = |layer: Layer| ServeConfig::assemble(layer, file.clone()).unwrap().trusted_proxies;
        let ip = |text: &str| text.parse().unwrap();
        assert!(proxies(from_env.clone()).contains(ip("10.1.2.3")));
        assert!(!proxies(from_env).contains(ip("10.3.0.1")));
        assert!(proxies(from_flag.clone()).contains(ip("10.2.0.1")));
        assert!(!proxies(from_flag).contains(ip("10.1.2.3")));
        assert!(proxies(Layer::default()).contains(ip("10.3.0.1")));
    }

    #[test]
    fn every_setting_is_declared_sensibly() {
        for (index, setting) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[..index].iter().all(|other| other.key != setting.key),
                "{} twice",
                setting.key
            );
            assert!(
                setting.flags.is_empty() || setting.env.is_some(),
                "{}: a flag without a variable",
                setting.key
            );
            if let Some(env) = setting.env {
                assert!(env.starts_with("RBEE_"), "{env}");
            }
            assert!(!setting.help().is_empty());
        }
    }

    /// README's configuration table is this module's table; `RBEE_UPDATE_README=1` rewrites it.
    #[test]
    fn readme_lists_every_setting() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let start = readme
            .find("| flag | environment | file key | default |")
            .expect("the table's header");
        let end = readme[start..].find("\n\n").map_or(readme.len(), |end| start + end + 1);
        let expected = markdown_table();
        if readme[start..end] != expected && std::env::var_os("RBEE_UPDATE_README").is_some() {
            std::fs::write(&path, format!("{}{expected}{}", &readme[..start], &readme[end..])).unwrap();
            return;
        }
        assert_eq!(
            readme[start..end],
            expected,
            "README's configuration table differs from src/config/settings.rs (RBEE_UPDATE_README=1 rewrites it)"
        );
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rbee-registry.example.toml");
        let file = FileConfig::load(&path).unwrap();
        ServeConfig::assemble(Overrides::default(), file).unwrap();
    }

    #[test]
    fn the_salt_file_is_the_owners_alone() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("analytics-salt");
        let source = SaltSource::File(path.clone());
        let salt = source.load().unwrap();
        assert_eq!(salt.len(), 64);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(source.load().unwrap(), salt, "an existing salt is kept");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(source.load().unwrap(), salt);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
