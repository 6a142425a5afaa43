//! Helpers of the mirror tests: a protected origin with published workers, running
//! `rbee-registry mirror` on a site, reading its summary line, and comparing what two
//! registries serve byte for byte.

use std::path::Path;
use std::sync::Arc;

use rbee_registry::client::upstream::MANIFEST_ACCEPT;
use rbee_registry::client::{Credentials, RegistryClient};
use rbee_registry::oci::{Digest, Reference};
use serde_json::Value;

use crate::auth_support::admin_secret;
use crate::licenses_cli::create_publisher;
use crate::support::*;
use crate::worker_fixtures::publish_worker_with;

pub const WORKERS: [&str; 2] = ["llm-worker-rbee-cpu", "llm-worker-rbee-cuda"];
pub const VERSIONS: [&str; 2] = ["1.0.0", "1.1.0"];
pub const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

/// A client of `app` authenticating with `secret` as the Basic password of the token flow.
pub fn client_with(app: &TestApp, secret: &str) -> RegistryClient {
    RegistryClient::new(
        &app.base_url,
        Some(Credentials::Basic {
            username: "ci".into(),
            password: secret.into(),
        }),
    )
    .unwrap()
}

/// Publishes the two workers, two versions each, both platforms, each with a PKGBUILD.
pub async fn publish_two_workers(client: &RegistryClient, dir: &Path) {
    for worker in WORKERS {
        for version in VERSIONS {
            let pkgbuild = format!("pkgname={worker}\npkgver={version}\n");
            publish_worker_with(client, dir, worker, version, &PLATFORMS, Some(&pkgbuild))
                .await
                .unwrap();
        }
    }
}

/// A protected origin (token auth on) where CI published the two workers with a publisher
/// token; returns it with the admin token the mirror reads with.
pub async fn protected_origin(
    dir: &Path,
    configure: impl FnOnce(&mut rbee_registry::config::ServeConfig),
) -> (Arc<TestSite>, TestApp, String) {
    let site = TestSite::new().await;
    let origin = site.start_protected(configure).await;
    let publisher = create_publisher(&site, "ci", &["workers/*"], &[]);
    publish_two_workers(&client_with(&origin, &publisher), dir).await;
    let admin = admin_secret(&origin);
    (site, origin, admin)
}

/// `rbee-registry mirror --upstream <upstream> <args…>` on `site` (its database and storage).
pub fn mirror_command(site: &TestSite, upstream: &str, args: &[&str]) -> std::process::Command {
    let mut command = site.command_of(&["mirror"]);
    command.args(["--upstream", upstream]).args(args);
    command
        .env_remove("RBEE_UPSTREAM_USERNAME")
        .env_remove("RBEE_UPSTREAM_PASSWORD");
    command.env("DOCKER_CONFIG", site.data_dir.join("no-docker-config"));
    command
}

/// What a finished run printed and how it ended.
pub struct MirrorRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl MirrorRun {
    /// A number of the summary line: `mirrored 2 repositories: 8 manifests, 10 blobs, …`.
    pub fn count(&self, what: &str) -> u64 {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|line| line.starts_with("mirrored "))
            .unwrap_or_else(|| panic!("no summary line in {:?} / {:?}", self.stdout, self.stderr));
        let words: Vec<&str> = line.split_whitespace().collect();
        let position = words
            .iter()
            .position(|word| word.trim_end_matches([',', ':']) == what)
            .unwrap_or_else(|| panic!("no {what} in {line:?}"));
        words[position - 1].parse().unwrap()
    }
}

