//! The premium download flow of the design document over HTTP, on the suite's backend: a
//! worker made premium by its policy before its first push answers `403 {error,
//! purchase_url}` without a license that covers it, and with one a `download_url` that
//! fetches the exact bytes without credentials, fails when altered, and stops working when it
//! expires; a revoked license is refused at once. Open workers' URLs need no credential.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::licenses_cli::{cli, create_publisher, issue_license, PREMIUM};
use crate::support::*;
use crate::worker_fixtures::{metadata, package, publish_worker};

const CPU: &str = "llm-worker-rbee-cpu";

/// A site where PREMIUM is premium (set before its push) and both workers are published.
async fn premium_site(
    configure: impl FnOnce(&mut rbee_registry::config::ServeConfig),
) -> (std::sync::Arc<TestSite>, TestApp, tempfile::TempDir) {
    let site = TestSite::new().await;
    cli(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "true"]);
    let app = site.start_configured(Default::default(), configure).await;
    let work = tempfile::tempdir().unwrap();
    publish_worker(&app, work.path(), PREMIUM, "0.1.0", &["linux/amd64"], None).await;
    publish_worker(&app, work.path(), CPU, "0.1.0", &["linux/amd64"], None).await;
    (site, app, work)
}

fn download_path(worker: &str) -> String {
    format!("/v1/workers/{worker}/0.1.0/download?platform=linux-x86_64")
}

