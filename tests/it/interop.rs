//! Real third-party clients against the registry: skopeo and the ORAS Python SDK.
//! `scripts/test.sh` installs both; without them these tests fail with a message saying so.

use std::path::Path;

use crate::support::*;

fn require(program: &str) {
    assert!(
        have(program),
        "{program} is not installed; run scripts/test.sh, which installs the interop clients"
    );
}

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
