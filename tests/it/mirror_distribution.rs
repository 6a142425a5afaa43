//! Mirroring from CNCF distribution (Debian's `docker-registry`, Basic credentials) works
//! the same way: the two workers, both platforms, both versions, byte for byte; their
//! PKGBUILDs too, kept upstream under the referrers tag schema (`sha256-<hex>` tags listing
//! the referrers: distribution 2.8 has no referrers API), and served here by the referrers
//! API; a second run moves nothing.

use rbee_registry::client::{Credentials, RegistryClient};
use rbee_registry::oci::{Digest, Reference, Tag};

use crate::interop::Distribution;
use crate::mirror_support::*;
use crate::support::*;

/// Puts the referrers tag schema's index `sha256-<hex>` listing `referrer` for `subject`.
async fn tag_referrer(client: &RegistryClient, repository: &str, subject: &Digest, referrer: &Digest) {
    let manifest = client
        .get_manifest(repository, &Reference::Digest(referrer.clone()), &[OCI_MANIFEST])
        .await
        .unwrap();
    let facts: serde_json::Value = serde_json::from_slice(&manifest.content).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": referrer.to_string(),
            "size": manifest.content.len(),
            "artifactType": facts["artifactType"],
        }],
    });
    let tag = Tag::parse(&format!("sha256-{}", subject.hex())).unwrap();
    client
        .put_manifest(
            repository,
            &Reference::Tag(tag),
            OCI_INDEX,
            &serde_json::to_vec(&index).unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn mirror_from_cncf_distribution_copies_the_workers_and_their_pkgbuilds() {
    require("docker-registry");
    let upstream = Distribution::start("ci", "s3cret").await;
    let work = tempfile::tempdir().unwrap();
    let client = RegistryClient::new(
        &upstream.url(),
        Some(Credentials::Basic {
            username: "ci".into(),
            password: "s3cret".into(),
        }),
    )
    .unwrap();
    for worker in WORKERS {
        for version in VERSIONS {
            let pkgbuild = format!("pkgname={worker}\npkgver={version}\n");
            let report = crate::worker_fixtures::publish_worker_with(
                &client,
                work.path(),
                worker,
                version,
                &PLATFORMS,
                Some(&pkgbuild),
            )
            .await
            .unwrap();
            let repository = format!("workers/{worker}");
            tag_referrer(
                &client,
                &repository,
                &report.index_digest,
                &report.pkgbuild_digest.unwrap(),
            )
            .await;
        }
    }

    let site = TestSite::new().await;
    // Credentials from a Docker config.json this time; every repository of `_catalog`.
    let docker = site.data_dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "ci:s3cret");
    let host = upstream.host.as_str();
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let mut command = mirror_command(&site, &upstream.url(), &["--once"]);
    command.args(["--docker-config", docker.join("config.json").to_str().unwrap()]);
    let first = run_mirror_ok(command).await;
    assert_eq!(first.count("repositories"), 2, "{}", first.stdout);
    assert_eq!(first.count("errors"), 0);

    let mirror = site.start().await;
    let mirror_client = crate::worker_fixtures::client(&mirror);
    for worker in WORKERS {
        // The referrers come from the upstream's tag schema, the rest as from this registry.
        let repository = format!("workers/{worker}");
        for version in VERSIONS {
            let reference = Reference::Tag(Tag::parse(version).unwrap());
            let index = client
                .get_manifest(&repository, &reference, &[OCI_INDEX])
                .await
                .unwrap();
            let mirrored = mirror_client
                .get_manifest(&repository, &reference, &[OCI_INDEX])
                .await
                .unwrap();
            assert_eq!(index.content, mirrored.content);
            let referrers = mirror_client
                .list_referrers(&repository, &index.digest)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(referrers.len(), 1, "{repository}:{version}: its PKGBUILD");
            let pkgbuild = mirror_client
                .get_manifest(
                    &repository,
                    &Reference::Digest(referrers[0].digest.clone()),
                    &[OCI_MANIFEST],
                )
                .await
                .unwrap();
            assert_same_blobs(&client, &mirror_client, &repository, &pkgbuild.content).await;
            let parsed: serde_json::Value = serde_json::from_slice(&index.content).unwrap();
            for entry in parsed["manifests"].as_array().unwrap() {
                let child = Reference::Digest(entry["digest"].as_str().unwrap().parse().unwrap());
                let original = client.get_manifest(&repository, &child, &[OCI_MANIFEST]).await.unwrap();
                let copy = mirror_client
                    .get_manifest(&repository, &child, &[OCI_MANIFEST])
                    .await
                    .unwrap();
                assert_eq!(original.content, copy.content);
                assert_same_blobs(&client, &mirror_client, &repository, &original.content).await;
            }
        }
    }

    let mut command = mirror_command(&site, &upstream.url(), &["--username", "ci", "--password", "s3cret"]);
    command.args(["--repo", "workers/*"]);
    let second = run_mirror_ok(command).await;
    assert_eq!(second.count("blobs"), 0, "{}", second.stdout);
    assert_eq!(second.count("bytes"), 0, "{}", second.stdout);
}
