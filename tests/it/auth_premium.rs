//! Issue 10's first must-show with real clients on the default (protected) configuration,
//! through the whole chain: an admin makes `llm-worker-rbee-premium` premium before its
//! first push, CI publishes it and an open worker with a publisher token (`rbee-registry
//! publish --token rbee_pub_…`); skopeo and the ORAS Python SDK pull the open worker
//! anonymously; skopeo pulls the premium one only with a license for it; skopeo and the ORAS
//! SDK push with a publisher token inside its patterns and nothing else pushes;
//! `rbee-registry install` installs the premium worker with `RBEE_LICENSE_TOKEN` and without
//! it says where to buy; `_catalog` hides the premium repository from anonymous callers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth_support::*;
use crate::licenses_cli::{cli, create_publisher, issue_license, PREMIUM};
use crate::support::*;
use crate::worker_fixtures::{metadata, package, write};

const OPEN: &str = "llm-worker-rbee-cpu";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn require_oras() {
    require("python3");
    let sdk = std::process::Command::new("python3")
        .args(["-c", "import oras.client"])
        .output()
        .unwrap();
    assert!(
        sdk.status.success(),
        "the ORAS Python SDK is missing; run scripts/test.sh (pip install oras)"
    );
}

/// Runs a program (never blocking the runtime that serves the test's registry).
pub async fn run(program: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(program).args(args).output().await.unwrap()
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn succeeded(output: &std::process::Output, what: &str) -> String {
    assert!(output.status.success(), "{what} failed:\n{}", text(output));
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Asserts a client failed because the registry wanted (other) credentials.
fn refused(output: &std::process::Output, what: &str) {
    assert!(!output.status.success(), "{what} succeeded:\n{}", text(output));
    let said = text(output).to_lowercase();
    assert!(
        ["unauthorized", "401", "authentication required", "denied", "403"]
            .iter()
            .any(|word| said.contains(word)),
        "{what} failed for another reason:\n{said}"
    );
}

/// `rbee-registry publish` of a fixture worker's 0.1.0 (linux/amd64) with `--token`.
async fn publish_cli(app: &TestApp, dir: &Path, worker: &str, token: Option<&str>) -> std::process::Output {
    let metadata_path = write(
        dir,
        &format!("{worker}.metadata.json"),
        &serde_json::to_vec(&metadata(worker, "0.1.0")).unwrap(),
    );
    let package_path = write(
        dir,
        &format!("{worker}-linux-x86_64.tar.gz"),
        &package(worker, "0.1.0", "linux/amd64"),
    );
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rbee-registry"));
    command
        .args(["publish", "--worker", worker, "--version", "0.1.0", "--metadata"])
        .arg(&metadata_path)
        .arg("--platform")
        .arg(format!("linux/amd64={}", package_path.display()))
        .env_remove("RBEE_REGISTRY_TOKEN")
        .env("RBEE_LOG", "warn");
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command.arg(&app.base_url).output().await.unwrap()
}

/// A protected registry where PREMIUM was made premium before its first push and both
/// workers were published by CI with a publisher token for `workers/*`; that token.
async fn premium_registry(work: &Path) -> (Arc<TestSite>, TestApp, String) {
    let site = TestSite::new().await;
    cli(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "true"]);
    let app = site.start_protected(|_| {}).await;
    let publisher = create_publisher(&site, "ci", &["workers/*"], &[]);
    for worker in [PREMIUM, OPEN] {
        let published = publish_cli(&app, work, worker, Some(&publisher)).await;
        succeeded(
            &published,
            &format!("rbee-registry publish {worker} --token rbee_pub_…"),
        );
    }
    (site, app, publisher)
}

fn image(app: &TestApp, worker: &str) -> String {
    format!("docker://{}/workers/{worker}:0.1.0", app.host())
}

/// `skopeo copy --all` of a worker version into an OCI layout, with optional credentials.
async fn skopeo_pull(app: &TestApp, worker: &str, out: &Path, creds: Option<&str>) -> std::process::Output {
    let destination = format!("oci:{}:0.1.0", out.display());
    let source = image(app, worker);
    let mut args = vec!["copy", "--all", "--src-tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--src-creds", creds]);
    }
    args.extend([source.as_str(), destination.as_str()]);
    run("skopeo", &args).await
}

