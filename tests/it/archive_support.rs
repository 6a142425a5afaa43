//! Helpers of the archive tests (`archive_*.rs`): running `export` and `import` as processes
//! on a test site, and a snapshot of a registry's whole content read over HTTP (every
//! repository, tag, manifest, child manifest, referrer and blob, each as its digest and the
//! SHA-256 of the bytes served) to compare an origin with its replica.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// The media types a snapshot asks manifests in.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Runs `rbee-registry <args…>` on `site` without blocking the test's runtime; (success,
/// stdout, stderr).
pub async fn run_on(site: &TestSite, args: &[&str]) -> (bool, String, String) {
    let command = site.command_of(args);
    let output = tokio::process::Command::from(command).output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// `export --out <out> <extra…>`; its summary line.
pub async fn export(site: &TestSite, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["export", "--out", out.to_str().unwrap()];
    args.extend(extra);
    let (ok, stdout, stderr) = run_on(site, &args).await;
    assert!(ok, "export failed:\n{stdout}\n{stderr}");
    assert!(out.exists() && !Path::new(&format!("{}.partial", out.display())).exists());
    // Progress goes to stderr as plain lines when it is not a terminal.
    assert!(stderr.contains("export: done ("), "{stderr}");
    stdout
}

/// `import <archive> <extra…>` that must succeed; its stdout.
pub async fn import(site: &TestSite, archive: &Path, extra: &[&str]) -> String {
    let (ok, stdout, stderr) = import_result(site, archive, extra).await;
    assert!(ok, "import failed:\n{stdout}\n{stderr}");
    assert!(stderr.contains("import: done ("), "{stderr}");
    stdout
}

/// `import <archive> <extra…>`: (success, stdout, stderr).
pub async fn import_result(site: &TestSite, archive: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["import", archive.to_str().unwrap()];
    args.extend(extra);
    run_on(site, &args).await
}

/// GET `path` as JSON (expects `200`).
pub async fn json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// Everything the registry serves under `/v2`: `"<repo>:<tag>"` → manifest digest, and
/// `"<repo>@<digest>"` → SHA-256 of the bytes served, for every manifest (tagged, child,
/// referrer) and blob they reach.
pub async fn snapshot(app: &TestApp) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let catalog = json(app, "/v2/_catalog?n=1000").await;
    for repository in catalog["repositories"].as_array().unwrap() {
        let repository = repository.as_str().unwrap();
        let tags = json(app, &format!("/v2/{repository}/tags/list?n=1000")).await;
        let mut pending: Vec<String> = Vec::new();
        for tag in tags["tags"].as_array().into_iter().flatten() {
            let tag = tag.as_str().unwrap();
            let (digest, _) = manifest(app, repository, tag).await;
            out.insert(format!("{repository}:{tag}"), digest.clone());
            pending.push(digest);
        }
        while let Some(digest) = pending.pop() {
            let key = format!("{repository}@{digest}");
            if out.contains_key(&key) {
                continue;
            }
            let (served, body) = manifest(app, repository, &digest).await;
            assert_eq!(served, digest);
            out.insert(key, sha256(&body));
            let parsed: Value = serde_json::from_slice(&body).unwrap();
            for child in parsed["manifests"].as_array().into_iter().flatten() {
                pending.push(child["digest"].as_str().unwrap().to_string());
            }
            let blobs = parsed["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(std::iter::once(&parsed["config"]).filter(|c| c.is_object()));
            for blob in blobs {
                let blob = blob["digest"].as_str().unwrap();
                let response = app.get(&format!("/v2/{repository}/blobs/{blob}")).await;
                assert_eq!(response.status(), 200, "{repository}@{blob}");
                out.insert(format!("{repository}@{blob}"), sha256(&response.bytes().await.unwrap()));
            }
            let referrers = json(app, &format!("/v2/{repository}/referrers/{digest}")).await;
            for referrer in referrers["manifests"].as_array().into_iter().flatten() {
                pending.push(referrer["digest"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

/// A manifest by tag or digest: (its `Docker-Content-Digest`, its bytes).
pub async fn manifest(app: &TestApp, repository: &str, reference: &str) -> (String, Vec<u8>) {
    let response = app
        .client
        .get(app.url(&format!("/v2/{repository}/manifests/{reference}")))
        .header("accept", ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{repository}:{reference}");
    let digest = response.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    (digest, response.bytes().await.unwrap().to_vec())
}

/// The repositories `/v2/_catalog` lists.
pub async fn repositories(app: &TestApp) -> Vec<String> {
    let catalog = json(app, "/v2/_catalog?n=1000").await;
    catalog["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap().to_string())
        .collect()
}
