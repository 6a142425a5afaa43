//! The table of settings: one declaration per setting (field, type, default, file key,
//! environment variable, flags, documentation), and what follows from it: the layers
//! (`Layer`: the file, or the flags with the environment), the subcommands' flags
//! (`ServeFlags`, `GcFlags`), the resolved `Settings` and README's table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::values::{Interval, Secret, SettingValue, StorageBackend};
use super::*;
use crate::auth::AuthMode;
use crate::routes::edge::TrustedProxies;
use crate::services::tokens::{DEFAULT_SERVICE, DEFAULT_TOKEN_LIFETIME};
use crate::services::{PublicUrl, RegistryLimits};

/// The subcommands that take settings as flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliCommand {
    Serve,
    Gc,
}

impl CliCommand {
    fn name(self) -> &'static str {
        match self {
            CliCommand::Serve => "serve",
            CliCommand::Gc => "gc",
        }
    }
}

/// What the table declares about one setting.
#[derive(Debug)]
pub struct SettingDef {
    /// Key in the TOML file, dotted by section (`limits.max_header_bytes`).
    pub key: &'static str,
    /// Environment variable, if any.
    pub env: Option<&'static str>,
    /// The flag (without `--`) in each subcommand that takes one.
    pub flags: &'static [(CliCommand, &'static str)],
    /// The default as README shows it (Markdown).
    pub default: &'static str,
    /// Documentation lines (the `///` comments).
    pub doc: &'static [&'static str],
    /// A secret: the environment's value is hidden from `--help`, and `Debug` redacts it.
    pub secret: bool,
    /// A list: its flag may be given several times (the values add up), besides commas.
    pub list: bool,
    /// Checks a flag's or the environment's text (clap reports a failure with the flag's name).
    check: fn(&str) -> Result<(), String>,
}

impl SettingDef {
    /// The documentation as one line.
    pub fn help(&self) -> String {
        self.doc.iter().map(|line| line.trim()).collect::<Vec<_>>().join(" ")
    }
}

fn check<T: SettingValue>(text: &str) -> Result<(), String> {
    T::from_text(text).map(drop).map_err(|error| error.to_string())
}

/// The table of settings. Each entry declares
/// `field: Type [= default] => { key, env, flags, default (as README shows it) }`; a setting
/// without a default here (`Option` after resolution) has one computed in `assemble`.
macro_rules! settings {
    (@resolved $ty:ty) => { Option<$ty> };
    (@resolved $ty:ty, $default:expr) => { $ty };
    (@value $value:expr) => { $value };
    (@value $value:expr, $default:expr) => { $value.unwrap_or_else(|| $default) };
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty $(= $default:expr)? => {
            key: $key:literal,
            env: $env:expr,
            flags: [$(($command:ident, $flag:literal)),* $(,)?],
            default: $shown:literal $(,)?
        }
    )*) => {
        /// Every setting, in README's order.
        pub static SETTINGS: &[SettingDef] = &[$(
            SettingDef {
                key: $key,
                env: $env,
                flags: &[$((CliCommand::$command, $flag)),*],
                default: $shown,
                doc: &[$($doc),+],
                secret: <$ty as SettingValue>::SECRET,
                list: <$ty as SettingValue>::LIST,
                check: check::<$ty>,
            }
        ),*];

        /// One layer of settings (the flags and environment, or the file): what it sets.
        #[derive(Debug, Default, Clone)]
        pub struct Layer {
            $($(#[doc = $doc])+ pub $field: Option<$ty>,)*
        }

        impl Layer {
            /// This layer's values, and `lower`'s where this one sets nothing.
            pub fn or(self, lower: Layer) -> Layer {
                Layer { $($field: self.$field.or(lower.$field),)* }
            }

            /// The values of a parsed TOML file.
            pub fn from_table(table: &toml::Table) -> Result<Layer, ConfigError> {
                check_known_keys(table, "")?;
                Ok(Layer {$(
                    $field: lookup(table, $key)
                        .map(|value| {
                            <$ty as SettingValue>::from_toml(value).map_err(|source| ConfigError::Setting {
                                key: $key,
                                source: Box::new(source),
                            })
                        })
                        .transpose()?,
                )*})
            }

            /// The values clap found in flags and the environment.
            pub(super) fn from_matches(matches: &clap::ArgMatches) -> Result<Layer, clap::Error> {
                Ok(Layer {$(
                    $field: match matches.try_get_many::<String>($key) {
                        // A repeated list flag's values join as one comma-separated list.
                        Ok(Some(values)) => Some(<$ty as SettingValue>::from_text(
                            &values.map(String::as_str).collect::<Vec<_>>().join(","),
                        ).map_err(|error| {
                            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{}: {error}\n", $key))
                        })?),
                        _ => None,
                    },
                )*})
            }
        }

        /// Every setting after precedence: a declared default fills what no layer set.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $($(#[doc = $doc])+ pub $field: settings!(@resolved $ty $(, $default)?),)*
        }

        impl Settings {
            /// `layer` over the declared defaults.
            pub fn resolve(layer: Layer) -> Settings {
                Settings { $($field: settings!(@value layer.$field $(, $default)?),)* }
            }
        }
    };
}

