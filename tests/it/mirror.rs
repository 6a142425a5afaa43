//! `rbee-registry mirror` between two registry processes on 127.0.0.1: a protected origin
//! where CI published two workers (both platforms, two versions, PKGBUILD referrers) and a
//! mirror with its own site. The copy is byte for byte, a second run moves nothing, the
//! state is visible, and `--platform` makes a sparse replica that reports what it has.

use crate::mirror_support::*;
use crate::support::*;

#[tokio::test]
async fn mirror_copies_two_workers_byte_for_byte_and_a_second_run_moves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let (_origin_site, origin, admin) = protected_origin(work.path(), |_| {}).await;
    let mirror_site = TestSite::new().await;

    let first = run_mirror_ok(mirror_command(
        &mirror_site,
        &origin.base_url,
        &[
            "--once",
            "--repo",
            "workers/*",
            "--username",
            "admin",
            "--password",
            &admin,
        ],
    ))
    .await;
    assert_eq!(first.count("repositories"), 2, "{}", first.stdout);
    // Per worker: 2 indexes, 4 platform manifests, 2 PKGBUILD manifests.
    assert_eq!(first.count("manifests"), 16, "{}", first.stdout);
    assert!(first.count("blobs") > 0 && first.count("bytes") > 0);
    assert_eq!(first.count("errors"), 0);

    let mirror = mirror_site.start().await;
    let origin_client = client_with(&origin, &admin);
    let mirror_client = crate::worker_fixtures::client(&mirror);
    for worker in WORKERS {
        assert_same_repository(&origin_client, &mirror_client, &format!("workers/{worker}"), &VERSIONS).await;
    }
    // The replica is a worker registry: its catalog lists both workers, both platforms.
    let workers: serde_json::Value = mirror.get("/v1/workers").await.json().await.unwrap();
    let text = workers.to_string();
    for worker in WORKERS {
        assert!(text.contains(worker), "{text}");
    }

    // A second run (while the mirror serves) finds every tag up to date: 0 blobs, 0 bytes.
    let mut command = mirror_command(
        &mirror_site,
        &origin.base_url,
        &[
            "--repo",
            "workers/llm-worker-rbee-cpu",
            "--repo",
            "workers/llm-worker-rbee-cuda",
        ],
    );
    command
        .env("RBEE_UPSTREAM_USERNAME", "admin")
        .env("RBEE_UPSTREAM_PASSWORD", &admin);
    let second = run_mirror_ok(command).await;
    assert_eq!(second.count("blobs"), 0, "{}", second.stdout);
    assert_eq!(second.count("bytes"), 0, "{}", second.stdout);
    assert_eq!(second.count("manifests"), 0, "{}", second.stdout);
    assert_eq!(second.count("skipped"), 4, "{}", second.stdout);

    // The state: per repository, the last run ok with nothing copied, no lag.
    let state: serde_json::Value = mirror.get("/v1/mirrors").await.json().await.unwrap();
    let mirrors = state["mirrors"].as_array().unwrap();
    assert_eq!(mirrors.len(), 2, "{state}");
    for entry in mirrors {
        assert_eq!(entry["upstream"], origin.base_url.as_str());
        assert_eq!(entry["result"], "ok", "{entry}");
        assert_eq!(entry["blobs_copied"], 0);
        assert_eq!(entry["bytes_copied"], 0);
        assert_eq!(entry["lag_seconds"], 0);
        assert!(entry["last_success_at"].as_u64().unwrap() > 0);
    }
    assert_eq!(state["transfers"], serde_json::json!([]));
    let metrics = mirror.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "rbee_mirror_last_run_success{{upstream=\"{}\",repository=\"workers/llm-worker-rbee-cpu\"}} 1",
            origin.base_url
        )),
        "{metrics}"
    );
    assert!(metrics.contains("rbee_mirror_lag_seconds{"), "{metrics}");
    // Recent successes: /readyz lists no stale mirror.
    let ready: serde_json::Value = mirror.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["mirrors"], serde_json::json!([]), "{ready}");
}

#[tokio::test]
async fn a_platform_subset_makes_a_sparse_replica_that_reports_what_it_has() {
    let work = tempfile::tempdir().unwrap();
    let (_origin_site, origin, admin) = protected_origin(work.path(), |_| {}).await;
    let mirror_site = TestSite::new().await;
    run_mirror_ok(mirror_command(
        &mirror_site,
        &origin.base_url,
        &[
            "--repo",
            "workers/llm-worker-rbee-cpu",
            "--platform",
            "linux-aarch64",
            "--username",
            "admin",
            "--password",
            &admin,
        ],
    ))
    .await;
    let mirror = mirror_site.start().await;
    let origin_client = client_with(&origin, &admin);
    let mirror_client = crate::worker_fixtures::client(&mirror);
    let repository = "workers/llm-worker-rbee-cpu";
    let tag = rbee_registry::oci::Reference::Tag(rbee_registry::oci::Tag::parse("1.1.0").unwrap());
    let accept = rbee_registry::client::upstream::MANIFEST_ACCEPT;
    // The index is stored as given: the same digest and bytes, both entries.
    let original = origin_client.get_manifest(repository, &tag, accept).await.unwrap();
    let sparse = mirror_client.get_manifest(repository, &tag, accept).await.unwrap();
    assert_eq!(original.content, sparse.content);
    let index: serde_json::Value = serde_json::from_slice(&sparse.content).unwrap();
    for entry in index["manifests"].as_array().unwrap() {
        let digest: rbee_registry::oci::Digest = entry["digest"].as_str().unwrap().parse().unwrap();
        let served = mirror_client
            .get_manifest(repository, &rbee_registry::oci::Reference::Digest(digest), accept)
            .await;
        match entry["platform"]["architecture"].as_str().unwrap() {
            "arm64" => assert!(served.is_ok(), "the chosen platform is served"),
            _ => assert!(served.is_err(), "the other platform is not here"),
        }
    }
    // The catalog reports only the platform present.
    let worker: serde_json::Value = mirror
        .get("/v1/workers/llm-worker-rbee-cpu")
        .await
        .json()
        .await
        .unwrap();
    let platforms: Vec<&str> = worker["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|platform| platform["oci"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/arm64"], "{worker}");
}
