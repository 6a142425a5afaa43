//! The `mirror.*` settings assembled into `services::mirror::MirrorSettings`.

use std::time::Duration;

use super::ConfigError;
use crate::client::Credentials;
use crate::services::mirror::{MirrorOptions, MirrorSettings};

/// How often the mirror job runs when `mirror.upstream` is set without `mirror.interval`.
const DEFAULT_MIRROR_INTERVAL: Duration = Duration::from_secs(3600);

#[allow(clippy::too_many_arguments)]
pub(super) fn mirror_settings(
    upstream: Option<String>,
    repos: Vec<String>,
    platforms: Vec<String>,
    interval: Option<Duration>,
    prune: bool,
    (username, password): (Option<String>, Option<String>),
    concurrency: usize,
    stale_after: Duration,
) -> Result<MirrorSettings, ConfigError> {
    if concurrency == 0 {
        return Err(ConfigError::Invalid("mirror.concurrency must be at least 1".into()));
    }
    let credentials = match (username, password) {
        (Some(username), Some(password)) => Some(Credentials::Basic { username, password }),
        (None, None) => None,
        _ => {
            return Err(ConfigError::Invalid(
                "mirror.username and mirror.password go together".into(),
            ))
        }
    };
    let options = match &upstream {
        Some(upstream) => {
            let mut options = MirrorOptions::with_filters(upstream, &repos, &platforms)
                .map_err(|error| ConfigError::Invalid(format!("mirror: {error}")))?;
            options.prune = prune;
            options.concurrency = concurrency;
            Some(options)
        }
        None => None,
    };
    Ok(MirrorSettings {
        interval: upstream.as_ref().map(|_| interval.unwrap_or(DEFAULT_MIRROR_INTERVAL)),
        upstream,
        credentials,
        options,
        stale_after,
        concurrency,
    })
}
