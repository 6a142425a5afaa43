//! Workers end to end: publish → the v1 API → download URL → install → stats; the ORAS
//! Python SDK pulling one platform; PKGBUILDs; rebuilding the derived index.

use std::path::Path;

use rbee_registry::artifact::Platform;
use rbee_registry::client::install::{install_worker, InstallRequest};
use rbee_registry::client::progress::Silent;
use serde_json::{json, Value};

use crate::support::*;
use crate::worker_fixtures::*;

const CPU: &str = "llm-worker-rbee-cpu";

async fn json_of(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn workers_publish_list_download_install_and_count() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    for version in ["0.1.0", "0.2.0-beta.1", "0.2.0", "0.3.0-rc.1"] {
        publish_worker(&app, work.path(), CPU, version, &["linux/amd64", "linux-aarch64"], None).await;
    }

    let (status, list) = json_of(&app, "/v1/workers").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    let summary = &list["workers"][0];
    assert_eq!(summary["id"], CPU);
    assert_eq!(summary["latest_version"], "0.2.0");
    let names: Vec<&str> = summary["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["linux-x86_64", "linux-aarch64"]);

    let (status, versions) = json_of(&app, &format!("/v1/workers/{CPU}/versions")).await;
    assert_eq!(status, 200);
    assert_eq!(
        versions,
        json!({"versions": ["0.1.0", "0.2.0-beta.1", "0.2.0", "0.3.0-rc.1"], "latest": "0.2.0"})
    );

    let (status, download) = json_of(
        &app,
        &format!("/v1/workers/{CPU}/0.2.0/download?platform=linux-aarch64"),
    )
    .await;
    assert_eq!(status, 200, "{download}");
    // The registry's own signed URL works without credentials for the design's hour.
    assert_eq!(download["expires_in"], 3600, "{download}");
    let url = download["download_url"].as_str().unwrap();
    assert!(url.starts_with(&app.base_url), "{url}");
    let bytes = app.client.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256(&bytes), download["checksum"].as_str().unwrap());
    assert_eq!(bytes.len() as u64, download["size"].as_u64().unwrap());
    assert_eq!(bytes.to_vec(), package(CPU, "0.2.0", "linux/arm64"));
    // The OCI spelling answers the same.
    let (_, same) = json_of(&app, &format!("/v1/workers/{CPU}/0.2.0/download?platform=linux/arm64")).await;
    // (The signed URL's expiry and signature follow the clock: compared without them.)
    let unsigned = |answer: &Value| {
        let mut answer = answer.clone();
        let url = answer["download_url"].as_str().unwrap();
        answer["download_url"] = url.split("&expires=").next().unwrap().into();
        answer
    };
    assert_eq!(unsigned(&same), unsigned(&download));

    let prefix = work.path().join("prefix");
    let request = InstallRequest {
        worker_id: CPU.into(),
        version: None,
        platform: Some(Platform::parse("linux/amd64").unwrap()),
        prefix: prefix.clone(),
    };
    let report = install_worker(&client(&app), &request, &mut Silent).await.unwrap();
    assert_eq!(report.version, "0.2.0");
    assert_eq!(report.binary, prefix.join("bin").join(CPU));
    let output = std::process::Command::new(&report.binary).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{CPU} 0.2.0 linux/amd64\n")
    );
    assert_eq!(
        std::fs::read_to_string(prefix.join("workers").join(CPU).join("current/LICENSE")).unwrap(),
        "GPL-3.0-or-later\n"
    );

    // Both downloads are counted; metadata and config reads during install are not.
    let stats_path = format!("/v1/workers/{CPU}/stats");
    eventually("two counted downloads", || async {
        json_of(&app, &stats_path).await.1["downloads"] == 2
    })
    .await;
    let (_, stats) = json_of(&app, &stats_path).await;
    assert_eq!(stats["downloads_by_version"], json!({"0.2.0": 2}));
    assert_eq!(
        stats["downloads_by_platform"],
        json!({"linux-aarch64": 1, "linux-x86_64": 1})
    );
    assert!(stats["last_download"].is_string());
    assert!(stats["last_updated"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn workers_downloads_are_counted_once_per_completed_request_with_hashed_addresses() {
    let app = TestApp::start_local_with(|_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let report = publish_worker(&app, work.path(), CPU, "1.0.0", &["linux/amd64"], None).await;
    let digest = &report.platforms[0].2;
    let url = app.url(&format!("/v2/workers/{CPU}/blobs/{digest}"));
    let size = report.platforms[0].3;
    // A range that stops short of the end is not a completed download; HEAD is not either.
    app.client
        .get(&url)
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    app.client.head(&url).send().await.unwrap();
    // A resumed download that reaches the end is.
    app.client
        .get(&url)
        .header("range", format!("bytes=10-{}", size - 1))
        .header("user-agent", "rbee-hive/1.0")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stats_path = format!("/v1/workers/{CPU}/stats");
    eventually("one counted download", || async {
        json_of(&app, &stats_path).await.1["downloads"] == 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(json_of(&app, &stats_path).await.1["downloads"], 1);

    // The stored row has the user agent and a salted hash, never the address.
    let database = app.data_dir().join("registry.db");
    let rows = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); print(json.dumps(c.execute('select worker_id, version, platform, user_agent, client_hash from worker_downloads').fetchall()))",
            database.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&rows.stdout).unwrap();
    assert_eq!(rows[0][0], CPU);
    assert_eq!(rows[0][1], "1.0.0");
    assert_eq!(rows[0][2], "linux/amd64");
    assert_eq!(rows[0][3], "rbee-hive/1.0");
    let hash = rows[0][4].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains("127.0.0.1"));
    let salt = std::fs::read(app.data_dir().join("analytics-salt")).unwrap();
    assert!(salt.len() >= 32);
    let mut salted = salt.clone();
    salted.extend_from_slice(b"127.0.0.1");
    assert_eq!(format!("sha256:{hash}"), sha256(&salted));
}

#[tokio::test]
async fn workers_pkgbuild_attached_at_publish_is_served_by_both_endpoints() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let pkgbuild = std::fs::read_to_string(fixtures().join(format!("{CPU}.PKGBUILD"))).unwrap();
    let report = publish_worker(&app, work.path(), CPU, "0.1.0", &["linux/amd64"], Some(&pkgbuild)).await;
    for path in [
        format!("/workers/{CPU}/PKGBUILD"),
        format!("/v1/workers/{CPU}/pkgbuild"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
        assert_eq!(response.text().await.unwrap(), pkgbuild);
    }
    // It is a referrer of the version's index, with its own artifact type.
    let referrers: Value = app
        .get(&format!("/v2/workers/{CPU}/referrers/{}", report.index_digest))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        referrers["manifests"][0]["artifactType"],
        "application/vnd.rbee.worker.pkgbuild.v1"
    );
    assert_eq!(
        referrers["manifests"][0]["digest"],
        report.pkgbuild_digest.unwrap().to_string()
    );
}

#[tokio::test]
async fn workers_oras_python_sdk_pulls_one_platform_of_a_published_index() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let report = publish_worker(&app, work.path(), CPU, "0.1.0", &["linux/amd64", "linux/arm64"], None).await;
    let out = work.path().join("pulled");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oras_worker_pull.py");
    let output = tokio::process::Command::new("python3")
        .args([
            script.to_str().unwrap(),
            &app.host(),
            &format!("workers/{CPU}"),
            "0.1.0",
            "linux/arm64",
            out.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the ORAS SDK pull failed (scripts/test.sh installs it):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let pulled: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(pulled["package"], format!("{CPU}-0.1.0-linux-aarch64.tar.gz"));
    assert_eq!(
        pulled["files"],
        json!([format!("{CPU}-0.1.0-linux-aarch64.tar.gz"), "metadata.json"])
    );
    let arm64 = report.platforms.iter().find(|p| p.0.architecture == "arm64").unwrap();
    assert_eq!(pulled["sha256"], arm64.2.to_string());
}

#[tokio::test]
async fn workers_derived_index_is_rebuilt_from_the_manifests() {
    let app = TestApp::start_local_with(|_| {}).await;
    let work = tempfile::tempdir().unwrap();
    publish_worker(&app, work.path(), CPU, "0.1.0", &["linux/amd64"], None).await;
    publish_worker(&app, work.path(), CPU, "0.2.0", &["linux/amd64"], None).await;
    let before = json_of(&app, &format!("/v1/workers/{CPU}")).await.1;
    // Deleting the tag removes the version from the catalog (the rows cascade with the tag).
    let deleted = app
        .client
        .delete(app.url(&format!("/v2/workers/{CPU}/manifests/0.2.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    let (_, versions) = json_of(&app, &format!("/v1/workers/{CPU}/versions")).await;
    assert_eq!(versions, json!({"versions": ["0.1.0"], "latest": "0.1.0"}));
    app.client
        .delete(app.url(&format!("/v2/workers/{CPU}/manifests/0.1.0")))
        .send()
        .await
        .unwrap();
    let (status, missing) = json_of(&app, &format!("/v1/workers/{CPU}")).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "WORKER_NOT_FOUND");

    // Re-publish, wipe the derived rows by hand, rebuild: the same answer comes back.
    publish_worker(&app, work.path(), CPU, "0.2.0", &["linux/amd64"], None).await;
    let database = app.data_dir().join("registry.db");
    let wiped = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA foreign_keys=ON'); c.execute('delete from worker_versions'); c.commit()",
            database.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(wiped.success());
    assert_eq!(json_of(&app, &format!("/v1/workers/{CPU}")).await.0, 404);
    let registry = app.site.registry().await;
    assert_eq!(registry.rebuild_worker_index().await.unwrap(), 1);
    let after = json_of(&app, &format!("/v1/workers/{CPU}")).await.1;
    assert_eq!(after["versions"], json!(["0.2.0"]));
    assert_eq!(after["metadata"], before["metadata"]);
}

/// The worker list a process holds in memory (`services::workers::list_cache`) follows
/// writes made through another process on the same database at once: a version published
/// there, a tag deleted there (its rows go by cascade), a row removed by hand.
#[tokio::test]
async fn workers_list_held_by_one_process_follows_writes_made_through_another() {
    let site = TestSite::new().await;
    let writer = site.start().await;
    let reader = site.start().await;
    let work = tempfile::tempdir().unwrap();
    let listed = |app: &TestApp| {
        let url = app.url("/v1/workers");
        let client = app.client.clone();
        async move {
            let list: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            list["workers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|worker| {
                    let id = worker["id"].as_str().unwrap().to_string();
                    (id, worker["latest_version"].as_str().unwrap().to_string())
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(&reader).await, vec![]);
    publish_worker(&writer, work.path(), CPU, "0.1.0", &["linux/amd64"], None).await;
    assert_eq!(listed(&reader).await, vec![(CPU.to_string(), "0.1.0".to_string())]);
    publish_worker(&writer, work.path(), CPU, "0.2.0", &["linux/amd64"], None).await;
    assert_eq!(listed(&reader).await, vec![(CPU.to_string(), "0.2.0".to_string())]);
    // The catalog page reads the same list.
    let page = reader.get("/").await.text().await.unwrap();
    assert!(page.contains(CPU), "the page lists the worker");

    let deleted = writer
        .client
        .delete(writer.url(&format!("/v2/workers/{CPU}/manifests/0.2.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    assert_eq!(listed(&reader).await, vec![(CPU.to_string(), "0.1.0".to_string())]);
    writer
        .client
        .delete(writer.url(&format!("/v2/workers/{CPU}/manifests/0.1.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(listed(&reader).await, vec![]);
    reader.stop().await;
    writer.stop().await;
}
