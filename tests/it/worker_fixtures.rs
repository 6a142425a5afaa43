//! Worker test data: the four known workers' metadata (tests/fixtures/workers), packages
//! built on the fly (a runnable `bin/<worker>` shell script, LICENSE, README.md,
//! metadata.json), publishing them through the library's `publish`, and the snapshot check
//! of whole catalog responses (tests/it/snapshots/).

use std::io::Write;
use std::path::{Path, PathBuf};

use rbee_registry::artifact::Platform;
use rbee_registry::client::publish::{publish, PublishReport, PublishRequest};
use rbee_registry::client::RegistryClient;
use serde_json::Value;

use crate::support::TestApp;

pub const KNOWN_WORKERS: [&str; 4] = [
    "llm-worker-rbee-cpu",
    "llm-worker-rbee-cuda",
    "llm-worker-rbee-metal",
    "llm-worker-rbee-premium",
];

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workers")
}

/// The fixture metadata of a known worker, at `version`.
pub fn metadata(worker_id: &str, version: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("{worker_id}.metadata.json"))).unwrap();
    let mut metadata: Value = serde_json::from_str(&text).unwrap();
    metadata["version"] = version.into();
    metadata
}

/// A package: `bin/<worker>` prints "<worker> <version> <platform>".
pub fn package(worker_id: &str, version: &str, platform: &str) -> Vec<u8> {
    let script = format!("#!/bin/sh\necho \"{worker_id} {version} {platform}\"\n");
    let metadata = serde_json::to_vec_pretty(&metadata(worker_id, version)).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
        }
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append_data(&mut header, path, data).unwrap();
    };
    add("bin/", 0o755, b"");
    add(&format!("bin/{worker_id}"), 0o755, script.as_bytes());
    add("LICENSE", 0o644, b"GPL-3.0-or-later\n");
    add("README.md", 0o644, format!("# {worker_id}\n").as_bytes());
    add("metadata.json", 0o644, &metadata);
    builder.into_inner().unwrap().finish().unwrap()
}

/// Writes a file under `dir` and returns its path.
pub fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(data).unwrap();
    path
}

pub fn client(app: &TestApp) -> RegistryClient {
    RegistryClient::new(&app.base_url, None).unwrap()
}

/// Publishes a known worker's `version` for `platforms` (either spelling), with packages
/// built by [`package`], optionally with a PKGBUILD.
pub async fn publish_worker(
    app: &TestApp,
    dir: &Path,
    worker_id: &str,
    version: &str,
    platforms: &[&str],
    pkgbuild: Option<&str>,
) -> PublishReport {
    publish_worker_with(&client(app), dir, worker_id, version, platforms, pkgbuild)
        .await
        .unwrap()
}

/// Like [`publish_worker`], to any registry the client speaks to.
pub async fn publish_worker_with(
    client: &RegistryClient,
    dir: &Path,
    worker_id: &str,
    version: &str,
    platforms: &[&str],
    pkgbuild: Option<&str>,
) -> Result<PublishReport, rbee_registry::client::publish::PublishError> {
    let metadata_path = write(
        dir,
        &format!("{worker_id}-{version}.metadata.json"),
        &serde_json::to_vec_pretty(&metadata(worker_id, version)).unwrap(),
    );
    let platforms = platforms
        .iter()
        .map(|name| {
            let platform = Platform::parse(name).unwrap();
            let file = format!("{worker_id}-{version}-{}.tar.gz", name.replace('/', "-"));
            let path = write(dir, &file, &package(worker_id, version, &platform.to_string()));
            (platform, path)
        })
        .collect();
    let request = PublishRequest {
        worker_id: worker_id.into(),
        version: version.into(),
        metadata: metadata_path,
        platforms,
        pkgbuild: pkgbuild.map(|text| write(dir, &format!("{worker_id}-{version}.PKGBUILD"), text.as_bytes())),
    };
    publish(client, &request).await
}

/// Polls `check` every 50 ms for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{name}.json"))
}

/// Compares a whole response body with its snapshot.
pub fn assert_snapshot(name: &str, actual: &Value) {
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
