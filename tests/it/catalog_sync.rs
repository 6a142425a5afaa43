//! Must-show 1 of issue 11: a Git catalog made with stock git holding the design document's
//! three example workers, synced by the registry and served by the old and new APIs as the
//! files say; the design's two example metadata.json documents published unchanged.

use rbee_registry::artifact::Platform;
use rbee_registry::client::publish::{publish, PublishRequest};
use serde_json::Value;

use crate::catalog_fixtures::*;
use crate::worker_fixtures::{client, package, write};

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_design_catalog_syncs_and_is_served_by_both_apis() {
    let repo = design_catalog();
    let app = start_with_source(repo.path.to_str().unwrap()).await;
    let report = synced(&app).await;
    assert_eq!(report["outcome"], "applied", "{report}");
    assert_eq!(report["upserted"], 3);
    assert_eq!(report["branch_errors"], serde_json::json!([]));

    // /v1/workers: all three, source-only (no version in the registry yet).
    let (status, list) = get_json(&app, "/v1/workers").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [CPU, CUDA, PREMIUM]);
    for worker in list["workers"].as_array().unwrap() {
        assert_eq!(worker["origin"], "catalog-only");
        assert_eq!(worker["distribution"]["binary_available"], false);
    }
    let premium = &list["workers"][2];
    assert_eq!(premium["requires_license"], true);
    assert_eq!(premium["pricing"]["price_usd"], 99.0);
    assert_eq!(premium["license"], "Proprietary");

    // /v1/workers/:id against the branch's files.
    let cpu_file: Value = serde_json::from_slice(&fixture("llm-worker-rbee-cpu.metadata.json")).unwrap();
    let (status, cpu) = get_json(&app, &format!("/v1/workers/{CPU}")).await;
    assert_eq!(status, 200);
    for field in [
        "name",
        "description",
        "license",
        "author",
        "homepage",
        "features",
        "tags",
        "version",
    ] {
        assert_eq!(cpu[field], cpu_file[field], "{field}");
    }
    assert_eq!(cpu["distribution"]["type"], "hybrid");
    assert_eq!(
        cpu["metadata"]["platforms"][0]["binary_size"], 45_000_000,
        "\"45MB\" is bytes"
    );
    let declared: Vec<(&str, &str)> = cpu["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["checksum"].as_str().unwrap()))
        .collect();
    assert_eq!(
        declared,
        [
            ("linux-x86_64", cpu_file["platforms"][0]["checksum"].as_str().unwrap()),
            ("linux-aarch64", cpu_file["platforms"][1]["checksum"].as_str().unwrap())
        ]
    );
    assert_eq!(cpu["catalog"]["commit"], repo.rev(CPU));
    assert_eq!(cpu["catalog"]["has_pkgbuild"], true);
    assert_eq!(cpu["catalog"]["readme"], "# LLM Worker (CPU)\n\nCPU-only inference.\n");
    let (_, cuda) = get_json(&app, &format!("/v1/workers/{CUDA}")).await;
    assert_eq!(cuda["catalog"]["has_pkgbuild"], false);
    assert_eq!(cuda["worker_type"], "cuda", "derived from the tags");

    // Filters.
    let (_, tagged) = get_json(&app, "/v1/workers?tag=cpu").await;
    assert_eq!(tagged["workers"].as_array().unwrap().len(), 1);
    assert_eq!(tagged["workers"][0]["id"], CPU);
    let (_, typed) = get_json(&app, "/v1/workers?type=cuda").await;
    assert_eq!(typed["workers"].as_array().unwrap().len(), 1);
    assert_eq!(typed["workers"][0]["id"], CUDA);

    // The old client's shape: every Entry field the snapshot of a published worker has.
    let snapshot: Value =
        serde_json::from_str(include_str!("snapshots/legacy_worker_llm-worker-rbee-cpu.json")).unwrap();
    let (status, entry) = get_json(&app, &format!("/workers/{CPU}")).await;
    assert_eq!(status, 200);
    let mut expected = keys(&snapshot);
    let mut got = keys(&entry);
    // maxContextLength is omitted when unknown (the design's record has none).
    expected.retain(|k| k != "maxContextLength");
    got.retain(|k| k != "maxContextLength");
    assert_eq!(got, expected);
    assert_eq!(entry["workerType"], "cpu");
    assert_eq!(entry["version"], "0.1.0");
    assert_eq!(entry["platforms"], serde_json::json!(["linux"]));
    assert_eq!(entry["architectures"], serde_json::json!(["x86_64", "aarch64"]));
    assert_eq!(entry["pkgbuildUrl"], format!("/workers/{CPU}/PKGBUILD"));
    assert_eq!(entry["binaryName"], CPU);
    let (_, legacy_list) = get_json(&app, "/workers").await;
    assert_eq!(legacy_list["workers"].as_array().unwrap().len(), 3);

    // PKGBUILDs from the branches.
    for path in [
        format!("/workers/{CPU}/PKGBUILD"),
        format!("/v1/workers/{CPU}/pkgbuild"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap(), cpu_pkgbuild(), "{path}");
    }
    let (status, missing) = get_json(&app, &format!("/workers/{CUDA}/PKGBUILD")).await;
    assert_eq!(
        (status, missing),
        (404, serde_json::json!({"error": "PKGBUILD not found"}))
    );

    // The status names the commit.
    let (_, catalog) = get_json(&app, "/v1/catalog/status").await;
    assert_eq!(catalog["commit"], repo.rev("master"));
    assert_eq!(catalog["workers"], 3);
    assert_eq!(catalog["attempt_error"], Value::Null);
    // A second sync of the same revision applies nothing.
    assert_eq!(synced(&app).await["outcome"], "current");
}