/// The download answer for `worker` with an optional `Authorization` value.
async fn download(app: &TestApp, worker: &str, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.client.get(app.url(&download_path(worker)));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Fetches a download URL without any credential: its status and bytes.
async fn fetch(url: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

fn purchase_url() -> Value {
    metadata(PREMIUM, "0.1.0")["pricing"]["purchase_url"].clone()
}

#[tokio::test]
async fn premium_download_needs_a_license_and_says_where_to_buy() {
    let (site, app, _work) = premium_site(|_| {}).await;

    // No license, a bad one, one for another worker: 403 with the purchase link.
    let (status, body) = download(&app, PREMIUM, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "License required");
    assert_eq!(body["purchase_url"], purchase_url());
    let other = issue_license(&site, &[CPU], "30d");
    for authorization in [
        format!("Bearer {other}"),
        "Bearer rbee_lic_AAAA".to_string(),
        "Bearer nonsense".to_string(),
    ] {
        let (status, body) = download(&app, PREMIUM, Some(&authorization)).await;
        assert_eq!(status, 403, "{authorization}: {body}");
        assert_eq!(body["purchase_url"], purchase_url());
    }
    // The catalog metadata stays public; the installer reads the purchase link from it.
    let record: Value = app.get(&format!("/v1/workers/{PREMIUM}")).await.json().await.unwrap();
    assert_eq!(record["metadata"]["distribution"]["requires_license"], true);
    let client = crate::worker_fixtures::client(&app);
    assert_eq!(
        client.purchase_url(PREMIUM).await.map(Value::from),
        Some(purchase_url())
    );

    // With the license: a URL that works without credentials and gives the exact bytes.
    let license = issue_license(&site, &[PREMIUM], "30d");
    let (status, body) = download(&app, PREMIUM, Some(&format!("Bearer {license}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3600);
    let url = body["download_url"].as_str().unwrap().to_string();
    let (status, bytes) = fetch(&url).await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&bytes), body["checksum"].as_str().unwrap());
    assert_eq!(bytes.len() as u64, body["size"].as_u64().unwrap());
    assert_eq!(bytes, package(PREMIUM, "0.1.0", "linux/amd64"));
    // The license as a Basic password, and a publisher token for the worker, work too.
    let basic = format!("Basic {}", base64_of(&format!("anyone:{license}")));
    assert_eq!(download(&app, PREMIUM, Some(&basic)).await.0, 200);
    let publisher = create_publisher(&site, "ci", &["workers/*"], &[]);
    assert_eq!(
        download(&app, PREMIUM, Some(&format!("Bearer {publisher}"))).await.0,
        200
    );

    // Altered in any part: refused, with a clear body.
    if site.backend == TestBackend::SqliteFs || url.contains("/v1/blobs/") {
        let cpu_repository = format!("repository=workers/{CPU}");
        for altered in [
            url.replace("signature=", "signature=0"),
            url.replace(&format!("repository=workers/{PREMIUM}"), &cpu_repository),
            url.replacen("expires=", "expires=9", 1),
            url.replacen("sha256:", "sha256:0", 1),
            url.split('&').next().unwrap().to_string(),
        ] {
            let response = reqwest::get(&altered).await.unwrap();
            assert_eq!(response.status(), 403, "{altered}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "DOWNLOAD_URL_INVALID", "{altered}");
        }
    }

    // Revoked: refused at once.
    cli(&site, &["license", "revoke", &license]);
    let (status, body) = download(&app, PREMIUM, Some(&format!("Bearer {license}"))).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (403, Some("Invalid license"))
    );

    // An open worker: no credential needed, and its URL works without one.
    let (status, body) = download(&app, CPU, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, bytes) = fetch(body["download_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&bytes), body["checksum"].as_str().unwrap());
}

#[tokio::test]
async fn premium_download_urls_stop_working_after_their_expiry() {
    let (site, app, _work) = premium_site(|config| {
        config.licenses.download_url_expiry = Duration::from_secs(1);
    })
    .await;
    let license = issue_license(&site, &[PREMIUM], "30d");
    let (status, body) = download(&app, PREMIUM, Some(&format!("Bearer {license}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 1);
    let url = body["download_url"].as_str().unwrap();
    assert_eq!(fetch(url).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "DOWNLOAD_URL_EXPIRED", "{body}");
}

/// On S3 with redirects on, the URL is the bucket's presigned one: the bytes, then refused
/// when altered or expired.
#[tokio::test]
async fn premium_download_on_s3_hands_out_presigned_urls() {
    let Some(s3) = test_s3_config(&format!("premium-{}", uuid::Uuid::new_v4().simple())) else {
        eprintln!("skipped: no S3 server configured (scripts/test.sh starts one and sets TEST_S3_*)");
        return;
    };
    let site = TestSite::with_backend(TestBackend::from_env(), move |storage| {
        *storage = rbee_registry::config::StorageConfig::S3(rbee_registry::storage::S3Config {
            redirect_downloads: Some(Duration::from_secs(3)),
            ..s3
        });
    })
    .await;
    cli(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "true"]);
    let app = site.start().await;
    let work = tempfile::tempdir().unwrap();
    publish_worker(&app, work.path(), PREMIUM, "0.1.0", &["linux/amd64"], None).await;
    assert_eq!(download(&app, PREMIUM, None).await.0, 403);
    let license = issue_license(&site, &[PREMIUM], "30d");
    let (status, body) = download(&app, PREMIUM, Some(&format!("Bearer {license}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3);
    let url = body["download_url"].as_str().unwrap();
    assert!(!url.starts_with(&app.base_url), "a presigned bucket URL: {url}");
    let (status, bytes) = fetch(url).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(sha256(&bytes), body["checksum"].as_str().unwrap());
    assert_eq!(
        fetch(&url.replace("X-Amz-Signature=", "X-Amz-Signature=0")).await.0,
        403
    );
    // The bucket's clock decides; it refuses the URL within a few seconds of its expiry.
    let mut refused = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if fetch(url).await.0 == 403 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the presigned URL still works 10 s after its 3 s expiry");
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `rbee-registry install` takes the license from `RBEE_LICENSE_TOKEN` (or `--license`) and
/// sends it in the token flow. Until `/v2` checks tokens (the auth work), this shows the
/// plumbing: the install with a license succeeds, and a license beside other credentials is
/// refused as ambiguous.
#[tokio::test]
async fn premium_install_takes_the_license_from_the_environment() {
    let (site, app, work) = premium_site(|_| {}).await;
    let license = issue_license(&site, &[PREMIUM], "30d");
    let prefix = work.path().join("prefix");
    // A process that talks to this test's own server: awaited, never blocked on.
    let install = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rbee-registry"));
        command
            .args([
                "install",
                PREMIUM,
                "--platform",
                "linux/amd64",
                "--registry",
                &app.base_url,
            ])
            .arg("--prefix")
            .arg(&prefix)
            .args(extra)
            .env("RBEE_LICENSE_TOKEN", &license)
            .env("RBEE_LOG", "warn");
        command.output()
    };
    let output = install(&[]).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(prefix.join("bin").join(PREMIUM).exists());
    let output = install(&["--username", "u", "--password", "p"]).await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--license"));
}
