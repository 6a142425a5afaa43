//! Issue 12's pull-through cache with two registry processes: an origin (the real binary,
//! protected, its own process so that its `/metrics` counts only its own requests) where CI
//! published a premium worker with a publisher token, and a cache (`serve --upstream` with
//! the publisher's credentials) in front of it. skopeo pulls the worker through the cache
//! (only with a license the cache itself checks), bytes equal; ten concurrent pulls of a cold
//! blob make one upstream fetch; with the origin stopped, the same tag pull still works; a
//! client that hangs up mid-blob does not stop the store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rbee_registry::client::{Credentials, RegistryClient};
use rbee_registry::config::{FileConfig, PullThroughConfig};
use rbee_registry::oci::Reference;

use crate::auth_premium::run;
use crate::licenses_cli::{cli, create_publisher, issue_license, PREMIUM};
use crate::support::*;
use crate::worker_fixtures::{package, publish_worker_with};

/// A registry served by the real binary in a process of its own (`rbee-registry serve`,
/// authentication on), on `site`'s database and storage.
pub struct Origin {
    pub base_url: String,
    child: tokio::process::Child,
}

impl Origin {
    pub async fn start(site: &TestSite) -> Origin {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut command =
            tokio::process::Command::from(site.command_of(&["serve", "--auth", "on", "--listen", &listen]));
        command.kill_on_drop(true).stdout(std::process::Stdio::null());
        let child = command.spawn().unwrap();
        let base_url = format!("http://{listen}");
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(response) = client.get(format!("{base_url}/healthz")).send().await {
                if response.status().is_success() {
                    return Origin { base_url, child };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the origin did not start on {listen}");
    }

    /// Blob `GET`s the origin answered with `200`, from its own `/metrics`.
    pub async fn blob_fetches(&self) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.base_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        counter_sum(
            &text,
            "rbee_http_requests_total{",
            &[r#"route="blob""#, r#"method="GET""#, r#"status="200""#],
        )
    }

    /// Stops the process (it is ours: we started it).
    pub async fn stop(mut self) {
        self.child.kill().await.unwrap();
        let _ = self.child.wait().await;
    }
}

/// The sum of a Prometheus text exposition's samples of `series` whose labels include all
/// of `labels`.
pub fn counter_sum(text: &str, series: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(series) && labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The cache's pull-through settings: `upstream`, with the publisher's credentials.
pub fn pull_through(upstream: &str, credentials: Option<Credentials>, tag_ttl: Duration) -> PullThroughConfig {
    PullThroughConfig {
        upstreams: vec![upstream.to_string()],
        credentials,
        docker_config: None,
        tag_ttl,
    }
}

fn publisher_credentials(publisher: &str) -> Credentials {
    Credentials::Basic {
        username: "ci".into(),
        password: publisher.into(),
    }
}

/// `skopeo copy --all` of `workers/<worker>:0.1.0` from `host` into an OCI layout.
async fn skopeo_pull(host: &str, worker: &str, out: &Path, creds: Option<&str>) -> std::process::Output {
    let destination = format!("oci:{}:0.1.0", out.display());
    let source = format!("docker://{host}/workers/{worker}:0.1.0");
    let mut args = vec!["copy", "--all", "--src-tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--src-creds", creds]);
    }
    args.extend([source.as_str(), destination.as_str()]);
    run("skopeo", &args).await
}

fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The layout holds each platform's package byte for byte.
fn assert_packages_in_layout(out: &Path, worker: &str, platforms: &[&str]) {
    for platform in platforms {
        let expected = package(worker, "0.1.0", platform);
        let digest = sha256(&expected);
        let path = out.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
        let held = std::fs::read(&path).unwrap_or_else(|error| panic!("{platform} package missing: {error}"));
        assert!(held == expected, "{platform}: the package's bytes differ");
    }
}

const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

#[tokio::test]
async fn a_worker_pulled_through_the_cache_and_again_with_the_origin_stopped() {
    assert!(have("skopeo"), "skopeo is not installed; run scripts/test.sh");
    let work = tempfile::tempdir().unwrap();

    // The origin: PREMIUM needs a license there; CI publishes it with a publisher token.
    let origin_site = TestSite::new().await;
    cli(
        &origin_site,
        &["worker", "set-policy", PREMIUM, "--requires-license", "true"],
    );
    let publisher = create_publisher(&origin_site, "ci", &["workers/*"], &[]);
    let origin = Origin::start(&origin_site).await;
    let origin_client = RegistryClient::new(&origin.base_url, Some(publisher_credentials(&publisher))).unwrap();
    publish_worker_with(
        &origin_client,
        work.path(),
        PREMIUM,
        "0.1.0",
        &PLATFORMS,
        Some("pkgname=x\n"),
    )
    .await
    .unwrap();
    let published = origin_client
        .get_manifest(&format!("workers/{PREMIUM}"), &Reference::parse("0.1.0").unwrap(), &[])
        .await
        .unwrap();

    // The cache: protected, PREMIUM needs a license here too (its own rules), and it
    // reaches the origin with the publisher's credentials. Every tag pull rechecks the tag.
    let cache_site = TestSite::new().await;
    cli(
        &cache_site,
        &["worker", "set-policy", PREMIUM, "--requires-license", "true"],
    );
    let cache = cache_site
        .start_configured(FileConfig::default(), |config| {
            config.auth.mode = rbee_registry::auth::AuthMode::On;
            config.pull_through = pull_through(
                &origin.base_url,
                Some(publisher_credentials(&publisher)),
                Duration::ZERO,
            );
        })
        .await;

    // Without a license the cache refuses before anything is fetched from the origin.
    let refused = skopeo_pull(&cache.host(), PREMIUM, &work.path().join("anonymous"), None).await;
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert_eq!(
        cache
            .get(&format!("/v2/workers/{PREMIUM}/manifests/0.1.0"))
            .await
            .status(),
        401
    );
    assert_eq!(
        origin.blob_fetches().await,
        0,
        "an unauthorized pull reached the origin"
    );

    // With a license issued by the cache: the whole version, byte for byte.
    let license = issue_license(&cache_site, &[PREMIUM], "30d");
    let creds = format!("any:{license}");
    let first = work.path().join("first");
    let pulled = skopeo_pull(&cache.host(), PREMIUM, &first, Some(&creds)).await;
    assert!(
        pulled.status.success(),
        "skopeo through the cache: {}",
        output_text(&pulled)
    );
    assert_packages_in_layout(&first, PREMIUM, &PLATFORMS);
    // The index the cache serves is the origin's, byte for byte.
    let licensed = RegistryClient::new(
        &cache.base_url,
        Some(Credentials::Basic {
            username: "any".into(),
            password: license.clone(),
        }),
    )
    .unwrap();
    let cached = licensed
        .get_manifest(&format!("workers/{PREMIUM}"), &Reference::parse("0.1.0").unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(cached.digest, published.digest);
    assert!(cached.content == published.content);
    let fetched = origin.blob_fetches().await;
    assert!(fetched >= 4, "configs and packages came from the origin: {fetched}");

    // A second pull is served from the cache: no blob is fetched again.
    let second = work.path().join("second");
    let pulled = skopeo_pull(&cache.host(), PREMIUM, &second, Some(&creds)).await;
    assert!(pulled.status.success(), "{}", output_text(&pulled));
    assert_eq!(origin.blob_fetches().await, fetched);

    // The origin stops; the same tag pull still works (the tag's recheck fails, the held
    // tag is served).
    origin.stop().await;
    let offline = work.path().join("offline");
    let pulled = skopeo_pull(&cache.host(), PREMIUM, &offline, Some(&creds)).await;
    assert!(
        pulled.status.success(),
        "pull with the origin stopped: {}",
        output_text(&pulled)
    );
    assert_packages_in_layout(&offline, PREMIUM, &PLATFORMS);
    let cached = licensed
        .get_manifest(&format!("workers/{PREMIUM}"), &Reference::parse("0.1.0").unwrap(), &[])
        .await
        .unwrap();
    assert!(cached.content == published.content);
    let metrics = cache.get("/metrics").await.text().await.unwrap();
    assert!(
        counter_sum(
            &metrics,
            "rbee_pull_through_errors_total{",
            &[r#"reason="stale_served""#]
        ) >= 1,
        "{metrics}"
    );
    assert!(counter_sum(&metrics, "rbee_pull_through_hits_total{", &[]) >= 1);
    cache.stop().await;
}

#[tokio::test]
async fn ten_concurrent_pulls_of_a_cold_blob_make_one_upstream_fetch() {
    let origin_site = TestSite::new().await;
    let publisher = create_publisher(&origin_site, "ci", &["workers/*"], &[]);
    let origin = Origin::start(&origin_site).await;
    let origin_client = RegistryClient::new(&origin.base_url, Some(publisher_credentials(&publisher))).unwrap();
    let content = Arc::new(bytes_of(24 * 1024 * 1024, 7));
    let digest = origin_client
        .push_blob_bytes("workers/big-blob", &content)
        .await
        .unwrap();
    assert_eq!(origin.blob_fetches().await, 0);

    let cache_site = TestSite::new().await;
    let cache = cache_site
        .start_configured(FileConfig::default(), |config| {
            config.pull_through = pull_through(
                &origin.base_url,
                Some(publisher_credentials(&publisher)),
                Duration::from_secs(300),
            );
        })
        .await;
    let url = cache.url(&format!("/v2/workers/big-blob/blobs/{digest}"));
    let pulls: Vec<_> = (0..10)
        .map(|_| {
            let (client, url, content) = (cache.client.clone(), url.clone(), content.clone());
            tokio::spawn(async move {
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let body = response.bytes().await.unwrap();
                assert!(body[..] == content[..], "a client got other bytes");
            })
        })
        .collect();
    for pull in pulls {
        pull.await.unwrap();
    }
    assert_eq!(
        origin.blob_fetches().await,
        1,
        "ten cold pulls made more than one upstream fetch"
    );
    // Held now: another pull does not reach the origin.
    let again = cache.get(&format!("/v2/workers/big-blob/blobs/{digest}")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(sha256(&again.bytes().await.unwrap()), digest.to_string());
    assert_eq!(origin.blob_fetches().await, 1);
    let metrics = cache.get("/metrics").await.text().await.unwrap();
    assert!(
        counter_sum(
            &metrics,
            "rbee_pull_through_upstream_fetches_total{",
            &[r#"kind="blob""#]
        ) >= 1
    );
    cache.stop().await;
    origin.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_mid_blob_does_not_stop_the_store() {
    let origin_site = TestSite::new().await;
    let publisher = create_publisher(&origin_site, "ci", &["workers/*"], &[]);
    let origin = Origin::start(&origin_site).await;
    let origin_client = RegistryClient::new(&origin.base_url, Some(publisher_credentials(&publisher))).unwrap();
    let content = bytes_of(24 * 1024 * 1024, 11);
    let digest = origin_client
        .push_blob_bytes("workers/left-early", &content)
        .await
        .unwrap();
    let cache = TestSite::new()
        .await
        .start_configured(FileConfig::default(), |config| {
            config.pull_through = pull_through(
                &origin.base_url,
                Some(publisher_credentials(&publisher)),
                Duration::from_secs(300),
            );
        })
        .await;
    let path = format!("/v2/workers/left-early/blobs/{digest}");

    // The first client reads one chunk of the streaming blob and hangs up.
    let mut response = cache.get(&path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(content.len() as u64));
    let first = response.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty() && first[..] == content[..first.len()]);
    drop(response);

    // The fetch went on: the next client gets the whole blob, verified and stored, and the
    // origin was asked once.
    let again = cache.get(&path).await;
    assert_eq!(again.status(), 200);
    assert!(again.bytes().await.unwrap()[..] == content[..]);
    assert_eq!(origin.blob_fetches().await, 1);
    assert_eq!(cache.stored_blobs().await.len(), 1);
    cache.stop().await;
    origin.stop().await;
}
