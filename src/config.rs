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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::routes::edge::TrustedProxies;
use crate::services::{PublicUrl, RegistryLimits};
use crate::storage::S3Config;

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
/// Default grace period of garbage collection: younger blobs and links are never removed.
pub const DEFAULT_GC_GRACE_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// Default age past which an untouched upload session is removed.
pub const DEFAULT_UPLOAD_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

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
            fn from_matches(matches: &clap::ArgMatches) -> Result<Layer, clap::Error> {
                Ok(Layer {$(
                    $field: match matches.try_get_one::<String>($key) {
                        Ok(Some(text)) => Some(<$ty as SettingValue>::from_text(text).map_err(|error| {
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
    /// The base URL clients reach the registry at; the URLs it hands out start with it.
    public_url: PublicUrl => {
        key: "public_url", env: Some("RBEE_PUBLIC_URL"), flags: [(Serve, "public-url")],
        default: "`http://<listen address>`",
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
    /// Collect garbage every so often while serving (6h; off).
    gc_interval: Interval = Interval(None) => {
        key: "gc.interval", env: Some("RBEE_GC_INTERVAL"), flags: [(Serve, "gc-interval")],
        default: "off (`6h`: `serve` collects garbage every 6 h; `off` or `0`: never)",
    }
}

/// A value a setting can hold: parsed from a flag's or the environment's text, or from the
/// TOML file (where strings go through the same parser unless the type says otherwise).
pub trait SettingValue: Sized {
    /// Never shown: `Debug` redacts it and `--help` hides its environment value.
    const SECRET: bool = false;

    fn from_text(text: &str) -> Result<Self, ConfigError>;

    fn from_toml(value: &toml::Value) -> Result<Self, ConfigError> {
        match value {
            toml::Value::String(text) => Self::from_text(text),
            other => Err(ConfigError::Invalid(format!(
                "expected a string, found {}",
                other.type_str()
            ))),
        }
    }
}

impl SettingValue for String {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        Ok(text.to_string())
    }
}

impl SettingValue for PathBuf {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        Ok(PathBuf::from(text))
    }
}

impl SettingValue for SocketAddr {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        text.parse().map_err(|_| ConfigError::Listen(text.to_string()))
    }
}

impl SettingValue for bool {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        match text {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ConfigError::Invalid(format!("{text:?} is not true or false"))),
        }
    }

    fn from_toml(value: &toml::Value) -> Result<Self, ConfigError> {
        value
            .as_bool()
            .ok_or_else(|| ConfigError::Invalid(format!("expected a boolean, found {}", value.type_str())))
    }
}

macro_rules! integer_setting {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn from_text(text: &str) -> Result<Self, ConfigError> {
                text.parse()
                    .map_err(|_| ConfigError::Invalid(format!("{text:?} is not a non-negative integer")))
            }

            fn from_toml(value: &toml::Value) -> Result<Self, ConfigError> {
                value
                    .as_integer()
                    .and_then(|number| <$ty>::try_from(number).ok())
                    .ok_or_else(|| ConfigError::Invalid(format!("expected a non-negative integer, found {value}")))
            }
        }
    )*};
}

integer_setting!(u64, usize);

impl SettingValue for Duration {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        parse_duration(text)
    }
}

/// A list: comma-separated in a flag or the environment, an array of strings in the file.
impl SettingValue for Vec<String> {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect())
    }

    fn from_toml(value: &toml::Value) -> Result<Self, ConfigError> {
        let items = value
            .as_array()
            .ok_or_else(|| ConfigError::Invalid(format!("expected a list of strings, found {}", value.type_str())))?;
        items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ConfigError::Invalid(format!("expected a string in the list, found {item}")))
            })
            .collect()
    }
}

impl SettingValue for PublicUrl {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        PublicUrl::parse(text).map_err(|error| ConfigError::Invalid(error.to_string()))
    }
}