#[tokio::test]
async fn premium_worker_with_real_clients_on_the_protected_registry() {
    require("skopeo");
    require_oras();
    let work = tempfile::tempdir().unwrap();
    let (site, app, publisher) = premium_registry(work.path()).await;

    // The open worker: skopeo and the ORAS SDK pull it anonymously.
    let open_out = work.path().join("open");
    succeeded(
        &skopeo_pull(&app, OPEN, &open_out, None).await,
        "anonymous skopeo copy of the open worker",
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(open_out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    let oras_out = work.path().join("oras-open");
    let pulled = run(
        "python3",
        &[
            repo_root().join("tests/interop/oras_worker_pull.py").to_str().unwrap(),
            &app.host(),
            &format!("workers/{OPEN}"),
            "0.1.0",
            "linux/amd64",
            oras_out.to_str().unwrap(),
        ],
    )
    .await;
    let pulled: serde_json::Value =
        serde_json::from_str(&succeeded(&pulled, "anonymous ORAS pull of the open worker")).unwrap();
    assert_eq!(
        pulled["sha256"],
        sha256(&package(OPEN, "0.1.0", "linux/amd64")).as_str()
    );

    // The premium worker: 401 without credentials, to the ORAS SDK as well.
    let premium_out = work.path().join("premium");
    refused(
        &skopeo_pull(&app, PREMIUM, &premium_out, None).await,
        "anonymous skopeo copy of the premium worker",
    );
    assert_eq!(
        app.get(&format!("/v2/workers/{PREMIUM}/manifests/0.1.0"))
            .await
            .status(),
        401
    );
    let oras_premium = run(
        "python3",
        &[
            repo_root().join("tests/interop/oras_worker_pull.py").to_str().unwrap(),
            &app.host(),
            &format!("workers/{PREMIUM}"),
            "0.1.0",
            "linux/amd64",
            work.path().join("oras-premium").to_str().unwrap(),
        ],
    )
    .await;
    assert!(!oras_premium.status.success(), "{}", text(&oras_premium));

    // A license for another worker: still refused.
    let other = issue_license(&site, &[OPEN], "30d");
    refused(
        &skopeo_pull(&app, PREMIUM, &premium_out, Some(&format!("any:{other}"))).await,
        "skopeo copy of the premium worker with a license for another worker",
    );
    // The license for it, as the password of any user name: the whole version copies.
    let license = issue_license(&site, &[PREMIUM], "30d");
    succeeded(
        &skopeo_pull(&app, PREMIUM, &premium_out, Some(&format!("any:{license}"))).await,
        "skopeo copy of the premium worker with its license",
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(premium_out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    // A license does not push.
    let published = publish_cli(&app, work.path(), PREMIUM, Some(&license)).await;
    assert!(!published.status.success(), "a license token published");

    // `_catalog`: the premium repository is hidden from anonymous callers, shown to its
    // license holder.
    let anonymous = token_for(&app, None, &["registry:catalog:*"]).await;
    let listed: serde_json::Value = get_with(&app, "/v2/_catalog", &anonymous).await.json().await.unwrap();
    let names = listed["repositories"].as_array().unwrap();
    assert!(names.contains(&format!("workers/{OPEN}").into()), "{listed}");
    assert!(!names.contains(&format!("workers/{PREMIUM}").into()), "{listed}");
    let holder = token_for(&app, Some(&license), &["registry:catalog:*"]).await;
    let listed: serde_json::Value = get_with(&app, "/v2/_catalog", &holder).await.json().await.unwrap();
    assert!(
        listed["repositories"]
            .as_array()
            .unwrap()
            .contains(&format!("workers/{PREMIUM}").into()),
        "{listed}"
    );

    // Install: with RBEE_LICENSE_TOKEN it installs; without, it says where to buy.
    let install = |license: Option<&str>, prefix: PathBuf| {
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
            .arg(prefix)
            .env_remove("RBEE_LICENSE_TOKEN")
            .env_remove("RBEE_REGISTRY_TOKEN")
            .env("RBEE_LOG", "warn");
        if let Some(license) = license {
            command.env("RBEE_LICENSE_TOKEN", license);
        }
        command.output()
    };
    let prefix = work.path().join("prefix");
    let installed = install(Some(&license), prefix.clone()).await.unwrap();
    succeeded(&installed, "RBEE_LICENSE_TOKEN=… rbee-registry install");
    assert!(prefix.join("bin").join(PREMIUM).exists());
    let bare = install(None, work.path().join("bare")).await.unwrap();
    assert!(!bare.status.success(), "installed a premium worker without a license");
    let purchase = metadata(PREMIUM, "0.1.0")["pricing"]["purchase_url"]
        .as_str()
        .unwrap()
        .to_string();
    let stderr = String::from_utf8_lossy(&bare.stderr);
    assert!(
        stderr.contains(&purchase) && stderr.contains("RBEE_LICENSE_TOKEN"),
        "{stderr}"
    );
    assert!(!work.path().join("bare").join("bin").join(PREMIUM).exists());
    let wrong = install(Some(&other), work.path().join("wrong")).await.unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("not valid for it"),
        "{}",
        text(&wrong)
    );
    drop(publisher);

    // Once the license is revoked, its still-valid catalog token lists the open ones only.
    cli(&site, &["license", "revoke", &license]);
    let listed: serde_json::Value = get_with(&app, "/v2/_catalog", &holder).await.json().await.unwrap();
    assert_eq!(listed["repositories"], serde_json::json!([format!("workers/{OPEN}")]));
}

#[tokio::test]
async fn publisher_tokens_push_with_skopeo_and_oras_only_inside_their_patterns() {
    require("skopeo");
    require_oras();
    let work = tempfile::tempdir().unwrap();
    let (site, app, publisher) = premium_registry(work.path()).await;
    let narrow = create_publisher(&site, "cpu-ci", &[&format!("workers/{OPEN}")], &[]);

    // skopeo: an OCI layout pushed with the publisher token; anonymous and out-of-pattern
    // pushes refused.
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
    let destination = format!("docker://{}/workers/skopeo-ci:v1", app.host());
    let push = |creds: Option<String>| {
        let mut args = vec!["copy".to_string(), "--dest-tls-verify=false".to_string()];
        if let Some(creds) = creds {
            args.extend(["--dest-creds".to_string(), creds]);
        }
        args.extend([source.clone(), destination.clone()]);
        tokio::process::Command::new("skopeo").args(args).output()
    };
    refused(&push(None).await.unwrap(), "anonymous skopeo push");
    refused(
        &push(Some(format!("any:{narrow}"))).await.unwrap(),
        "skopeo push outside the publisher's patterns",
    );
    succeeded(
        &push(Some(format!("ci:{publisher}"))).await.unwrap(),
        "skopeo push with the publisher token",
    );
    let inspected = run("skopeo", &["inspect", "--raw", "--tls-verify=false", &destination]).await;
    let manifest = succeeded(&inspected, "anonymous skopeo inspect of the pushed image");
    assert_eq!(sha256(manifest.as_bytes()), digest);

    // The ORAS SDK: the same three cases.
    let file = write(work.path(), "model.bin", &bytes_of(70_000, 7));
    let oras_push = |reference: &str, creds: Option<(&str, &str)>| {
        let mut args = vec![
            repo_root()
                .join("tests/interop/oras_push_auth.py")
                .to_str()
                .unwrap()
                .to_string(),
            app.host(),
            reference.to_string(),
            file.to_str().unwrap().to_string(),
        ];
        if let Some((user, password)) = creds {
            args.extend([user.to_string(), password.to_string()]);
        }
        tokio::process::Command::new("python3").args(args).output()
    };
    let anonymous = oras_push("workers/oras-ci:v1", None).await.unwrap();
    refused(&anonymous, "anonymous ORAS push");
    let outside = oras_push("workers/oras-ci:v1", Some(("ci", &narrow))).await.unwrap();
    assert!(
        !outside.status.success(),
        "out-of-pattern ORAS push: {}",
        text(&outside)
    );
    assert_eq!(app.get("/v2/workers/oras-ci/tags/list").await.status(), 401);
    let admin = token_for(&app, Some(&admin_secret(&app)), &["repository:workers/oras-ci:pull"]).await;
    assert_eq!(
        get_with(&app, "/v2/workers/oras-ci/manifests/v1", &admin)
            .await
            .status(),
        404,
        "a refused push left a manifest"
    );
    let pushed = oras_push("workers/oras-ci:v1", Some(("ci", &publisher))).await.unwrap();
    succeeded(&pushed, "ORAS push with the publisher token");
    let out = tempfile::tempdir().unwrap();
    let pulled = run(
        "python3",
        &[
            repo_root().join("tests/interop/oras_pull.py").to_str().unwrap(),
            &app.host(),
            "workers/oras-ci:v1",
            out.path().to_str().unwrap(),
            sha256(&bytes_of(70_000, 7)).trim_start_matches("sha256:"),
        ],
    )
    .await;
    succeeded(&pulled, "anonymous ORAS pull of what the publisher pushed");

    // `_catalog` by publisher: `workers/*` includes the premium worker; the narrow one
    // sees only open repositories.
    let premium = serde_json::Value::from(format!("workers/{PREMIUM}"));
    for (secret, sees) in [(&publisher, true), (&narrow, false)] {
        let token = token_for(&app, Some(secret), &["registry:catalog:*"]).await;
        let listed: serde_json::Value = get_with(&app, "/v2/_catalog", &token).await.json().await.unwrap();
        let names = listed["repositories"].as_array().unwrap();
        assert_eq!(names.contains(&premium), sees, "{listed}");
        assert!(names.contains(&format!("workers/{OPEN}").into()), "{listed}");
    }

    // The narrow publisher may publish its own worker, not the premium one.
    let narrow_premium = publish_cli(&app, work.path(), PREMIUM, Some(&narrow)).await;
    assert!(!narrow_premium.status.success(), "published outside the patterns");
    let anonymous_publish = publish_cli(&app, work.path(), OPEN, None).await;
    assert!(!anonymous_publish.status.success(), "an anonymous publish succeeded");
}