#[tokio::test]
async fn the_design_metadata_publishes_unchanged_and_merges_with_the_catalog() {
    let repo = design_catalog();
    let app = start_with_source(repo.path.to_str().unwrap()).await;
    synced(&app).await;
    let dir = tempfile::tempdir().unwrap();
    for (worker, file) in [
        (CPU, "llm-worker-rbee-cpu.metadata.json"),
        (PREMIUM, "llm-worker-rbee-premium.metadata.json"),
    ] {
        let metadata = write(dir.path(), file, &fixture(file));
        let platform = Platform::parse("linux/amd64").unwrap();
        let package_path = write(
            dir.path(),
            &format!("{worker}.tar.gz"),
            &package(worker, "0.1.0", "linux/amd64"),
        );
        let request = PublishRequest {
            worker_id: worker.into(),
            version: "0.1.0".into(),
            metadata,
            platforms: vec![(platform, package_path)],
            pkgbuild: None,
        };
        publish(&client(&app), &request).await.unwrap();
    }
    let (_, cpu) = get_json(&app, &format!("/v1/workers/{CPU}")).await;
    assert_eq!(cpu["origin"], "both");
    assert_eq!(cpu["versions"], serde_json::json!(["0.1.0"]));
    assert_eq!(cpu["distribution"]["binary_available"], true);
    // The registry is the truth for platforms: the one stored, with its real size.
    assert_eq!(cpu["platforms"].as_array().unwrap().len(), 1);
    assert_eq!(cpu["platforms"][0]["oci"], "linux/amd64");
    assert!(cpu["platforms"][0]["binary_size"].as_u64().unwrap() < 45_000_000);
    let (_, entry) = get_json(&app, &format!("/workers/{CPU}")).await;
    assert_eq!(entry["architectures"], serde_json::json!(["x86_64"]));
    let (_, premium) = get_json(&app, &format!("/v1/workers/{PREMIUM}")).await;
    assert_eq!(premium["requires_license"], true);
    assert_eq!(premium["origin"], "both");
}
