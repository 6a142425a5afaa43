//! A mirror run killed with `kill -9` in the middle of a large blob, then restarted: the
//! second run resumes the blob from the chunks the first one stored (it receives fewer
//! bytes than the blob has), nothing partial was ever served, and every digest is verified
//! (the finished copy is byte for byte the origin's; `TestApp`'s drop hashes every stored
//! blob).

use std::time::Duration;

use crate::auth_support::admin_secret;
use crate::licenses_cli::create_publisher;
use crate::mirror_support::*;
use crate::support::*;

const WORKER: &str = "llm-worker-rbee-cpu";

#[tokio::test]
async fn a_mirror_killed_mid_blob_resumes_it_and_completes_verified() {
    let work = tempfile::tempdir().unwrap();
    let origin_site = TestSite::new().await;
    let origin = origin_site.start_protected(|_| {}).await;
    let publisher = create_publisher(&origin_site, "ci", &["workers/*"], &[]);
    let package_bytes = publish_big_worker(
        &client_with(&origin, &publisher),
        work.path(),
        WORKER,
        "1.0.0",
        &["linux/amd64"],
        6 << 20,
    )
    .await;
    let admin = admin_secret(&origin);

    let mirror_site = TestSite::new().await;
    let mirror = mirror_site.start().await;
    let credentials = ["--username", "admin", "--password", admin.as_str()];
    let mut slow = mirror_command(
        &mirror_site,
        &origin.base_url,
        &[
            "--repo",
            &format!("workers/{WORKER}"),
            "--max-bytes-per-second",
            "1048576",
            "--chunk-size",
            "262144",
        ],
    );
    slow.args(credentials)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = slow.spawn().unwrap();

    // Wait until the copy of the package has stored at least 1 MiB, then kill -9.
    let mut received = 0;
    for _ in 0..600 {
        let state: serde_json::Value = mirror.get("/v1/mirrors").await.json().await.unwrap();
        received = state["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|transfer| transfer["received"].as_u64().unwrap())
            .max()
            .unwrap_or(0);
        if received >= 1 << 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(received >= 1 << 20, "the copy never got going");
    child.kill().unwrap();
    child.wait().unwrap();

    // Nothing of the cut copy is served: the tag is not here, the package blob unknown.
    let state: serde_json::Value = mirror.get("/v1/mirrors").await.json().await.unwrap();
    let transfer = &state["transfers"][0];
    assert!(
        transfer["received"].as_u64().unwrap() < transfer["size"].as_u64().unwrap(),
        "{state}"
    );
    let digest = transfer["digest"].as_str().unwrap();
    let blob = mirror.get(&format!("/v2/workers/{WORKER}/blobs/{digest}")).await;
    assert_eq!(blob.status(), 404);
    let tag = mirror.get(&format!("/v2/workers/{WORKER}/manifests/1.0.0")).await;
    assert_eq!(tag.status(), 404);

    // Restarted (at full speed), it resumes the blob and completes.
    let mut again = mirror_command(
        &mirror_site,
        &origin.base_url,
        &["--repo", &format!("workers/{WORKER}")],
    );
    again.args(credentials);
    let second = run_mirror_ok(again).await;
    assert_eq!(second.count("resumed"), 1, "{}", second.stdout);
    assert_eq!(second.count("errors"), 0);
    assert!(
        second.count("bytes") < package_bytes,
        "the second run received {} bytes; the package alone has {package_bytes}",
        second.count("bytes")
    );
    assert_same_repository(
        &client_with(&origin, &admin),
        &crate::worker_fixtures::client(&mirror),
        &format!("workers/{WORKER}"),
        &["1.0.0"],
    )
    .await;
    let state: serde_json::Value = mirror.get("/v1/mirrors").await.json().await.unwrap();
    assert_eq!(state["transfers"], serde_json::json!([]), "{state}");
    assert_eq!(state["mirrors"][0]["result"], "ok");
}
