//! Mirroring from CNCF distribution (Debian's `docker-registry`, Basic credentials) works
//! the same way: the two workers, both platforms, both versions, byte for byte; their
//! PKGBUILDs too, kept upstream under the referrers tag schema (`sha256-<hex>` tags listing
//! the referrers: distribution 2.8 has no referrers API), and served here by the referrers
//! API; a second run moves nothing.

use rbee_registry::client::{Credentials, RegistryClient};
use rbee_registry::oci::{Digest, Reference, Tag};

use crate::mirror_support::*;
use crate::support::*;

/// Debian's docker-registry on a free port with htpasswd Basic auth.
struct Distribution {
    child: std::process::Child,
    url: String,
    _work: tempfile::TempDir,
}

impl Distribution {
    async fn start(user: &str, password: &str) -> Distribution {
        assert!(
            have("docker-registry"),
            "docker-registry is not installed; run scripts/test.sh"
        );
        let work = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let hash = bcrypt::hash(password, 5).unwrap();
        std::fs::write(work.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n\
             auth:\n  htpasswd:\n    realm: rbee-test\n    path: {htpasswd}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-{port}\n",
            root = work.path().join("data").display(),
            htpasswd = work.path().join("htpasswd").display(),
        );
        std::fs::write(work.path().join("config.yml"), config).unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(work.path().join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let distribution = Distribution {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _work: work,
        };
        let probe = reqwest::Client::new();
        for _ in 0..100 {
            if probe.get(format!("{}/v2/", distribution.url)).send().await.is_ok() {
                return distribution;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("docker-registry did not start");
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let upstream = Distribution::start("ci", "s3cret").await;
    let work = tempfile::tempdir().unwrap();
    let client = RegistryClient::new(
        &upstream.url,
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
    let host = upstream.url.trim_start_matches("http://");
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let mut command = mirror_command(&site, &upstream.url, &["--once"]);
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

    let mut command = mirror_command(&site, &upstream.url, &["--username", "ci", "--password", "s3cret"]);
    command.args(["--repo", "workers/*"]);
    let second = run_mirror_ok(command).await;
    assert_eq!(second.count("blobs"), 0, "{}", second.stdout);
    assert_eq!(second.count("bytes"), 0, "{}", second.stdout);
}