settings! {
    /// Address to listen on.
    listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8787)) => {
        key: "listen", env: Some("RBEE_LISTEN"), flags: [(Serve, "listen")],
        default: "`127.0.0.1:8787`",
    }
    /// PEM file of the TLS certificate chain to serve HTTPS with (with `tls.key`).
    tls_cert: PathBuf => {
        key: "tls.cert", env: Some("RBEE_TLS_CERT"), flags: [(Serve, "tls-cert")],
        default: "none (plain HTTP)",
    }
    /// PEM file of the TLS private key (PKCS#8, PKCS#1 or SEC1; with `tls.cert`).
    tls_key: PathBuf => {
        key: "tls.key", env: Some("RBEE_TLS_KEY"), flags: [(Serve, "tls-key")],
        default: "none (plain HTTP)",
    }
    /// The base URL clients reach the registry at; the URLs it hands out start with it.
    public_url: PublicUrl => {
        key: "public_url", env: Some("RBEE_PUBLIC_URL"), flags: [(Serve, "public-url")],
        default: "`http://<listen address>` (`https://` with TLS)",
    }
    /// Addresses or CIDRs of reverse proxies whose `Forwarded`/`X-Forwarded-Host`/`-Proto`
    /// headers are believed (comma-separated).
    trusted_proxies: TrustedProxies = TrustedProxies::default() => {
        key: "trusted_proxies", env: Some("RBEE_TRUSTED_PROXIES"), flags: [(Serve, "trusted-proxies")],
        default: "none (forwarded headers are ignored)",
    }
    /// Data directory for the SQLite database and blobs.
    data_dir: PathBuf = PathBuf::from(DEFAULT_DATA_DIR) => {
        key: "data_dir", env: Some("RBEE_DATA_DIR"), flags: [(Serve, "data-dir"), (Gc, "data-dir")],
        default: "`./data`",
    }
    /// Metadata database URL, sqlite://… or postgres://….
    database_url: String => {
        key: "database_url", env: Some("RBEE_DATABASE_URL"),
        flags: [(Serve, "database-url"), (Gc, "database-url")],
        default: "`sqlite://<data_dir>/registry.db?mode=rwc`",
    }
    /// Blob storage backend: filesystem or s3.
    storage_backend: StorageBackend = StorageBackend::Filesystem => {
        key: "storage.backend", env: Some("RBEE_STORAGE_BACKEND"),
        flags: [(Serve, "storage-backend"), (Gc, "storage-backend")],
        default: "`filesystem` (or `s3`)",
    }
    /// Directory for blobs.
    storage_path: PathBuf => {
        key: "storage.path", env: Some("RBEE_STORAGE_PATH"),
        flags: [(Serve, "storage-path"), (Gc, "storage-path")],
        default: "`<data_dir>/blobs`",
    }
    /// fsync blobs before they become visible.
    storage_fsync: bool = true => {
        key: "storage.fsync", env: None, flags: [],
        default: "`true`",
    }
    /// Largest manifest accepted, bytes.
    max_manifest_bytes: usize = RegistryLimits::default().max_manifest_bytes => {
        key: "limits.max_manifest_bytes", env: Some("RBEE_MAX_MANIFEST_BYTES"),
        flags: [(Serve, "max-manifest-bytes")],
        default: "`4194304`",
    }
    /// Largest blob accepted (all chunks of an upload), bytes.
    max_blob_bytes: u64 = RegistryLimits::default().max_blob_bytes => {
        key: "limits.max_blob_bytes", env: Some("RBEE_MAX_BLOB_BYTES"), flags: [(Serve, "max-blob-bytes")],
        default: "`68719476736` (64 GiB; `413 SIZE_INVALID` past it)",
    }
    /// Largest request head (request line and headers), bytes.
    max_header_bytes: usize = DEFAULT_MAX_HEADER_BYTES => {
        key: "limits.max_header_bytes", env: Some("RBEE_MAX_HEADER_BYTES"), flags: [(Serve, "max-header-bytes")],
        default: "`65536` (`431` past it; at least 8192)",
    }
    /// Blob upload requests one client address may run at once.
    max_uploads_per_client: usize = DEFAULT_MAX_UPLOADS_PER_CLIENT => {
        key: "limits.max_uploads_per_client", env: Some("RBEE_MAX_UPLOADS_PER_CLIENT"),
        flags: [(Serve, "max-uploads-per-client")],
        default: "`16` (`429 TOOMANYREQUESTS` past it)",
    }
    /// Seconds an upload session may stay idle before it expires.
    upload_session_ttl_secs: u64 = RegistryLimits::default().upload_session_ttl.as_secs() => {
        key: "limits.upload_session_ttl_secs", env: Some("RBEE_UPLOAD_SESSION_TTL_SECS"),
        flags: [(Serve, "upload-session-ttl-secs")],
        default: "`86400` (idle sessions expire: `BLOB_UPLOAD_UNKNOWN`)",
    }
    /// Seconds running requests get to finish after SIGTERM or Ctrl-C.
    shutdown_grace_secs: u64 = DEFAULT_SHUTDOWN_GRACE_SECS => {
        key: "server.shutdown_grace_secs", env: Some("RBEE_SHUTDOWN_GRACE_SECS"),
        flags: [(Serve, "shutdown-grace-secs")],
        default: "`30`",
    }
    /// Origins allowed to call the catalog API from browsers (CORS), comma-separated.
    cors_origins: Vec<String> = Vec::new() => {
        key: "api.cors_origins", env: Some("RBEE_CORS_ORIGINS"), flags: [(Serve, "cors-origins")],
        default: "none (comma-separated / list)",
    }
    /// Salt of the hashed client addresses in download analytics. Processes sharing one
    /// database must share it.
    analytics_salt: Secret => {
        key: "analytics.salt", env: Some("RBEE_ANALYTICS_SALT"), flags: [(Serve, "analytics-salt")],
        default: "random, in `<data_dir>/analytics-salt`",
    }
    /// S3 endpoint URL.
    s3_endpoint: String => {
        key: "storage.s3.endpoint", env: Some("RBEE_S3_ENDPOINT"),
        flags: [(Serve, "s3-endpoint"), (Gc, "s3-endpoint")],
        default: "AWS",
    }
    /// S3 region.
    s3_region: String = "us-east-1".to_string() => {
        key: "storage.s3.region", env: Some("RBEE_S3_REGION"), flags: [(Serve, "s3-region"), (Gc, "s3-region")],
        default: "`us-east-1`",
    }
    /// S3 bucket.
    s3_bucket: String => {
        key: "storage.s3.bucket", env: Some("RBEE_S3_BUCKET"), flags: [(Serve, "s3-bucket"), (Gc, "s3-bucket")],
        default: "required for `s3`",
    }
    /// Key prefix inside the bucket.
    s3_prefix: String => {
        key: "storage.s3.prefix", env: Some("RBEE_S3_PREFIX"), flags: [(Serve, "s3-prefix"), (Gc, "s3-prefix")],
        default: "none",
    }
    /// S3 access key id.
    s3_access_key_id: String => {
        key: "storage.s3.access_key_id", env: Some("RBEE_S3_ACCESS_KEY_ID"),
        flags: [(Serve, "s3-access-key-id"), (Gc, "s3-access-key-id")],
        default: "none",
    }
    /// S3 secret access key (prefer the environment or the file).
    s3_secret_access_key: Secret => {
        key: "storage.s3.secret_access_key", env: Some("RBEE_S3_SECRET_ACCESS_KEY"),
        flags: [(Serve, "s3-secret-access-key"), (Gc, "s3-secret-access-key")],
        default: "none",
    }
    /// Allow an http:// S3 endpoint.
    s3_allow_http: bool = false => {
        key: "storage.s3.allow_http", env: Some("RBEE_S3_ALLOW_HTTP"),
        flags: [(Serve, "s3-allow-http"), (Gc, "s3-allow-http")],
        default: "`false`",
    }
    /// `bucket.host` addressing instead of path style (`host/bucket`).
    s3_virtual_hosted_style: bool = false => {
        key: "storage.s3.virtual_hosted_style", env: None, flags: [],
        default: "`false` (path style)",
    }
    /// Answer blob downloads with 307 redirects to presigned URLs.
    s3_redirect_downloads: bool = false => {
        key: "storage.s3.redirect_downloads", env: Some("RBEE_S3_REDIRECT_DOWNLOADS"),
        flags: [(Serve, "s3-redirect-downloads"), (Gc, "s3-redirect-downloads")],
        default: "`false`",
    }
    /// How long a presigned download URL stays valid.
    s3_presign_expiry: Duration = DEFAULT_PRESIGN_EXPIRY => {
        key: "storage.s3.presign_expiry", env: None, flags: [],
        default: "`15m`",
    }
    /// Keep blobs and links touched more recently than this (30m, 24h, 7d).
    gc_grace_period: Duration = DEFAULT_GC_GRACE_PERIOD => {
        key: "gc.grace_period", env: Some("RBEE_GC_GRACE_PERIOD"),
        flags: [(Gc, "grace-period"), (Serve, "gc-grace-period")],
        default: "`24h`",
    }
    /// Remove upload sessions untouched for longer than this.
    gc_upload_max_age: Duration = DEFAULT_UPLOAD_MAX_AGE => {
        key: "gc.upload_max_age", env: Some("RBEE_GC_UPLOAD_MAX_AGE"),
        flags: [(Gc, "upload-max-age"), (Serve, "gc-upload-max-age")],
        default: "`7d`",
    }
    /// Token authentication: `on` (Docker token auth) or `off` (an open registry, for a
    /// trusted network; logged at start).
    auth_mode: AuthMode = AuthMode::On => {
        key: "auth.mode", env: Some("RBEE_AUTH"), flags: [(Serve, "auth")],
        default: "`on` (`off`: no authentication)",
    }
    /// Anonymous callers may pull repositories that need no license.
    auth_anonymous_pull: bool = true => {
        key: "auth.anonymous_pull", env: Some("RBEE_AUTH_ANONYMOUS_PULL"), flags: [(Serve, "anonymous-pull")],
        default: "`true`",
    }
    /// Lifetime of the tokens `/token` hands out.
    auth_token_lifetime: Duration = DEFAULT_TOKEN_LIFETIME => {
        key: "auth.token_lifetime", env: Some("RBEE_AUTH_TOKEN_LIFETIME"), flags: [(Serve, "token-lifetime")],
        default: "`5m`",
    }
    /// The token `service` (challenges' `service`, the tokens' audience and issuer).
    auth_service: String = DEFAULT_SERVICE.to_string() => {
        key: "auth.service", env: Some("RBEE_AUTH_SERVICE"), flags: [(Serve, "token-service")],
        default: "`rbee-registry`",
    }
    /// Token requests one client address may make per minute.
    auth_token_rate_limit: u64 = DEFAULT_TOKEN_RATE_LIMIT => {
        key: "auth.token_rate_limit", env: Some("RBEE_AUTH_TOKEN_RATE_LIMIT"),
        flags: [(Serve, "token-rate-limit")],
        default: "`600` (`429` past it)",
    }
    /// A file of public keys (`rbee-registry license public-key` prints it) that verify
    /// license tokens besides the database's own keys: a registry with only this file
    /// verifies licenses offline, and cannot issue them.
    license_verify_keys: PathBuf => {
        key: "license.verify_keys", env: Some("RBEE_LICENSE_VERIFY_KEYS"), flags: [(Serve, "license-verify-keys")],
        default: "none (the database's keys)",
    }
    /// How long a download URL from `GET /v1/workers/:id/:version/download` works without
    /// credentials (the registry's own signed URLs; presigned S3 URLs follow
    /// `storage.s3.presign_expiry`).
    download_url_expiry: Duration = DEFAULT_DOWNLOAD_URL_EXPIRY => {
        key: "license.download_url_expiry", env: Some("RBEE_DOWNLOAD_URL_EXPIRY"),
        flags: [(Serve, "download-url-expiry")],
        default: "`1h`",
    }
    /// Collect garbage every so often while serving (6h; off).
    gc_interval: Interval = Interval(None) => {
        key: "gc.interval", env: Some("RBEE_GC_INTERVAL"), flags: [(Serve, "gc-interval")],
        default: "off (`6h`: `serve` collects garbage every 6 h; `off` or `0`: never)",
    }
    /// Where the Git worker catalog comes from: an http(s):// Git URL or a local repository
    /// path, fetched into `<data_dir>/catalog.git` by each sync (spec/catalog.md).
    catalog_source: String => {
        key: "catalog.source", env: Some("RBEE_CATALOG_SOURCE"), flags: [(Serve, "catalog-source")],
        default: "none (`<data_dir>/catalog.git`, made by `catalog init`, is the catalog)",
    }
    /// Sync the catalog every so often while serving (15m; off).
    catalog_interval: Interval = Interval(None) => {
        key: "catalog.interval", env: Some("RBEE_CATALOG_INTERVAL"), flags: [(Serve, "catalog-interval")],
        default: "off (syncs only on `POST /v1/catalog/sync` or `catalog sync`)",
    }
    /// Secret of the push webhooks that trigger `POST /v1/catalog/sync` (`X-Hub-Signature-256`).
    catalog_webhook_secret: Secret => {
        key: "catalog.webhook_secret", env: Some("RBEE_CATALOG_WEBHOOK_SECRET"), flags: [],
        default: "none (the webhook endpoint refuses every request)",
    }
    /// Upstream registries of the pull-through cache (URLs: `--upstream` repeated or
    /// comma-separated, a list in the file): a
    /// manifest or blob not held here is fetched from the first, or from the one whose
    /// `host[:port]` a request's `?ns=` names, verified and stored.
    pull_through_upstreams: Vec<String> = Vec::new() => {
        key: "pull_through.upstreams", env: Some("RBEE_UPSTREAMS"), flags: [(Serve, "upstream")],
        default: "none (no pull-through cache)",
    }
    /// Username for the upstreams (with `pull_through.password`).
    pull_through_username: String => {
        key: "pull_through.username", env: Some("RBEE_UPSTREAM_USERNAME"), flags: [(Serve, "upstream-username")],
        default: "none (the Docker config, else anonymous)",
    }
    /// Password or token for the upstreams (prefer the environment or the file).
    pull_through_password: Secret => {
        key: "pull_through.password", env: Some("RBEE_UPSTREAM_PASSWORD"), flags: [(Serve, "upstream-password")],
        default: "none",
    }
    /// Docker `config.json` whose `auths` entry for an upstream's host gives its
    /// credentials when no username is set.
    pull_through_docker_config: PathBuf => {
        key: "pull_through.docker_config", env: Some("RBEE_UPSTREAM_DOCKER_CONFIG"),
        flags: [(Serve, "upstream-docker-config")],
        default: "`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`",
    }
    /// How long a cached tag is served before it is checked against its upstream again
    /// (with the upstream down it is served anyway).
    pull_through_tag_ttl: Duration = DEFAULT_TAG_TTL => {
        key: "pull_through.tag_ttl", env: Some("RBEE_UPSTREAM_TAG_TTL"), flags: [(Serve, "upstream-tag-ttl")],
        default: "`5m`",
    }
    /// An upstream registry `serve` mirrors periodically (with `mirror.interval`): its URL
    /// (spec/replication.md, "Mirrors"; `rbee-registry mirror` does the same once).
    mirror_upstream: String => {
        key: "mirror.upstream", env: Some("RBEE_MIRROR_UPSTREAM"), flags: [(Serve, "mirror-upstream")],
        default: "none (no mirror job)",
    }
    /// Repositories the mirror job copies: names or patterns (`workers/*`, `team/**`),
    /// comma-separated; empty: every repository of the upstream's `_catalog`.
    mirror_repos: Vec<String> = Vec::new() => {
        key: "mirror.repos", env: Some("RBEE_MIRROR_REPOS"), flags: [(Serve, "mirror-repos")],
        default: "all (the upstream's `_catalog`)",
    }
    /// Platforms the mirror job copies of each index (`linux/amd64`, comma-separated); the
    /// index is stored as given (sparse); empty: every platform.
    mirror_platforms: Vec<String> = Vec::new() => {
        key: "mirror.platforms", env: Some("RBEE_MIRROR_PLATFORMS"), flags: [(Serve, "mirror-platforms")],
        default: "all",
    }
    /// How often the mirror job runs (15m; off).
    mirror_interval: Interval = Interval(None) => {
        key: "mirror.interval", env: Some("RBEE_MIRROR_INTERVAL"), flags: [(Serve, "mirror-interval")],
        default: "off (with `mirror.upstream`: `1h`)",
    }
    /// The mirror job removes local tags the upstream no longer has.
    mirror_prune: bool = false => {
        key: "mirror.prune", env: Some("RBEE_MIRROR_PRUNE"), flags: [(Serve, "mirror-prune")],
        default: "`false` (nothing is deleted)",
    }
    /// User name for the mirror job's upstream (with `mirror.password`).
    mirror_username: String => {
        key: "mirror.username", env: Some("RBEE_MIRROR_USERNAME"), flags: [],
        default: "none (anonymous)",
    }
    /// Password or token for the mirror job's upstream.
    mirror_password: Secret => {
        key: "mirror.password", env: Some("RBEE_MIRROR_PASSWORD"), flags: [],
        default: "none",
    }
    /// Blobs a mirror copies at once (the job, and `mirror`'s default).
    mirror_concurrency: usize = crate::services::mirror::DEFAULT_CONCURRENCY => {
        key: "mirror.concurrency", env: Some("RBEE_MIRROR_CONCURRENCY"), flags: [(Serve, "mirror-concurrency")],
        default: "`4`",
    }
    /// `/readyz` lists (in its body; the status stays) mirrored repositories whose last
    /// successful run is older than this.
    mirror_stale_after: Duration = crate::services::mirror::DEFAULT_STALE_AFTER => {
        key: "mirror.stale_after", env: Some("RBEE_MIRROR_STALE_AFTER"), flags: [(Serve, "mirror-stale-after")],
        default: "`24h`",
    }
}

