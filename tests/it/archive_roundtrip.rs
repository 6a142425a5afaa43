//! Issue 12, must-show 4 (`rbee-registry export` → `import`): an origin with two published
//! workers (two platforms, PKGBUILD referrers), a Git catalog and licenses is exported and
//! imported into an empty registry; the replica serves byte-identical manifests and blobs,
//! keeps two repositories that share a tag apart, lists the workers, serves its catalog to `git clone`, verifies the origin's license
//! offline and refuses the revoked one; a second import changes nothing; `--since` writes
//! a smaller archive that imports on top of the first.

use std::time::Duration;

use serde_json::json;

use crate::archive_support::*;
use crate::auth_support::request_token;
use crate::catalog_fixtures::cpu_pkgbuild;
use crate::catalog_git_fixture::git;
use crate::licenses_cli::{cli, issue_license, PREMIUM};
use crate::support::*;
use crate::worker_fixtures::{metadata, publish_worker, write};

const CPU: &str = "llm-worker-rbee-cpu";
const PKGBUILD: &str = "pkgname=llm-worker-rbee-cpu\npkgver=0.1.0\npkgrel=1\n";

async fn verify(app: &TestApp, token: &str) -> serde_json::Value {
    let response = app
        .client
        .post(app.url("/v1/licenses/verify"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn archive_round_trip_gives_an_identical_replica_with_catalog_and_licenses() {
    let work = tempfile::tempdir().unwrap();
    let origin_site = TestSite::new().await;
    let origin = origin_site.start().await;
    publish_worker(
        &origin,
        work.path(),
        CPU,
        "0.1.0",
        &["linux/amd64", "linux/arm64"],
        Some(PKGBUILD),
    )
    .await;
    publish_worker(
        &origin,
        work.path(),
        PREMIUM,
        "1.0.0",
        &["linux/amd64", "linux/arm64"],
        Some("pkgname=premium\n"),
    )
    .await;
    // Two more repositories sharing a tag: each entry names its repository, so both survive.
    origin.push_image("team/app", "v1", &bytes_of(2000, 1)).await;
    origin.push_image("team/other", "v1", &bytes_of(2000, 2)).await;
    // The Git catalog, made with `catalog init` and `catalog add` (which syncs it).
    let (ok, stdout, stderr) = run_on(&origin_site, &["catalog", "init"]).await;
    assert!(ok, "catalog init: {stdout}{stderr}");
    let metadata = write(
        work.path(),
        "catalog-cpu.json",
        &serde_json::to_vec_pretty(&metadata(CPU, "0.1.0")).unwrap(),
    );
    let pkgbuild = write(work.path(), "catalog-cpu.PKGBUILD", &cpu_pkgbuild());
    let (ok, stdout, stderr) = run_on(
        &origin_site,
        &[
            "catalog",
            "add",
            "--worker",
            CPU,
            "--metadata",
            metadata.to_str().unwrap(),
            "--pkgbuild",
            pkgbuild.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "catalog add: {stdout}{stderr}");
    let branch_commit = stdout.split('\t').nth(1).unwrap().to_string();
    let valid = issue_license(&origin_site, &[PREMIUM], "30d");
    let revoked = issue_license(&origin_site, &[PREMIUM], "30d");
    cli(&origin_site, &["license", "revoke", &revoked]);

    let archive = work.path().join("origin.tar");
    let summary = export(&origin_site, &archive, &[]).await;
    assert!(summary.contains("exported 4 repositories, 4 tags"), "{summary}");

    // `--repo` patterns choose repositories.
    let teams = work.path().join("teams.tar");
    let summary = export(&origin_site, &teams, &["--repo", "team/*"]).await;
    assert!(
        summary.contains("exported 2 repositories, 2 tags, 2 manifests"),
        "{summary}"
    );

    // The archive is an OCI image layout: every tag with its three annotations.
    let mut tar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let mut names = Vec::new();
    let mut index = None;
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        if path == "index.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            index = Some(serde_json::from_str::<serde_json::Value>(&text).unwrap());
        }
        names.push(path);
    }
    assert_eq!(names.first().map(String::as_str), Some("oci-layout"));
    assert_eq!(names.last().map(String::as_str), Some("rbee/contents.json"));
    assert!(names.iter().any(|n| n == "rbee/catalog.git/HEAD"), "{names:?}");
    let index = index.unwrap();
    let tagged: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["annotations"]["org.opencontainers.image.ref.name"].is_string())
        .collect();
    assert_eq!(tagged.len(), 4, "{index}");
    let cpu = tagged
        .iter()
        .find(|entry| entry["annotations"]["dev.rbee.repository"] == format!("workers/{CPU}"))
        .unwrap();
    assert_eq!(cpu["annotations"]["org.opencontainers.image.ref.name"], "0.1.0");
    assert_eq!(
        cpu["annotations"]["io.containerd.image.name"],
        format!("workers/{CPU}:0.1.0")
    );
    // The PKGBUILD referrers are listed (untagged) so their repository travels with them.
    assert_eq!(index["manifests"].as_array().unwrap().len(), 6, "{index}");

    // Import into an empty registry.
    let replica_site = TestSite::new().await;
    let imported = import(&replica_site, &archive, &[]).await;
    assert!(imported.contains("imported 4 repositories"), "{imported}");
    assert!(imported.contains("license keys: 1 added"), "{imported}");
    assert!(imported.contains("revocations: 1 added"), "{imported}");
    let replica = replica_site.start().await;

    // Byte-identical content over HTTP.
    let origin_content = snapshot(&origin).await;
    assert!(origin_content.len() > 10, "{origin_content:?}");
    assert_eq!(snapshot(&replica).await, origin_content);

    // The worker catalog: the same versions and records.
    // (`updated_at` is when the tag arrived here: the import's time on the replica.)
    let without_times = |mut workers: serde_json::Value| {
        for worker in workers["workers"].as_array_mut().unwrap() {
            worker.as_object_mut().unwrap().remove("updated_at");
        }
        workers
    };
    let origin_workers = without_times(json(&origin, "/v1/workers").await);
    assert_eq!(origin_workers["total"], 2);
    assert_eq!(without_times(json(&replica, "/v1/workers").await), origin_workers);
    let cpu_versions = json(&replica, &format!("/v1/workers/{CPU}/versions")).await;
    assert!(cpu_versions.to_string().contains("0.1.0"), "{cpu_versions}");

    // `git clone` of the replica's catalog: the origin's commits.
    let clone = work.path().join("clone");
    git(
        work.path(),
        &[
            "clone",
            "-q",
            "-b",
            CPU,
            &replica.url("/catalog.git"),
            clone.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]).await, branch_commit);
    assert_eq!(
        json(&replica, "/v1/catalog/status").await["revision"],
        json(&origin, "/v1/catalog/status").await["revision"]
    );

    // Licenses verify offline with the imported public key; the revoked one does not.
    assert_eq!(verify(&replica, &valid).await["valid"], true);
    assert_eq!(
        verify(&replica, &revoked).await,
        json!({ "valid": false, "reason": "revoked" })
    );
    replica.stop().await;
    let protected = replica_site.start_protected(|_| {}).await;
    let scope = format!("repository:workers/{PREMIUM}:pull");
    let granted = request_token(&protected, Some(&valid), &[&scope]).await;
    assert_eq!(granted.status(), 200);
    let refused = request_token(&protected, Some(&revoked), &[&scope]).await;
    assert_eq!(refused.status(), 401);
    protected.stop().await;

    // A second import changes nothing.
    let again = import(&replica_site, &archive, &[]).await;
    assert!(
        again.contains("blobs: 0 stored (0 bytes)")
            && again.contains("manifests: 0 stored")
            && again.contains("tags: 0 set, 4 skipped")
            && again.contains("license keys: 0 added")
            && again.contains("revocations: 0 added"),
        "{again}"
    );
    let replica = replica_site.start().await;
    assert_eq!(snapshot(&replica).await, origin_content);

    // Incremental: a new version pushed after `since`.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    publish_worker(
        &origin,
        work.path(),
        CPU,
        "0.2.0",
        &["linux/amd64", "linux/arm64"],
        None,
    )
    .await;
    let incremental = work.path().join("since.tar");
    let summary = export(&origin_site, &incremental, &["--since", &since]).await;
    assert!(summary.contains("exported 1 repositories, 1 tags"), "{summary}");
    let (full, small) = (
        std::fs::metadata(&archive).unwrap().len(),
        std::fs::metadata(&incremental).unwrap().len(),
    );
    assert!(small < full, "incremental {small} bytes, full {full}");
    let imported = import(&replica_site, &incremental, &[]).await;
    assert!(imported.contains("tags: 1 set"), "{imported}");
    assert_eq!(snapshot(&replica).await, snapshot(&origin).await);
    let cpu_versions = json(&replica, &format!("/v1/workers/{CPU}/versions")).await;
    assert!(cpu_versions.to_string().contains("0.2.0"), "{cpu_versions}");
}
