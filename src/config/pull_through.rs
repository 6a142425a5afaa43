//! The pull-through cache's settings as `serve` assembles them, turned into the services'
//! `PullThroughSettings` (with one client per upstream) when the registry opens.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use crate::client::Credentials;
use crate::services::pull_through::PullThroughSettings;

/// Default time a cached tag is served before it is checked against its upstream again.
pub const DEFAULT_TAG_TTL: Duration = Duration::from_secs(5 * 60);

/// `pull_through.*`: the upstreams, their credentials and the tag recheck time.
#[derive(Debug, Clone, Default)]
pub struct PullThroughConfig {
    /// Upstream registry URLs; empty: no pull-through.
    pub upstreams: Vec<String>,
    /// Credentials for every upstream (`Debug` redacts the password).
    pub credentials: Option<Credentials>,
    /// A Docker `config.json` to take each upstream's credentials from when none are given.
    pub docker_config: Option<PathBuf>,
    pub tag_ttl: Duration,
}

impl PullThroughConfig {
    /// Checks the settings `assemble` read.
    pub(super) fn new(
        upstreams: Vec<String>,
        username: Option<String>,
        password: Option<String>,
        docker_config: Option<PathBuf>,
        tag_ttl: Duration,
    ) -> Result<Self, ConfigError> {
        let credentials = match (username, password) {
            (Some(username), Some(password)) => Some(Credentials::Basic { username, password }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "pull_through.username and pull_through.password go together".into(),
                ))
            }
        };
        let docker_config = docker_config.or_else(|| {
            let directory = std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))?;
            Some(directory.join("config.json"))
        });
        Ok(PullThroughConfig {
            upstreams,
            credentials,
            docker_config,
            tag_ttl,
        })
    }

    /// The services' settings: one client per upstream, with its credentials.
    pub fn load(&self) -> Result<PullThroughSettings, ConfigError> {
        PullThroughSettings::new(
            &self.upstreams,
            self.credentials.clone(),
            self.docker_config.as_deref(),
            self.tag_ttl,
        )
        .map_err(|error| ConfigError::Invalid(format!("pull_through.upstreams: {error}")))
    }
}
