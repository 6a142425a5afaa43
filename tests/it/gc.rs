//! Garbage collection (`rbee-registry gc`, `Registry::collect_garbage`): what it frees, what
//! it must keep, and that pushes racing with it lose nothing.

use std::time::Duration;

use rbee_registry::config::FileConfig;
use rbee_registry::services::gc::{GcOptions, GcReport};
use rbee_registry::storage::StorageKey;
use serde_json::{json, Value};

use crate::support::*;

const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux"}"#;

fn options(dry_run: bool, grace_period: Duration, upload_max_age: Duration) -> GcOptions {
    GcOptions {
        dry_run,
        grace_period,
        upload_max_age,
    }
}

/// Everything older than now is fair game (the sleep makes "older" true of what was just pushed).
async fn collect_now(site: &TestSite, dry_run: bool) -> GcReport {
    tokio::time::sleep(Duration::from_millis(5)).await;
    site.registry()
        .await
        .collect_garbage(&options(dry_run, Duration::ZERO, Duration::from_secs(3600)))
        .await
        .unwrap()
}

/// Pushes the shared config and `layers`, then a manifest of them under `reference`.
/// Returns the manifest digest, or the error code when the push was refused.
async fn try_push(app: &TestApp, repository: &str, reference: &str, layers: &[&[u8]]) -> Result<String, String> {
    let config_digest = app.push_blob(repository, CONFIG).await;
    let mut descriptors = Vec::new();
    for layer in layers {
        let digest = app.push_blob(repository, layer).await;
        descriptors.push(
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": layer.len()}),
        );
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": CONFIG.len()},
        "layers": descriptors,
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let response = app
        .client
        .put(app.url(&format!("/v2/{repository}/manifests/{reference}")))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    if response.status() == 201 {
        Ok(sha256(&body))
    } else {
        Err(error_code(response).await)
    }
}

async fn push(app: &TestApp, repository: &str, reference: &str, layers: &[&[u8]]) -> String {
    try_push(app, repository, reference, layers)
        .await
        .expect("push accepted")
}

async fn delete_manifest(app: &TestApp, repository: &str, digest: &str) {
    let response = app
        .client
        .delete(app.url(&format!("/v2/{repository}/manifests/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

/// Every blob of every tagged manifest of `repository` downloads whole and hashes right.
async fn assert_pullable(app: &TestApp, repository: &str) -> usize {
    let tags: Value = app
        .get(&format!("/v2/{repository}/tags/list"))
        .await
        .json()
        .await
        .unwrap();
    let tags = tags["tags"].as_array().cloned().unwrap_or_default();
    for tag in &tags {
        let manifest: Value = app
            .client
            .get(app.url(&format!("/v2/{repository}/manifests/{}", tag.as_str().unwrap())))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
        for layer in manifest["layers"].as_array().unwrap() {
            digests.push(layer["digest"].as_str().unwrap().to_string());
        }
        for digest in digests {
            let response = app.get(&format!("/v2/{repository}/blobs/{digest}")).await;
            assert_eq!(response.status(), 200, "{repository}:{tag} lost {digest}");
            assert_eq!(sha256(&response.bytes().await.unwrap()), digest);
        }
    }
    tags.len()
}

#[tokio::test]
async fn gc_frees_exactly_the_blobs_only_the_deleted_version_used() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let (only_v1, only_v2, shared) = (bytes_of(30_000, 1), bytes_of(40_000, 2), bytes_of(50_000, 3));
    let v1 = push(&app, "workers/demo", "0.1.0", &[&only_v1, &shared]).await;
    push(&app, "workers/demo", "0.2.0", &[&only_v2, &shared]).await;
    delete_manifest(&app, "workers/demo", &v1).await;

    // Within the default grace period nothing is removed.
    let registry = site.registry().await;
    let kept = registry
        .collect_garbage(&options(
            false,
            Duration::from_secs(24 * 3600),
            Duration::from_secs(3600),
        ))
        .await
        .unwrap();
    assert_eq!(kept.blobs, vec![]);
    assert_eq!(kept.bytes_freed, 0);

    let expected = vec![(sha256(&only_v1).parse().unwrap(), only_v1.len() as u64)];
    let dry = collect_now(&site, true).await;
    assert!(dry.dry_run);
    assert_eq!(dry.blobs, expected);
    assert_eq!(dry.links, 1);
    assert_eq!(dry.bytes_freed, only_v1.len() as u64);
    assert_eq!(
        app.get(&format!("/v2/workers/demo/blobs/{}", sha256(&only_v1)))
            .await
            .status(),
        200,
        "a dry run removes nothing"
    );

    let stored_before = app.stored_blobs().await;
    let report = collect_now(&site, false).await;
    assert_eq!(report.blobs, expected);
    assert_eq!(report.links, 1);
    assert_eq!(report.bytes_freed, only_v1.len() as u64);
    let stored_after = app.stored_blobs().await;
    let gone: Vec<&String> = stored_before
        .iter()
        .filter(|path| !stored_after.contains(path))
        .collect();
    assert_eq!(gone.len(), 1);
    assert!(gone[0].ends_with(sha256(&only_v1).trim_start_matches("sha256:")));
    let missing = app.get(&format!("/v2/workers/demo/blobs/{}", sha256(&only_v1))).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(assert_pullable(&app, "workers/demo").await, 1);

    // A second run finds nothing more.
    assert_eq!(collect_now(&site, false).await, GcReport::default());
}

#[tokio::test]
async fn deleting_a_manifest_never_removes_a_blob_another_repository_uses() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let (common, own) = (bytes_of(20_000, 4), bytes_of(21_000, 5));
    let a = push(&app, "team/a", "v1", &[&common, &own]).await;
    push(&app, "team/b", "v1", &[&common]).await;
    delete_manifest(&app, "team/a", &a).await;
    let report = collect_now(&site, false).await;
    assert_eq!(report.blobs, vec![(sha256(&own).parse().unwrap(), own.len() as u64)]);
    // team/a loses its links to what it no longer uses; team/b keeps everything.
    assert_eq!(report.links, 3);
    assert_eq!(assert_pullable(&app, "team/b").await, 1);
    assert_eq!(
        app.get(&format!("/v2/team/a/blobs/{}", sha256(&common))).await.status(),
        404
    );
}

#[tokio::test]
async fn a_blob_not_yet_referenced_is_kept_for_the_grace_period() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let data = bytes_of(10_000, 6);
    let digest = app.push_blob("pending", &data).await;
    let registry = site.registry().await;
    let kept = registry
        .collect_garbage(&options(false, Duration::from_secs(3600), Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(kept.blobs, vec![]);
    assert_eq!(app.get(&format!("/v2/pending/blobs/{digest}")).await.status(), 200);
    let removed = collect_now(&site, false).await;
    assert_eq!(removed.blobs, vec![(digest.parse().unwrap(), data.len() as u64)]);
    assert_eq!(app.get(&format!("/v2/pending/blobs/{digest}")).await.status(), 404);
}

#[tokio::test]
async fn abandoned_uploads_and_orphaned_parts_are_removed() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let location = app.start_upload("abandon").await;
    let session_id = location.rsplit('/').next().unwrap().to_string();
    let patched = app
        .client
        .patch(app.url(&location))
        .body(vec![7u8; 1_000])
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    // Bytes a crashed request left behind, with no session row.
    let orphan = rbee_registry::storage::StorageKey::UploadPart {
        session_id: uuid::Uuid::new_v4().to_string(),
        part_id: "monolithic".into(),
    };
    let mut writer = site.blob_store().writer(orphan);
    writer.write(vec![1u8; 333].into()).await.unwrap();
    writer.finish().await.unwrap();

    let registry = site.registry().await;
    let young = registry
        .collect_garbage(&options(false, Duration::from_secs(3600), Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(young, GcReport::default(), "young uploads are kept");

    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = registry
        .collect_garbage(&options(false, Duration::from_secs(3600), Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(report.uploads, vec![session_id.clone()]);
    assert_eq!(report.orphaned_upload_objects, 1);
    assert_eq!(report.bytes_freed, 1_000 + 333);
    assert_eq!(app.get(&location).await.status(), 404);
    assert!(app.stored_objects("uploads").await.is_empty());
}

/// Pushers keep pushing versions that share layers and deleting older ones, while `gc`
/// runs in a loop with a one-second grace period. Rounds are spaced past the grace period,
/// so content shared by every other round is freed and pushed again while `gc` runs: the
/// upload's claim and `gc`'s delete meet. A push may be refused (`MANIFEST_BLOB_UNKNOWN`
/// when it took longer than the grace period; the client pushes again), but an accepted
/// manifest never loses a blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_racing_with_gc_loses_nothing() {
    let site = TestSite::new().await;
    let app = std::sync::Arc::new(site.start().await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let site = site.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let registry = site.registry().await;
            let mut freed = 0;
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || runs == 0 {
                let report = registry
                    .collect_garbage(&options(false, Duration::from_secs(1), Duration::from_secs(3600)))
                    .await
                    .unwrap();
                freed += report.blobs.len();
                runs += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (runs, freed)
        })
    };
    let mut pushers = Vec::new();
    for task in 0..3u8 {
        let app = app.clone();
        pushers.push(tokio::spawn(async move {
            let repository = format!("race/p{task}");
            let recycled = [bytes_of(9_000, 100), bytes_of(9_001, 101)];
            let mut previous: Option<String> = None;
            let mut refused = 0;
            for round in 0..6u8 {
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(1_300)).await;
                }
                let own = bytes_of(5_000 + round as usize, task * 16 + round);
                let layers: [&[u8]; 2] = [&own, &recycled[round as usize % 2]];
                let digest = loop {
                    match try_push(&app, &repository, &format!("r{round}"), &layers).await {
                        Ok(digest) => break digest,
                        Err(code) => {
                            assert_eq!(code, "MANIFEST_BLOB_UNKNOWN");
                            refused += 1;
                            assert!(refused < 20, "pushes keep being refused");
                        }
                    }
                };
                if let Some(old) = previous.replace(digest) {
                    delete_manifest(&app, &repository, &old).await;
                }
            }
            refused
        }));
    }
    for pusher in pushers {
        pusher.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (runs, freed) = collector.await.unwrap();
    eprintln!("gc ran {runs} times concurrently and freed {freed} blobs");
    assert!(freed > 0, "gc freed the deleted versions' layers while pushes went on");
    for task in 0..3 {
        assert_eq!(assert_pullable(&app, &format!("race/p{task}")).await, 1);
    }
    // Once more with nothing racing: what is referenced stays.
    collect_now(&site, false).await;
    for task in 0..3 {
        assert_eq!(assert_pullable(&app, &format!("race/p{task}")).await, 1);
    }
}

#[tokio::test]
async fn the_gc_command_reports_and_removes() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let data = bytes_of(12_345, 9);
    let digest = app.push_blob("cli", &data).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let run = |dry_run: bool| {
        let mut command = site.command("gc");
        command.args(["--grace-period", "0s"]);
        if dry_run {
            command.arg("--dry-run");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let dry = run(true);
    assert!(
        dry.contains(&format!("would remove blob {digest} (12345 bytes)")),
        "{dry}"
    );
    assert!(
        dry.contains("would remove 1 blobs, 1 repository links, 0 upload sessions"),
        "{dry}"
    );
    assert_eq!(app.get(&format!("/v2/cli/blobs/{digest}")).await.status(), 200);
    let real = run(false);
    assert!(
        real.contains(
            "removed 1 blobs, 1 repository links, 0 upload sessions, 0 orphaned upload objects; 12345 bytes freed"
        ),
        "{real}"
    );
    assert_eq!(app.get(&format!("/v2/cli/blobs/{digest}")).await.status(), 404);
    // The command ran in its own process; the serving one shows its outcome on /metrics.
    let text = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&text, "rbee_gc_last_run_success"), Some(1.0), "{text}");
    assert_eq!(metric(&text, r#"rbee_gc_last_run_removed{kind="blob"}"#), Some(1.0));
    assert_eq!(metric(&text, "rbee_gc_last_run_freed_bytes"), Some(12345.0));
}

/// The value of one series (name and labels exactly as rendered) in a `/metrics` text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn every_serving_process_exports_the_latest_recorded_run() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let other = site.start().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains("rbee_gc_last_run"), "no run was recorded yet:\n{text}");
    assert!(
        !text.contains("rbee_catalog_sync"),
        "there is no sync feature to report on:\n{text}"
    );

    push(&app, "gc/metrics", "v1", &[&bytes_of(1_000, 61)]).await;
    let garbage = bytes_of(25_000, 62);
    let garbage_digest = app.push_blob("gc/metrics", &garbage).await;
    let before = unix_seconds().floor();
    let report = collect_now(&site, false).await;
    assert_eq!(report.blobs, vec![(garbage_digest.parse().unwrap(), 25_000)]);
    let mut finished = 0.0;
    for server in [&app, &other] {
        let text = server.get("/metrics").await.text().await.unwrap();
        assert_eq!(metric(&text, "rbee_gc_last_run_success"), Some(1.0), "{text}");
        assert_eq!(metric(&text, r#"rbee_gc_last_run_removed{kind="blob"}"#), Some(1.0));
        assert_eq!(metric(&text, r#"rbee_gc_last_run_removed{kind="link"}"#), Some(1.0));
        assert_eq!(
            metric(&text, r#"rbee_gc_last_run_removed{kind="upload_session"}"#),
            Some(0.0)
        );
        assert_eq!(
            metric(&text, r#"rbee_gc_last_run_removed{kind="orphaned_upload_object"}"#),
            Some(0.0)
        );
        assert_eq!(metric(&text, "rbee_gc_last_run_freed_bytes"), Some(25_000.0));
        finished = metric(&text, "rbee_gc_last_run_timestamp_seconds").unwrap();
        assert!(
            finished >= before,
            "finished {finished}, test started the run at {before}"
        );
        assert_eq!(metric(&text, "rbee_gc_last_success_timestamp_seconds"), Some(finished));
        assert!(metric(&text, "rbee_gc_last_run_duration_seconds").unwrap() >= 0.0);
    }

    // A dry run removes nothing and is not recorded.
    let more_garbage = bytes_of(7_000, 63);
    app.push_blob("gc/metrics", &more_garbage).await;
    let dry = collect_now(&site, true).await;
    assert_eq!(dry.blobs.len(), 1);
    let text = other.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&text, "rbee_gc_last_run_timestamp_seconds"), Some(finished));
    assert_eq!(metric(&text, "rbee_gc_last_run_freed_bytes"), Some(25_000.0));

    // A run that fails is recorded as failed, with what it removed before the failure:
    // here the upload-session sweep, after the blobs, finds its table gone.
    let registry = site.registry().await;
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    sqlx::query(&rename("upload_sessions", "upload_sessions_away"))
        .execute(registry.database().writer())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let failed = registry
        .collect_garbage(&options(false, Duration::ZERO, Duration::from_secs(3600)))
        .await;
    sqlx::query(&rename("upload_sessions_away", "upload_sessions"))
        .execute(registry.database().writer())
        .await
        .unwrap();
    assert!(failed.is_err(), "{failed:?}");
    let text = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&text, "rbee_gc_last_run_success"), Some(0.0), "{text}");
    assert_eq!(metric(&text, r#"rbee_gc_last_run_removed{kind="blob"}"#), Some(1.0));
    assert_eq!(metric(&text, "rbee_gc_last_run_freed_bytes"), Some(7_000.0));
    assert!(metric(&text, "rbee_gc_last_run_timestamp_seconds").unwrap() >= finished);
    // The last success is still the earlier run.
    assert_eq!(metric(&text, "rbee_gc_last_success_timestamp_seconds"), Some(finished));
    assert_eq!(app.get("/v2/").await.status(), 200);
}

#[tokio::test]
async fn the_periodic_collection_in_serve_removes_an_unreferenced_blob() {
    let site = TestSite::new().await;
    // Pushed through a server without periodic collection, so nothing races the pushes.
    let pusher = site.start().await;
    push(&pusher, "gc/periodic", "v1", &[&bytes_of(2_000, 71)]).await;
    let garbage = bytes_of(30_000, 72);
    let digest = pusher.push_blob("gc/periodic", &garbage).await;

    let app = site
        .start_configured(FileConfig::default(), |config| {
            config.gc.interval = Some(Duration::from_millis(200));
            config.gc.grace_period = Duration::from_secs(1);
        })
        .await;
    let blob = format!("/v2/gc/periodic/blobs/{digest}");
    let mut removed = false;
    for _ in 0..300 {
        if app.get(&blob).await.status() == 404 {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(removed, "the periodic collection did not remove the unreferenced blob");
    // What a manifest references stays, and the runs are recorded like `gc`'s.
    assert_eq!(assert_pullable(&app, "gc/periodic").await, 1);
    assert!(site
        .blob_store()
        .size(&StorageKey::Blob(digest.parse().unwrap()))
        .await
        .unwrap()
        .is_none());
    let text = pusher.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&text, "rbee_gc_last_run_success"), Some(1.0), "{text}");
    assert!(metric(&text, "rbee_gc_last_success_timestamp_seconds").is_some());
    app.stop().await;
}

/// Where a move is a copy (S3), a blob finished from one part stays where it was written: the
/// blob's row names the part and nothing is copied. The upload sweepers and `gc`'s orphan pass
/// leave that part alone, the blob reads back, and `gc` removes it once it is garbage. On the
/// filesystem the part is moved to the blob's key as before.
#[tokio::test]
async fn a_blob_held_in_its_upload_part_outlives_the_upload_sweeps_and_goes_with_gc() {
    let site = TestSite::new().await;
    let app = site.start().await;
    // Over the 1 MiB held whole, so both stream through an upload part.
    let chunked = vec![3u8; 2 * 1024 * 1024 + 1];
    let whole = vec![4u8; 2 * 1024 * 1024 + 2];
    let location = app.start_upload("held/chunked").await;
    let patched = app
        .client
        .patch(app.url(&location))
        .body(chunked.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    let patched_location = patched.headers()["location"].to_str().unwrap().to_string();
    let chunked_digest = app.finish_and_verify("held/chunked", &patched_location, &chunked).await;
    let whole_digest = app.push_blob("held/whole", &whole).await;

    let stored = app.stored_blobs().await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    let uploads = app.stored_objects("uploads").await;
    match site.backend {
        TestBackend::PostgresS3 => {
            assert!(stored.iter().all(|path| path.starts_with("uploads/")), "{stored:?}");
            assert_eq!(uploads, stored, "only the held parts are left under uploads/");
        }
        TestBackend::SqliteFs => {
            assert!(stored.iter().all(|path| path.starts_with("blobs/")), "{stored:?}");
            assert!(uploads.is_empty(), "{uploads:?}");
        }
    }

    // Every upload sweep at once: idle sessions, orphaned parts, directories no session owns.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = site
        .registry()
        .await
        .collect_garbage(&options(false, Duration::from_secs(3600), Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(report.orphaned_upload_objects, 0, "{report:?}");
    assert!(report.blobs.is_empty(), "{report:?}");
    let mut config = site.config();
    config.limits.upload_session_ttl = Duration::from_millis(1);
    let swept = rbee_registry::server::open_registry(&config)
        .await
        .unwrap()
        .purge_expired_uploads()
        .await
        .unwrap();
    assert_eq!(swept, 0);
    assert_eq!(app.stored_blobs().await, stored);
    for (repository, digest, data) in [
        ("held/chunked", &chunked_digest, &chunked),
        ("held/whole", &whole_digest, &whole),
    ] {
        let read = app.get(&format!("/v2/{repository}/blobs/{digest}")).await;
        assert_eq!(read.status(), 200);
        assert!(read.bytes().await.unwrap()[..] == data[..]);
        let ranged = app
            .client
            .get(app.url(&format!("/v2/{repository}/blobs/{digest}")))
            .header("range", "bytes=10-19")
            .send()
            .await
            .unwrap();
        assert_eq!(ranged.status(), 206);
        assert!(ranged.bytes().await.unwrap()[..] == data[10..20]);
    }

    // Unlinked and past the grace period: gc takes the bytes where they are.
    for (repository, digest) in [("held/chunked", &chunked_digest), ("held/whole", &whole_digest)] {
        let deleted = app
            .client
            .delete(app.url(&format!("/v2/{repository}/blobs/{digest}")))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 202);
    }
    let report = collect_now(&site, false).await;
    assert_eq!(report.blobs.len(), 2, "{report:?}");
    assert!(app.stored_blobs().await.is_empty());
    assert!(app.stored_objects("uploads").await.is_empty());
}