/// Runs the command to its end (on a blocking thread: the servers run on this runtime).
pub async fn run_mirror(mut command: std::process::Command) -> MirrorRun {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    MirrorRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

/// Like [`run_mirror`], failing the test unless the run succeeded.
pub async fn run_mirror_ok(command: std::process::Command) -> MirrorRun {
    let run = run_mirror(command).await;
    assert!(run.success, "mirror failed:\n{}\n{}", run.stdout, run.stderr);
    run
}

async fn manifest(client: &RegistryClient, repository: &str, reference: Reference) -> (Digest, Vec<u8>) {
    let fetched = client
        .get_manifest(repository, &reference, MANIFEST_ACCEPT)
        .await
        .unwrap();
    (fetched.digest, fetched.content)
}

/// Every tag of `repository` serves the same manifest bytes on both registries, and so do
/// its index's children, their blobs and the index's referrers.
pub async fn assert_same_repository(origin: &RegistryClient, mirror: &RegistryClient, repository: &str, tags: &[&str]) {
    let mut origin_tags = origin.list_all_tags(repository).await.unwrap();
    let mut mirror_tags = mirror.list_all_tags(repository).await.unwrap();
    origin_tags.sort();
    mirror_tags.sort();
    assert_eq!(origin_tags, mirror_tags, "{repository}: the tags differ");
    for tag in tags {
        let reference = Reference::Tag(rbee_registry::oci::Tag::parse(tag).unwrap());
        let (digest, bytes) = manifest(origin, repository, reference.clone()).await;
        let (mirrored_digest, mirrored) = manifest(mirror, repository, reference).await;
        assert_eq!(digest, mirrored_digest, "{repository}:{tag}");
        assert_eq!(bytes, mirrored, "{repository}:{tag}: the index bytes differ");
        let index: Value = serde_json::from_slice(&bytes).unwrap();
        for entry in index["manifests"].as_array().unwrap() {
            let child: Digest = entry["digest"].as_str().unwrap().parse().unwrap();
            let (_, origin_child) = manifest(origin, repository, Reference::Digest(child.clone())).await;
            let (_, mirror_child) = manifest(mirror, repository, Reference::Digest(child.clone())).await;
            assert_eq!(origin_child, mirror_child, "{repository}@{child}");
            assert_same_blobs(origin, mirror, repository, &origin_child).await;
        }
        let origin_referrers = origin.list_referrers(repository, &digest).await.unwrap().unwrap();
        let mirror_referrers = mirror.list_referrers(repository, &digest).await.unwrap().unwrap();
        assert_eq!(origin_referrers.len(), 1, "{repository}:{tag}: one PKGBUILD");
        assert_eq!(
            origin_referrers, mirror_referrers,
            "{repository}:{tag}: the referrers differ"
        );
        let pkgbuild = &origin_referrers[0].digest;
        let (_, origin_pkgbuild) = manifest(origin, repository, Reference::Digest(pkgbuild.clone())).await;
        let (_, mirror_pkgbuild) = manifest(mirror, repository, Reference::Digest(pkgbuild.clone())).await;
        assert_eq!(origin_pkgbuild, mirror_pkgbuild);
        assert_same_blobs(origin, mirror, repository, &origin_pkgbuild).await;
    }
}

/// The config and layers of an image manifest are the same bytes on both registries.
pub async fn assert_same_blobs(origin: &RegistryClient, mirror: &RegistryClient, repository: &str, manifest: &[u8]) {
    let manifest: Value = serde_json::from_slice(manifest).unwrap();
    let descriptors = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap());
    for descriptor in descriptors {
        let digest: Digest = descriptor["digest"].as_str().unwrap().parse().unwrap();
        let limit = 64 * 1024 * 1024;
        let from_origin = origin.get_small_blob(repository, &digest, limit).await.unwrap();
        let from_mirror = mirror.get_small_blob(repository, &digest, limit).await.unwrap();
        assert_eq!(from_origin, from_mirror, "{repository}@{digest}");
    }
}

/// A worker package of about `size` incompressible bytes (`bin/<worker>` and a data file).
pub fn big_package(worker: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut data = vec![0u8; size];
    for byte in data.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut add = |path: &str, mode: u32, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append_data(&mut header, path, bytes).unwrap();
    };
    add(&format!("bin/{worker}"), 0o755, b"#!/bin/sh\necho big\n");
    add("share/model.bin", 0o644, &data);
    builder.into_inner().unwrap().finish().unwrap()
}

/// Publishes `worker` `version` with a big package per platform and a PKGBUILD; returns the
/// packages' total size.
pub async fn publish_big_worker(
    client: &RegistryClient,
    dir: &Path,
    worker: &str,
    version: &str,
    platforms: &[&str],
    size: usize,
) -> u64 {
    use rbee_registry::artifact::Platform;
    use rbee_registry::client::publish::{publish, PublishRequest};
    let write = crate::worker_fixtures::write;
    let metadata = write(
        dir,
        &format!("{worker}-{version}.metadata.json"),
        &serde_json::to_vec(&crate::worker_fixtures::metadata(worker, version)).unwrap(),
    );
    let mut total = 0u64;
    let mut packages = Vec::new();
    for (position, platform) in platforms.iter().enumerate() {
        let package = big_package(worker, size, 7 + position as u64);
        total += package.len() as u64;
        let path = write(dir, &format!("{worker}-{version}-{position}.tar.gz"), &package);
        packages.push((Platform::parse(platform).unwrap(), path));
    }
    let request = PublishRequest {
        worker_id: worker.into(),
        version: version.into(),
        metadata,
        platforms: packages,
        pkgbuild: Some(write(dir, &format!("{worker}-{version}.PKGBUILD"), b"pkgname=big\n")),
    };
    publish(client, &request).await.unwrap();
    total
}
