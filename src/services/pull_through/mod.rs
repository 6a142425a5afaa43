//! The pull-through cache (spec/replication.md, "Pull-through cache"): with upstreams
//! configured, a manifest or blob `GET`/`HEAD` that finds nothing here (or a tag whose last
//! check is older than `tag_ttl`) is fetched from an upstream registry with the one
//! Distribution client, verified against its digest and stored through the registry's
//! normal write paths (`put_manifest`, `upload_monolithic`) in the same repository name;
//! then it is served like anything pushed here.
//!
//! - `manifest.rs`: manifests and tags. A manifest is stored only once every manifest and
//!   blob it references is here (the registry's invariant), so a cold manifest pull brings
//!   its children first.
//! - `blob.rs`: blobs, stored while they stream to the first client.
//! - `flight.rs`: one upstream fetch per blob or manifest at a time in this process
//!   (single-flight); later requests wait for it and read what it stored.
//!
//! The upstream is reached only with the cache's own credentials; the client's request has
//! already passed this registry's bearer check and policies (`routes::bearer`) before any
//! of this runs. When an upstream is down, what is held is served (a tag even past its
//! recheck time).

mod blob;
mod flight;
mod manifest;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::client::upstream::docker_config_credentials;
use crate::client::{ClientError, Credentials, RegistryClient};

pub use flight::FlightError;

/// One upstream registry of the cache.
pub struct UpstreamRegistry {
    /// `host[:port]` of its URL: what containerd's `?ns=` names.
    pub host: String,
    pub client: RegistryClient,
}

/// Only the address: the client holds credentials and the upstream's bearer token.
impl std::fmt::Debug for UpstreamRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRegistry")
            .field("url", &self.client.base_url().as_str())
            .finish_non_exhaustive()
    }
}

/// The cache's settings: its upstreams (the first answers requests without `?ns=`) and how
/// long a cached tag is served before it is checked again.
#[derive(Debug)]
pub struct PullThroughSettings {
    pub upstreams: Vec<Arc<UpstreamRegistry>>,
    pub tag_ttl: Duration,
}

/// Why the pull-through settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PullThroughConfigError {
    #[error("upstream {url}: {source}")]
    Client { url: String, source: ClientError },
}

impl PullThroughSettings {
    /// Upstreams from their URLs. `credentials` (the `--upstream-username`/`--password`
    /// pair) are used with every upstream; without them each upstream's entry of the
    /// Docker `config.json` at `docker_config` (if any) is.
    pub fn new(
        urls: &[String],
        credentials: Option<Credentials>,
        docker_config: Option<&Path>,
        tag_ttl: Duration,
    ) -> Result<Self, PullThroughConfigError> {
        let mut upstreams = Vec::new();
        for url in urls {
            let client_error = |source| PullThroughConfigError::Client {
                url: url.clone(),
                source,
            };
            let probe = RegistryClient::new(url, None).map_err(client_error)?;
            let base = probe.base_url();
            let host = match base.port() {
                Some(port) => format!("{}:{port}", base.host_str().unwrap_or("")),
                None => base.host_str().unwrap_or("").to_string(),
            };
            let credentials = match (&credentials, docker_config) {
                (Some(credentials), _) => Some(credentials.clone()),
                (None, Some(path)) => docker_config_credentials(path, &host).map_err(client_error)?,
                (None, None) => None,
            };
            let client = RegistryClient::new(url, credentials).map_err(client_error)?;
            upstreams.push(Arc::new(UpstreamRegistry { host, client }));
        }
        Ok(PullThroughSettings { upstreams, tag_ttl })
    }
}

/// The cache as the registry holds it: settings and this process's running fetches.
#[derive(Debug)]
pub struct PullThrough {
    settings: PullThroughSettings,
    flights: flight::Flights,
}

impl PullThrough {
    pub fn new(settings: PullThroughSettings) -> Self {
        PullThrough {
            settings,
            flights: flight::Flights::default(),
        }
    }

    /// The upstream a request is for: the one whose host `ns` names, the first without
    /// `ns`; `None` when `ns` names none (the request is answered from what is held).
    fn upstream(&self, ns: Option<&str>) -> Option<Arc<UpstreamRegistry>> {
        match ns {
            None | Some("") => self.settings.upstreams.first().cloned(),
            Some(ns) => self
                .settings
                .upstreams
                .iter()
                .find(|upstream| upstream.host.eq_ignore_ascii_case(ns))
                .cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_selects_the_upstream() {
        let settings = PullThroughSettings::new(
            &["http://127.0.0.1:5000".into(), "https://registry.example".into()],
            Some(Credentials::Basic {
                username: "u".into(),
                password: "pw-secret-text".into(),
            }),
            None,
            Duration::from_secs(300),
        )
        .unwrap();
        let cache = PullThrough::new(settings);
        assert_eq!(cache.upstream(None).unwrap().host, "127.0.0.1:5000");
        assert_eq!(
            cache.upstream(Some("registry.example")).unwrap().host,
            "registry.example"
        );
        assert_eq!(cache.upstream(Some("127.0.0.1:5000")).unwrap().host, "127.0.0.1:5000");
        assert!(cache.upstream(Some("docker.io")).is_none());
        let shown = format!("{cache:?}");
        assert!(
            shown.contains("127.0.0.1:5000") && !shown.contains("pw-secret-text"),
            "{shown}"
        );
    }
}
