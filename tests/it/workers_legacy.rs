//! The legacy catalog API (LEGACY-API.md) for the four known workers, pinned by snapshots
//! of whole responses (tests/it/snapshots/*.json; `UPDATE_SNAPSHOTS=1` rewrites them), plus
//! a field-by-field check of every Entry against the documented contract, Cache-Control,
//! CORS and the error bodies old clients expect.

use std::path::PathBuf;

use rbee_registry::config::FileConfig;
use serde_json::Value;

use crate::support::*;
use crate::worker_fixtures::*;

const MARKETPLACE: &str = "https://marketplace.rbee.dev";

/// The platforms each known worker is published for (LEGACY-API.md's table).
fn platforms_of(worker_id: &str) -> &'static [&'static str] {
    match worker_id {
        "llm-worker-rbee-cpu" => &["linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"],
        "llm-worker-rbee-cuda" => &["linux/amd64", "windows/amd64"],
        "llm-worker-rbee-metal" => &["darwin/arm64"],
        "llm-worker-rbee-premium" => &["linux/amd64"],
        other => panic!("unknown worker {other}"),
    }
}

async fn start_with_four_workers() -> (TestApp, tempfile::TempDir) {
    let app = TestApp::start_with_file(FileConfig {
        cors_origins: Some(vec![MARKETPLACE.to_string()]),
        ..FileConfig::default()
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let pkgbuild = std::fs::read_to_string(fixtures().join("llm-worker-rbee-cpu.PKGBUILD")).unwrap();
    for worker_id in KNOWN_WORKERS {
        let with_pkgbuild = (worker_id == "llm-worker-rbee-cpu").then_some(pkgbuild.as_str());
        // An older version first: the Entry reports the latest.
        publish_worker(
            &app,
            work.path(),
            worker_id,
            "0.0.9",
            &platforms_of(worker_id)[..1],
            None,
        )
        .await;
        publish_worker(
            &app,
            work.path(),
            worker_id,
            "0.1.0",
            platforms_of(worker_id),
            with_pkgbuild,
        )
        .await;
    }
    (app, work)
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{name}.json"))
}

/// Compares a whole response body with its snapshot.
fn assert_snapshot(name: &str, actual: &Value) {
    let path = snapshot_path(name);
    let pretty = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert_eq!(pretty, expected, "response differs from snapshot {}", path.display());
}

/// The Entry contract of LEGACY-API.md: every field, its JSON type, and for enums the
/// allowed lowercase values.
fn check_entry_contract(entry: &Value) {
    let object = entry.as_object().unwrap();
    let required = [
        "id",
        "implementation",
        "workerType",
        "version",
        "platforms",
        "architectures",
        "name",
        "description",
        "license",
        "pkgbuildUrl",
        "buildSystem",
        "source",
        "build",
        "depends",
        "makedepends",
        "binaryName",
        "installPath",
        "supportedFormats",
        "supportsStreaming",
        "supportsBatching",
    ];
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.retain(|k| *k != "maxContextLength");
    let mut expected = required.to_vec();
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected, "Entry fields");
    let one_of = |field: &str, allowed: &[&str]| {
        let value = entry[field].as_str().unwrap_or_else(|| panic!("{field} is a string"));
        assert!(allowed.contains(&value), "{field} = {value}");
    };
    one_of("implementation", &["rust", "python", "cpp"]);
    one_of("workerType", &["cpu", "cuda", "metal"]);
    one_of("buildSystem", &["cargo", "make", "cmake"]);
    for (field, allowed) in [
        ("platforms", &["linux", "macos", "windows"][..]),
        ("architectures", &["x86_64", "aarch64"][..]),
    ] {
        for value in entry[field].as_array().unwrap() {
            assert!(allowed.contains(&value.as_str().unwrap()), "{field}: {value}");
        }
    }
    for field in ["depends", "makedepends", "supportedFormats"] {
        assert!(entry[field].as_array().unwrap().iter().all(Value::is_string), "{field}");
    }
    for field in [
        "id",
        "version",
        "name",
        "description",
        "license",
        "binaryName",
        "installPath",
    ] {
        assert!(entry[field].is_string(), "{field}");
    }
    assert!(semver::Version::parse(entry["version"].as_str().unwrap()).is_ok());
    assert_eq!(
        entry["pkgbuildUrl"],
        format!("/workers/{}/PKGBUILD", entry["id"].as_str().unwrap())
    );
    assert!(entry["supportsStreaming"].is_boolean() && entry["supportsBatching"].is_boolean());
    if let Some(max) = object.get("maxContextLength") {
        assert!(max.is_u64());
    }
    let source = entry["source"].as_object().unwrap();
    assert!(["git", "tarball"].contains(&source["type"].as_str().unwrap()));
    assert!(source["url"].is_string());
    for (key, value) in source {
        assert!(
            ["type", "url", "branch", "tag", "path"].contains(&key.as_str()),
            "source.{key}"
        );
        assert!(value.is_string(), "source.{key} is never null");
    }
    for (key, value) in entry["build"].as_object().unwrap() {
        assert!(["features", "profile", "flags"].contains(&key.as_str()), "build.{key}");
        assert!(!value.is_null(), "build.{key} is never null");
    }
}

#[tokio::test]
async fn workers_legacy_endpoints_match_the_contract_for_the_four_workers() {
    let (app, _work) = start_with_four_workers().await;

    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "worker-catalog");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let response = app
        .client
        .get(app.url("/workers"))
        .header("origin", MARKETPLACE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(response.headers()["access-control-allow-origin"], MARKETPLACE);
    let list: Value = response.json().await.unwrap();
    assert_eq!(list.as_object().unwrap().keys().collect::<Vec<_>>(), ["workers"]);
    let ids: Vec<&str> = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, KNOWN_WORKERS);
    assert_snapshot("legacy_workers", &list);

    for worker_id in KNOWN_WORKERS {
        let response = app.get(&format!("/workers/{worker_id}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
        let entry: Value = response.json().await.unwrap();
        check_entry_contract(&entry);
        assert_eq!(entry["version"], "0.1.0");
        let from_list = list["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == worker_id)
            .unwrap();
        assert_eq!(&entry, from_list);
        assert_snapshot(&format!("legacy_worker_{worker_id}"), &entry);
    }

    // A browser on another origin gets no CORS grant.
    let other = app
        .client
        .get(app.url("/workers"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Preflight for the marketplace.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/workers/llm-worker-rbee-cpu"))
        .header("origin", MARKETPLACE)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], MARKETPLACE);

    let missing = app.get("/workers/llm-worker-rbee-rocm").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), r#"{"error":"Worker not found"}"#);
    let missing = app.get("/workers/llm-worker-rbee-rocm/PKGBUILD").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), r#"{"error":"Worker not found"}"#);
    let no_pkgbuild = app.get("/workers/llm-worker-rbee-metal/PKGBUILD").await;
    assert_eq!(no_pkgbuild.status(), 404);
    assert_eq!(no_pkgbuild.text().await.unwrap(), r#"{"error":"PKGBUILD not found"}"#);
    let pkgbuild = app.get("/workers/llm-worker-rbee-cpu/PKGBUILD").await;
    assert_eq!(pkgbuild.status(), 200);
    assert!(pkgbuild.text().await.unwrap().contains("pkgname=llm-worker-rbee-cpu"));

    // The v1 list filters by tag and type, and pages.
    let cuda: Value = app.get("/v1/workers?type=cuda").await.json().await.unwrap();
    let ids: Vec<&str> = cuda["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["llm-worker-rbee-cuda", "llm-worker-rbee-premium"]);
    let premium: Value = app.get("/v1/workers?tag=premium").await.json().await.unwrap();
    assert_eq!(premium["total"], 1);
    assert_eq!(premium["workers"][0]["requires_license"], true);
    let page: Value = app.get("/v1/workers?per_page=3&page=2").await.json().await.unwrap();
    assert_eq!((page["total"].as_u64(), page["page"].as_u64()), (Some(4), Some(2)));
    assert_eq!(page["workers"].as_array().unwrap().len(), 1);
    assert_eq!(page["workers"][0]["id"], "llm-worker-rbee-premium");
}
