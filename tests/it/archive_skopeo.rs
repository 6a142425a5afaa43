//! Archives and skopeo (issue 12, must-show 4 and the brief's must-show 3): skopeo reads
//! an exported archive, choosing an image by its tag (`org.opencontainers.image.ref.name`);
//! an archive written by skopeo (`oci-archive:x.tar:name:tag`, or with only a tag, then
//! with `import --repo`) imports, and importing it twice changes nothing.

use std::path::Path;

use crate::archive_support::*;
use crate::support::*;
use crate::worker_fixtures::publish_worker;

async fn skopeo(args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new("skopeo")
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[tokio::test]
async fn skopeo_reads_an_exported_archive_by_tag() {
    require("skopeo");
    let work = tempfile::tempdir().unwrap();
    let site = TestSite::new().await;
    let origin = site.start().await;
    publish_worker(
        &origin,
        work.path(),
        "llm-worker-rbee-cpu",
        "0.1.0",
        &["linux/amd64", "linux/arm64"],
        Some("pkgname=cpu\n"),
    )
    .await;
    origin.push_image("team/app", "v1", &bytes_of(3000, 7)).await;
    let archive = work.path().join("export.tar");
    export(&site, &archive, &[]).await;

    // A plain image, chosen by its tag.
    let plain = work.path().join("plain");
    let source = format!("oci-archive:{}:v1", archive.display());
    let (ok, output) = skopeo(&["copy", &source, &format!("dir:{}", plain.display())]).await;
    assert!(ok, "skopeo copy {source}: {output}");
    let (_, manifest_bytes) = manifest(&origin, "team/app", "v1").await;
    assert_eq!(std::fs::read(plain.join("manifest.json")).unwrap(), manifest_bytes);

    // The worker's index with every platform. skopeo 1.9 rewrites an index without a
    // `mediaType` field (as worker indexes are) into one with it, so the platform manifests
    // are compared: each is copied byte for byte.
    let worker = work.path().join("worker");
    let source = format!("oci-archive:{}:0.1.0", archive.display());
    let destination = format!("oci:{}:0.1.0", worker.display());
    let (ok, output) = skopeo(&["copy", "--all", &source, &destination]).await;
    assert!(ok, "skopeo copy --all {source}: {output}");
    let (_, index_bytes) = manifest(&origin, "workers/llm-worker-rbee-cpu", "0.1.0").await;
    let index: serde_json::Value = serde_json::from_slice(&index_bytes).unwrap();
    let platforms = index["manifests"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    for platform in platforms {
        let digest = platform["digest"].as_str().unwrap();
        let (_, bytes) = manifest(&origin, "workers/llm-worker-rbee-cpu", digest).await;
        let copied = worker
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap());
        assert_eq!(std::fs::read(&copied).unwrap(), bytes, "{digest}");
    }

    // A tag the archive does not have is refused.
    let missing = format!("oci-archive:{}:9.9.9", archive.display());
    let (ok, _) = skopeo(&["copy", &missing, &format!("dir:{}", work.path().join("none").display())]).await;
    assert!(!ok, "skopeo found a tag that is not in the archive");
}

/// A small image layout made by tests/fixtures/make_oci_layout.py; its manifest digest.
async fn make_layout(dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_oci_layout.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(dir)
        .arg("v1")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn an_archive_written_by_skopeo_imports() {
    require("skopeo");
    require("python3");
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let digest = make_layout(&layout).await;
    let source = format!("oci:{}:v1", layout.display());

    // `name:tag` as the reference: skopeo writes it as ref.name; the repository comes from it.
    let named = work.path().join("named.tar");
    let (ok, output) = skopeo(&["copy", &source, &format!("oci-archive:{}:team/app:v1", named.display())]).await;
    assert!(ok, "{output}");
    let site = TestSite::new().await;
    let first = import(&site, &named, &[]).await;
    assert!(first.contains("tags: 1 set"), "{first}");
    let again = import(&site, &named, &[]).await;
    assert!(
        again.contains("blobs: 0 stored") && again.contains("manifests: 0 stored") && again.contains("tags: 0 set"),
        "{again}"
    );
    let app = site.start().await;
    let (served, _) = manifest(&app, "team/app", "v1").await;
    assert_eq!(served, digest);
    let content = snapshot(&app).await;
    assert_eq!(content.len(), 5, "{content:?}"); // tag, manifest, config, two layers

    // Only a tag as the reference: the repository must be given.
    let bare = work.path().join("bare.tar");
    let (ok, output) = skopeo(&["copy", &source, &format!("oci-archive:{}:v2", bare.display())]).await;
    assert!(ok, "{output}");
    let (ok, stdout, stderr) = import_result(&site, &bare, &[]).await;
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("--repo"), "{stderr}");
    import(&site, &bare, &["--repo", "team/bare"]).await;
    let (served, _) = manifest(&app, "team/bare", "v2").await;
    assert_eq!(served, digest);
}