impl SettingValue for TrustedProxies {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        TrustedProxies::parse(Vec::<String>::from_text(text)?.iter().map(String::as_str)).map_err(ConfigError::Invalid)
    }

    fn from_toml(value: &toml::Value) -> Result<Self, ConfigError> {
        TrustedProxies::parse(Vec::<String>::from_toml(value)?.iter().map(String::as_str)).map_err(ConfigError::Invalid)
    }
}

/// A secret setting's text; `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl SettingValue for Secret {
    const SECRET: bool = true;

    fn from_text(text: &str) -> Result<Self, ConfigError> {
        Ok(Secret(text.to_string()))
    }
}

/// `storage.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageBackend {
    Filesystem,
    S3,
}

impl SettingValue for StorageBackend {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        match text {
            "filesystem" | "fs" => Ok(StorageBackend::Filesystem),
            "s3" => Ok(StorageBackend::S3),
            other => Err(ConfigError::StorageBackend(other.to_string())),
        }
    }
}

/// A GC interval: a duration, or `off` / `0` for no periodic collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Option<Duration>);

impl SettingValue for Interval {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(Interval(None));
        }
        let interval = parse_duration(text)?;
        Ok(Interval((!interval.is_zero()).then_some(interval)))
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
fn add_flags(mut cli: clap::Command, command: CliCommand) -> clap::Command {
    for setting in SETTINGS {
        let Some((_, flag)) = setting.flags.iter().find(|(of, _)| *of == command) else {
            continue;
        };
        let check = setting.check;
        let mut arg = clap::Arg::new(setting.key)
            .long(*flag)
            .value_name(flag.to_uppercase().replace('-', "_"))
            .action(clap::ArgAction::Set)
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

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// The base of the URLs the registry hands out; `None`: `http://` and the bound address.
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
}

/// The salt of client-address hashes: given, or kept in a file of the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaltSource {
    Given(Secret),
    File(PathBuf),
}

impl SaltSource {
    /// The salt bytes; a missing salt file is created with 32 random bytes.
    pub fn load(&self) -> std::io::Result<Vec<u8>> {
        match self {
            SaltSource::Given(salt) => Ok(salt.expose().as_bytes().to_vec()),
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
    /// Merges overrides over the file over defaults, and checks what the types cannot.
    pub fn assemble(overrides: Overrides, file: FileConfig) -> Result<Self, ConfigError> {
        let settings = Settings::resolve(overrides.or(file));
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
                secret_access_key: settings.s3_secret_access_key.map(|secret| secret.0),
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
        if limits.upload_session_ttl.is_zero() {
            return Err(ConfigError::Invalid(
                "limits.upload_session_ttl_secs must be at least 1".into(),
            ));
        }
        let analytics_salt = match settings.analytics_salt {
            Some(salt) => SaltSource::Given(salt),
            None => SaltSource::File(data_dir.join("analytics-salt")),
        };
        Ok(ServeConfig {
            listen: settings.listen,
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
        })
    }
}

#[cfg(test)]
mod tests {
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
             [analytics]\nsalt = \"salt-secret-text\"\n",
        );
        let shown = format!("{file:?}");
        let config = ServeConfig::assemble(file.clone(), FileConfig::default()).unwrap();
        for shown in [shown, format!("{config:?}"), format!("{:?}", Settings::resolve(file))] {
            assert!(!shown.contains("s3-secret-text"), "{shown}");
            assert!(!shown.contains("salt-secret-text"), "{shown}");
        }
        let secrets: Vec<_> = SETTINGS
            .iter()
            .filter(|setting| setting.secret)
            .map(|s| s.key)
            .collect();
        assert_eq!(secrets, ["analytics.salt", "storage.s3.secret_access_key"]);
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
            "README's configuration table differs from src/config.rs (RBEE_UPDATE_README=1 rewrites it)"
        );
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rbee-registry.example.toml");
        let file = FileConfig::load(&path).unwrap();
        ServeConfig::assemble(Overrides::default(), file).unwrap();
    }
}
