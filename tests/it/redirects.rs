//! Blob downloads redirected (`307`) to presigned URLs of the S3-compatible store, followed
//! by real clients (curl and skopeo) and checked byte for byte. Needs the S3 server that
//! scripts/test.sh starts (`TEST_S3_*`); the database is the suite's backend.

use std::time::Duration;

use rbee_registry::config::StorageConfig;

use crate::support::*;

/// A site whose blobs live in the test bucket with redirects on; `None` without S3.
async fn redirecting_site() -> Option<std::sync::Arc<TestSite>> {
    let s3 = test_s3_config(&format!("redirect-{}", uuid::Uuid::new_v4().simple()))?;
    let site = TestSite::with_backend(TestBackend::from_env(), move |storage| {
        *storage = StorageConfig::S3(rbee_registry::storage::S3Config {
            redirect_downloads: Some(Duration::from_secs(300)),
            ..s3
        });
    })
    .await;
    eprintln!("redirect test on {:?} metadata with S3 blobs", site.backend);
    Some(site)
}

async fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let output = tokio::process::Command::new(program).args(args).output().await.unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn curl_follows_the_redirect_to_the_exact_bytes() {
    let Some(site) = redirecting_site().await else {
        eprintln!("skipped: no S3 server configured (scripts/test.sh starts one and sets TEST_S3_*)");
        return;
    };
    let app = site.start().await;
    // Past one 5 MiB part, so the blob was written as a multipart upload.
    let data = bytes_of(6 * 1024 * 1024 + 11, 42);
    let digest = app.push_blob("presigned/blob", &data).await;
    let url = app.url(&format!("/v2/presigned/blob/blobs/{digest}"));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = client.get(&url).send().await.unwrap();
    assert_eq!(redirect.status(), 307);
    assert_eq!(redirect.headers()["docker-content-digest"], digest.as_str());
    let location = redirect.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&std::env::var("TEST_S3_ENDPOINT").unwrap()),
        "{location}"
    );
    assert!(location.contains("X-Amz-Signature="), "{location}");
    // HEAD is answered by the registry itself.
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], data.len().to_string().as_str());

    assert!(have("curl"), "curl is not installed; run scripts/test.sh");
    let whole = run("curl", &["--silent", "--show-error", "--fail", "--location", &url]).await;
    assert!(whole == data, "curl -L got {} bytes that differ", whole.len());
    let part = run("curl", &["-sSfL", "--range", "1000-1999", &url]).await;
    assert!(part == data[1000..2000], "ranged download differs");
}

#[tokio::test]
async fn skopeo_pulls_through_redirects_unchanged() {
    let Some(site) = redirecting_site().await else {
        eprintln!("skipped: no S3 server configured (scripts/test.sh starts one and sets TEST_S3_*)");
        return;
    };
    assert!(have("skopeo"), "skopeo is not installed; run scripts/test.sh");
    let app = site.start().await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_oci_layout.py");
    run("python3", &[fixture.to_str().unwrap(), layout.to_str().unwrap(), "v1"]).await;
    let image = format!("docker://{}/presigned/image:v1", app.host());
    let source = format!("oci:{}:v1", layout.display());
    run("skopeo", &["copy", "--dest-tls-verify=false", &source, &image]).await;
    let out = work.path().join("out");
    let destination = format!("oci:{}:v1", out.display());
    run("skopeo", &["copy", "--src-tls-verify=false", &image, &destination]).await;
    // Every blob that came back out (through a presigned URL) is byte-identical.
    let mut compared = 0;
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let copied = std::fs::read(out.join("blobs/sha256").join(entry.file_name())).unwrap();
        assert!(
            std::fs::read(entry.path()).unwrap() == copied,
            "{:?} differs",
            entry.file_name()
        );
        compared += 1;
    }
    assert!(compared >= 3, "config, layer and manifest were compared");
    // And the layer really is served by redirect.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let manifest: serde_json::Value = client
        .get(app.url("/v2/presigned/image/manifests/v1"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let response = client
        .get(app.url(&format!("/v2/presigned/image/blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
}

#[tokio::test]
async fn the_v1_download_endpoint_hands_out_the_presigned_url_and_counts_it() {
    let Some(site) = redirecting_site().await else {
        eprintln!("skipped: no S3 server configured (scripts/test.sh starts one and sets TEST_S3_*)");
        return;
    };
    let app = site.start().await;
    let work = tempfile::tempdir().unwrap();
    let worker = "llm-worker-rbee-cpu";
    crate::worker_fixtures::publish_worker(&app, work.path(), worker, "1.0.0", &["linux/arm64"], None).await;

    let download: serde_json::Value = app
        .get(&format!("/v1/workers/{worker}/1.0.0/download?platform=linux-aarch64"))
        .await
        .json()
        .await
        .unwrap();
    let url = download["download_url"].as_str().unwrap();
    assert!(url.starts_with(&std::env::var("TEST_S3_ENDPOINT").unwrap()), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert_eq!(download["expires_in"], 300);
    // Straight from the bucket, byte for byte.
    let bytes = run("curl", &["-sf", url]).await;
    assert_eq!(sha256(&bytes), download["checksum"].as_str().unwrap());
    assert_eq!(bytes.len() as u64, download["size"].as_u64().unwrap());

    // Handed out once through the endpoint, redirected once through /v2: two downloads.
    let blob_url = app.url(&format!(
        "/v2/workers/{worker}/blobs/{}",
        download["checksum"].as_str().unwrap()
    ));
    let followed = run("curl", &["-sfL", &blob_url]).await;
    assert_eq!(followed, bytes);
    let stats_path = format!("/v1/workers/{worker}/stats");
    crate::worker_fixtures::eventually("two counted downloads", || async {
        let stats: serde_json::Value = app.get(&stats_path).await.json().await.unwrap();
        stats["downloads"]["total"] == 2
    })
    .await;
}
