//! `rbee-registry mirror`: replicate repositories from an upstream registry into this one
//! (spec/replication.md, "Mirrors"), once or every `--interval`, with the same database and
//! storage options as `gc`; safe while `serve` runs (it takes the upstream's job lease).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rbee_registry::client::upstream::docker_config_credentials;
use rbee_registry::client::{progress, Credentials, RegistryClient};
use rbee_registry::config::{parse_duration, GcFlags};
use rbee_registry::server;
use rbee_registry::services::mirror::{MirrorOptions, SharedProgress, DEFAULT_CHUNK_BYTES};

#[derive(clap::Args)]
pub struct MirrorArgs {
    /// The upstream registry: http(s)://host[:port], or host[:port] (HTTPS unless loopback).
    #[arg(long)]
    upstream: String,
    /// A repository (or pattern: `workers/*`, `team/**`) to copy; repeatable. Without it,
    /// every repository of the upstream's `_catalog`.
    #[arg(long = "repo")]
    repos: Vec<String>,
    /// A platform (`linux/amd64` or `linux-x86_64`) to copy of each index; repeatable.
    /// Indexes are stored as given (sparse); without it, every platform.
    #[arg(long = "platform")]
    platforms: Vec<String>,
    /// Run once and exit (the default).
    #[arg(long, conflicts_with = "interval")]
    once: bool,
    /// Run every so often (30m, 1h) until stopped.
    #[arg(long, value_parser = |text: &str| parse_duration(text).map_err(|e| e.to_string()))]
    interval: Option<std::time::Duration>,
    /// Remove local tags the upstream no longer has (without it nothing is deleted).
    #[arg(long)]
    prune: bool,
    /// Upstream user name (with --password).
    #[arg(long, env = "RBEE_UPSTREAM_USERNAME")]
    username: Option<String>,
    /// Upstream password or token.
    #[arg(long, env = "RBEE_UPSTREAM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Docker config.json with `auths.<host>.auth` [default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json], read when no user name is given.
    #[arg(long)]
    docker_config: Option<PathBuf>,
    /// PEM file of CA certificates to trust for the upstream.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Blobs copied at once [default: the setting mirror.concurrency].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Bytes per stored chunk of a blob copy: the unit a cut copy resumes from.
    #[arg(long, default_value_t = DEFAULT_CHUNK_BYTES)]
    chunk_size: u64,
    /// Cap on the bytes received per second over all copies.
    #[arg(long)]
    max_bytes_per_second: Option<u64>,
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// The database and storage settings (declared in `rbee_registry::config`).
    #[command(flatten)]
    settings: GcFlags,
}

/// The credentials a Docker config file holds for `upstream` (its `host:port`, else its
/// host): the client's one reader of `config.json`.
fn docker_credentials(path: &Path, upstream: &url::Url) -> Result<Option<Credentials>, String> {
    let host = upstream.host_str().unwrap_or_default();
    let mut keys = vec![host.to_string()];
    if let Some(port) = upstream.port() {
        keys.insert(0, format!("{host}:{port}"));
    }
    for key in keys {
        if let Some(credentials) = docker_config_credentials(path, &key).map_err(|error| error.to_string())? {
            return Ok(Some(credentials));
        }
    }
    Ok(None)
}

fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

impl MirrorArgs {
    fn client(&self) -> Result<RegistryClient, String> {
        let probe = RegistryClient::new(&self.upstream, None).map_err(|e| e.to_string())?;
        let credentials = match (&self.username, &self.password) {
            (Some(username), Some(password)) => Some(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            (Some(_), None) => return Err("--username needs --password (or RBEE_UPSTREAM_PASSWORD)".into()),
            (None, Some(_)) => return Err("--password needs --username (or RBEE_UPSTREAM_USERNAME)".into()),
            (None, None) => match self.docker_config.clone().or_else(default_docker_config) {
                Some(path) => docker_credentials(&path, probe.base_url())?,
                None => None,
            },
        };
        let client = RegistryClient::new(&self.upstream, credentials).map_err(|e| e.to_string())?;
        match &self.ca_file {
            Some(path) => client.trusting_ca_file(path).map_err(|e| e.to_string()),
            None => Ok(client),
        }
    }
}

pub async fn run_mirror(args: MirrorArgs) -> Result<(), String> {
    let config = crate::assemble(args.config.as_deref(), args.settings.0.clone())?;
    let registry = server::open_registry(&config).await.map_err(|e| e.to_string())?;
    let client = args.client()?;
    let mut options = MirrorOptions::with_filters(&args.upstream, &args.repos, &args.platforms)?;
    options.upstream = client.base_url().as_str().trim_end_matches('/').to_string();
    options.prune = args.prune;
    options.concurrency = args.concurrency.unwrap_or(config.mirror.concurrency).max(1);
    options.chunk_bytes = args.chunk_size;
    options.max_bytes_per_second = args.max_bytes_per_second;
    let _ = args.once;
    loop {
        let display: SharedProgress = Arc::new(Mutex::new(progress::for_stderr()));
        let outcome = registry.run_mirror_once(&client, &options, display).await;
        let failed = match outcome {
            Ok(report) => {
                for error in &report.errors {
                    eprintln!("error: {error}");
                }
                println!("{}", report.summary());
                (!report.errors.is_empty()).then(|| format!("{} errors", report.errors.len()))
            }
            Err(error) => Some(error.to_string()),
        };
        let Some(interval) = args.interval else {
            return match failed {
                Some(error) => Err(format!("the mirror run failed: {error}")),
                None => Ok(()),
            };
        };
        if let Some(error) = failed {
            eprintln!(
                "error: the mirror run failed: {error}; next run in {}s",
                interval.as_secs()
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn docker_config_credentials_are_found_by_host_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        std::fs::write(
            &path,
            serde_json::json!({"auths": {
                "https://other.example.com": {"auth": "eDp5"},
                "registry.example.com:5000": {"auth": auth},
            }})
            .to_string(),
        )
        .unwrap();
        let url = url::Url::parse("https://registry.example.com:5000").unwrap();
        match docker_credentials(&path, &url).unwrap() {
            Some(Credentials::Basic { username, password }) => {
                assert_eq!((username.as_str(), password.as_str()), ("ci", "s3cret"))
            }
            other => panic!("{other:?}"),
        }
        let elsewhere = url::Url::parse("https://registry.example.com").unwrap();
        assert!(docker_credentials(&path, &elsewhere).unwrap().is_none());
        assert!(docker_credentials(&dir.path().join("absent.json"), &url)
            .unwrap()
            .is_none());
        std::fs::write(&path, r#"{"auths": {"registry.example.com:5000": {"auth": "!!"}}}"#).unwrap();
        assert!(docker_credentials(&path, &url).is_err());
    }
}
