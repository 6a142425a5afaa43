//! How each type of setting is read: from a flag's or the environment's text, or from the
//! TOML file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use crate::auth::AuthMode;
use crate::routes::edge::TrustedProxies;
use crate::services::PublicUrl;

/// A value a setting can hold: parsed from a flag's or the environment's text, or from the
/// TOML file (where strings go through the same parser unless the type says otherwise).
pub trait SettingValue: Sized {
    /// Never shown: `Debug` redacts it and `--help` hides its environment value.
    const SECRET: bool = false;
    /// A list of values (comma-separated in one flag, or the flag repeated).
    const LIST: bool = false;

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
    const LIST: bool = true;

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

    pub fn into_inner(self) -> String {
        self.0
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

/// `auth.mode`: `on` or `off`.
impl SettingValue for AuthMode {
    fn from_text(text: &str) -> Result<Self, ConfigError> {
        match text {
            "on" => Ok(AuthMode::On),
            "off" => Ok(AuthMode::Off),
            other => Err(ConfigError::Invalid(format!("{other:?} is not on or off"))),
        }
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
