//! Real third-party clients against the registry: skopeo and the ORAS Python SDK.
//! `scripts/test.sh` installs both; without them these tests fail with a message saying so.

use std::path::Path;

use crate::support::*;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

async fn run(program: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(program).args(args).output().await.unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[tokio::test]
async fn skopeo_copies_an_oci_layout_in_and_out_unchanged() {
    require("skopeo");
    require("python3");
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let made = run(
        "python3",
        &[
            repo_root().join("tests/fixtures/make_oci_layout.py").to_str().unwrap(),
            layout.to_str().unwrap(),
            "v1",
        ],
    )
    .await;
    let source_digest = made.trim().to_string();

    let destination = format!("docker://{}/interop/skopeo:v1", app.host());
    run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", layout.display()),
            &destination,
        ],
    )
    .await;
    let out = work.path().join("out");
    run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &destination,
            &format!("oci:{}:v1", out.display()),
        ],
    )
    .await;

    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], source_digest.as_str());
    let registry_digest = app
        .client
        .head(app.url("/v2/interop/skopeo/manifests/v1"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(registry_digest, source_digest);
    // Every blob that came back out is byte-identical to the one that went in.
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let copied = out.join("blobs/sha256").join(entry.file_name());
        assert_eq!(std::fs::read(entry.path()).unwrap(), std::fs::read(copied).unwrap());
    }
    let inspected = run("skopeo", &["inspect", "--tls-verify=false", &destination]).await;
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["Digest"], source_digest.as_str());
}

#[tokio::test]
async fn oras_python_sdk_pushes_and_pulls_a_typed_artifact() {
    require("python3");
    let sdk = std::process::Command::new("python3")
        .args(["-c", "import oras.client"])
        .output()
        .unwrap();
    assert!(
        sdk.status.success(),
        "the ORAS Python SDK is missing; run scripts/test.sh (pip install oras)"
    );
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let printed = run(
        "python3",
        &[
            repo_root().join("tests/interop/oras_artifact.py").to_str().unwrap(),
            &app.host(),
            "workers/oras-demo",
            "0.1.0",
            work.path().to_str().unwrap(),
        ],
    )
    .await;
    let result: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(result["artifactType"], "application/vnd.rbee.test.artifact.v1");
    let digest = result["digest"].as_str().unwrap();
    let manifest: serde_json::Value = app
        .client
        .get(app.url(&format!("/v2/workers/oras-demo/manifests/{digest}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(manifest["artifactType"], "application/vnd.rbee.test.artifact.v1");
    let tags: serde_json::Value = app.get("/v2/workers/oras-demo/tags/list").await.json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["0.1.0", "0.1.0-typed"]));
}

/// Debian's docker-registry (CNCF distribution) on a free port with htpasswd Basic auth
/// (also the mirror tests' upstream).
pub(crate) struct Distribution {
    child: std::process::Child,
    pub(crate) host: String,
    _work: tempfile::TempDir,
}

impl Distribution {
    /// `http://host:port`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    pub(crate) async fn start(user: &str, password: &str) -> Distribution {
        let work = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let hash = bcrypt::hash(password, 5).unwrap();
        std::fs::write(work.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             auth:\n  htpasswd:\n    realm: rbee-test\n    path: {htpasswd}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-{port}\n",
            root = work.path().join("data").display(),
            htpasswd = work.path().join("htpasswd").display(),
        );
        std::fs::write(work.path().join("config.yml"), config).unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(work.path().join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Owned by the guard at once, so a failed start still stops (and reaps) it.
        let distribution = Distribution {
            child,
            host: format!("127.0.0.1:{port}"),
            _work: work,
        };
        let probe = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(response) = probe.get(format!("http://{}/v2/", distribution.host)).send().await {
                assert_eq!(response.status(), 401, "distribution asks for credentials");
                return distribution;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("docker-registry did not start");
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn publish_and_install_go_through_distribution_with_basic_credentials() {
    use rbee_registry::artifact::Platform;
    use rbee_registry::client::install::{install_worker, InstallRequest};
    use rbee_registry::client::progress::Silent;
    use rbee_registry::client::{Credentials, RegistryClient};

    require("docker-registry");
    require("skopeo");
    let registry = Distribution::start("ci", "s3cret").await;
    let work = tempfile::tempdir().unwrap();
    let worker = "llm-worker-rbee-cpu";
    let credentials = |password: &str| Credentials::Basic {
        username: "ci".into(),
        password: password.into(),
    };

    // A wrong password is refused, and nothing is published.
    let wrong = RegistryClient::new(&format!("http://{}", registry.host), Some(credentials("nope"))).unwrap();
    let refused =
        crate::worker_fixtures::publish_worker_with(&wrong, work.path(), worker, "1.0.0", &["linux/amd64"], None).await;
    let refusal = refused
        .expect_err("publishing with a wrong password must fail")
        .to_string();
    assert!(refusal.contains("401") || refusal.contains("UNAUTHORIZED"), "{refusal}");

    let client = RegistryClient::new(&format!("http://{}", registry.host), Some(credentials("s3cret"))).unwrap();
    crate::worker_fixtures::publish_worker_with(
        &client,
        work.path(),
        worker,
        "1.0.0",
        &["linux/amd64", "linux/arm64"],
        None,
    )
    .await
    .unwrap();

    // A stock client sees the index with both platforms.
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "ci:s3cret",
            &format!("docker://{}/workers/{worker}:1.0.0", registry.host),
        ],
    )
    .await;
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            format!(
                "{}/{}",
                entry["platform"]["os"].as_str().unwrap(),
                entry["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    // And install pulls one platform back through the same credentials.
    let prefix = work.path().join("prefix");
    let request = InstallRequest {
        worker_id: worker.into(),
        version: Some("1.0.0".into()),
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        prefix: prefix.clone(),
    };
    let report = install_worker(&client, &request, &mut Silent).await.unwrap();
    assert_eq!(report.binary, prefix.join("bin").join(worker));
    assert!(report.binary.exists());
}