/// The value at a dotted key of the file.
fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let (sections, leaf) = match key.rsplit_once('.') {
        Some((sections, leaf)) => (Some(sections), leaf),
        None => (None, key),
    };
    let mut table = table;
    for section in sections.into_iter().flat_map(|sections| sections.split('.')) {
        table = table.get(section)?.as_table()?;
    }
    table.get(leaf)
}

/// Refuses a key of the file that no setting declares (a typo would be ignored otherwise).
fn check_known_keys(table: &toml::Table, prefix: &str) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = format!("{prefix}{name}");
        if SETTINGS.iter().any(|setting| setting.key == key) {
            continue;
        }
        let section = format!("{key}.");
        match value {
            toml::Value::Table(inner) if SETTINGS.iter().any(|setting| setting.key.starts_with(&section)) => {
                check_known_keys(inner, &section)?
            }
            _ => return Err(ConfigError::UnknownKey(key)),
        }
    }
    Ok(())
}

/// The TOML file's settings.
pub type FileConfig = Layer;
/// Settings given on the command line or in the environment (already merged by clap).
pub type Overrides = Layer;

impl<'de> serde::Deserialize<'de> for Layer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(deserializer)?;
        Layer::from_table(&table).map_err(serde::de::Error::custom)
    }
}

impl Layer {
    /// Reads and parses the TOML file at `path`.
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

/// Adds `command`'s flags, each with its environment variable, to a clap command.
pub(super) fn add_flags(mut cli: clap::Command, command: CliCommand) -> clap::Command {
    for setting in SETTINGS {
        let Some((_, flag)) = setting.flags.iter().find(|(of, _)| *of == command) else {
            continue;
        };
        let check = setting.check;
        let mut arg = clap::Arg::new(setting.key)
            .long(*flag)
            .value_name(flag.to_uppercase().replace('-', "_"))
            .action(if setting.list {
                clap::ArgAction::Append
            } else {
                clap::ArgAction::Set
            })
            .value_parser(move |text: &str| check(text).map(|()| text.to_string()))
            .help(format!(
                "{} [default: {}]",
                setting.help(),
                setting.default.replace('`', "")
            ));
        if let Some(env) = setting.env {
            arg = arg.env(env).hide_env_values(setting.secret);
        }
        cli = cli.arg(arg);
    }
    cli
}

macro_rules! command_flags {
    ($($name:ident => $command:expr),*) => {$(
        /// The flags of one subcommand (with their environment variables) as a settings layer.
        #[derive(Debug, Default, Clone)]
        pub struct $name(pub Layer);

        impl clap::FromArgMatches for $name {
            fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
                Layer::from_matches(matches).map($name)
            }

            fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
                self.0 = Layer::from_matches(matches)?.or(std::mem::take(&mut self.0));
                Ok(())
            }
        }

        impl clap::Args for $name {
            fn augment_args(cli: clap::Command) -> clap::Command {
                add_flags(cli, $command)
            }

            fn augment_args_for_update(cli: clap::Command) -> clap::Command {
                add_flags(cli, $command)
            }
        }
    )*};
}

command_flags!(ServeFlags => CliCommand::Serve, GcFlags => CliCommand::Gc);

/// README's configuration table, rendered from the declarations.
pub fn markdown_table() -> String {
    let mut table = String::from("| flag | environment | file key | default |\n|---|---|---|---|\n");
    for setting in SETTINGS {
        let same_everywhere = setting.flags.windows(2).all(|pair| pair[0].1 == pair[1].1);
        let flags = if same_everywhere {
            setting
                .flags
                .first()
                .map(|(_, flag)| format!("`--{flag}`"))
                .unwrap_or_default()
        } else {
            setting
                .flags
                .iter()
                .map(|(command, flag)| format!("`{} --{flag}`", command.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let env = setting.env.map(|env| format!("`{env}`")).unwrap_or_default();
        let cells = [flags, env, format!("`{}`", setting.key), setting.default.to_string()];
        let cells: Vec<String> = cells
            .iter()
            .map(|cell| {
                if cell.is_empty() {
                    " ".into()
                } else {
                    format!(" {cell} ")
                }
            })
            .collect();
        table.push_str(&format!("|{}|\n", cells.join("|")));
    }
    table
}
