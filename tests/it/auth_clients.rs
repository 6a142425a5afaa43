//! Real clients on a protected registry (the default configuration): skopeo and the ORAS
//! Python SDK pull an open repository anonymously (learning the realm from the `GET /v2/`
//! challenge), skopeo pushes with the admin token as its password, and an anonymous push is
//! refused.

use std::path::Path;

use crate::auth_support::*;
use crate::support::*;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(program).args(args).output().await.unwrap()
}

fn succeeded(output: &std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[tokio::test]
async fn skopeo_pushes_with_the_admin_token_and_pulls_anonymously() {
    require("skopeo");
    require("python3");
    let app = TestApp::start_protected().await;
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
    let digest = succeeded(&made, "make_oci_layout.py").trim().to_string();
    let source = format!("oci:{}:v1", layout.display());
    let destination = format!("docker://{}/workers/skopeo-demo:v1", app.host());

    // Anonymous push: refused (the anonymous token has no push).
    let anonymous = run("skopeo", &["copy", "--dest-tls-verify=false", &source, &destination]).await;
    assert!(!anonymous.status.success(), "an anonymous push succeeded");
    let stderr = String::from_utf8_lossy(&anonymous.stderr).to_lowercase();
    assert!(
        stderr.contains("unauthorized") || stderr.contains("401") || stderr.contains("authentication required"),
        "{stderr}"
    );

    // The admin token as the password of any user name.
    let creds = format!("any:{}", admin_secret(&app));
    let pushed = run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &source,
            &destination,
        ],
    )
    .await;
    succeeded(&pushed, "skopeo copy with the admin token");

    // Anonymous pull of the open repository.
    let inspected = run("skopeo", &["inspect", "--tls-verify=false", &destination]).await;
    let inspected: serde_json::Value = serde_json::from_str(&succeeded(&inspected, "skopeo inspect")).unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    let out = work.path().join("out");
    let pulled = run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &destination,
            &format!("oci:{}:v1", out.display()),
        ],
    )
    .await;
    succeeded(&pulled, "anonymous skopeo copy out");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    // A wrong password is refused.
    let wrong = run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "any:rbee_adm_wrong",
            &destination,
        ],
    )
    .await;
    assert!(!wrong.status.success(), "a wrong admin token was accepted");
}

#[tokio::test]
async fn the_oras_python_sdk_pulls_an_open_repository_anonymously() {
    require("python3");
    let sdk = std::process::Command::new("python3")
        .args(["-c", "import oras.client"])
        .output()
        .unwrap();
    assert!(
        sdk.status.success(),
        "the ORAS Python SDK is missing; run scripts/test.sh (pip install oras)"
    );
    let site = TestSite::new().await;
    // Content pushed through an open process on the same database and storage.
    let open = site.start().await;
    let work = tempfile::tempdir().unwrap();
    let pushed = run(
        "python3",
        &[
            repo_root().join("tests/interop/oras_artifact.py").to_str().unwrap(),
            &open.host(),
            "workers/oras-open",
            "0.1.0",
            work.path().to_str().unwrap(),
        ],
    )
    .await;
    succeeded(&pushed, "oras_artifact.py (push through the open process)");
    let payload = std::fs::read(work.path().join("worker.bin")).unwrap();
    let expected = sha256(&payload);
    let expected = expected.trim_start_matches("sha256:");

    let app = site.start_protected(|_| {}).await;
    assert_eq!(app.get("/v2/workers/oras-open/manifests/0.1.0").await.status(), 401);
    let out = tempfile::tempdir().unwrap();
    let pulled = run(
        "python3",
        &[
            repo_root().join("tests/interop/oras_pull.py").to_str().unwrap(),
            &app.host(),
            "workers/oras-open:0.1.0",
            out.path().to_str().unwrap(),
            expected,
        ],
    )
    .await;
    succeeded(&pulled, "oras_pull.py (anonymous, protected registry)");
}

#[tokio::test]
async fn publish_needs_a_credential_and_install_works_anonymously() {
    use rbee_registry::artifact::Platform;
    use rbee_registry::client::install::{install_worker, InstallRequest};
    use rbee_registry::client::progress::Silent;
    use rbee_registry::client::{Credentials, RegistryClient};

    use crate::worker_fixtures::{client, publish_worker_with};

    let app = TestApp::start_protected().await;
    let dir = tempfile::tempdir().unwrap();
    let worker = "llm-worker-rbee-cpu";
    let anonymous = publish_worker_with(&client(&app), dir.path(), worker, "0.1.0", &["linux/amd64"], None).await;
    assert!(anonymous.is_err(), "an anonymous publish succeeded");
    let admin = RegistryClient::new(
        &app.base_url,
        Some(Credentials::Basic {
            username: "ci".into(),
            password: admin_secret(&app),
        }),
    )
    .unwrap();
    publish_worker_with(&admin, dir.path(), worker, "0.1.0", &["linux/amd64"], None)
        .await
        .unwrap();
    let request = InstallRequest {
        worker_id: worker.into(),
        version: None,
        platform: Some(Platform::parse("linux/amd64").unwrap()),
        prefix: dir.path().join("prefix"),
    };
    let report = install_worker(&client(&app), &request, &mut Silent).await.unwrap();
    assert_eq!(report.version.to_string(), "0.1.0");
}
