//! Workers and bad input: malformed metadata, an index without platforms, unknown
//! platforms, versions and workers, packages that try to escape the prefix, and downloads
//! cut in the middle.

use std::path::Path;

use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rbee_registry::artifact::Platform;
use rbee_registry::client::install::{install_worker, InstallError, InstallRequest};
use rbee_registry::client::progress::Silent;
use rbee_registry::client::publish::{publish, PublishError, PublishRequest};
use rbee_registry::client::RegistryClient;
use serde_json::{json, Value};

use crate::support::*;
use crate::worker_fixtures::*;

const CPU: &str = "llm-worker-rbee-cpu";

fn request(worker_id: &str, version: Option<&str>, platform: &str, prefix: &Path) -> InstallRequest {
    InstallRequest {
        worker_id: worker_id.into(),
        version: version.map(str::to_string),
        platform: Some(Platform::parse(platform).unwrap()),
        prefix: prefix.to_path_buf(),
    }
}

#[tokio::test]
async fn workers_publish_refuses_malformed_metadata_naming_the_fields() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let mut bad = metadata(CPU, "0.1.0");
    bad["worker_type"] = "gpu".into();
    bad["distribution"]["requires_license"] = "no".into();
    // binary_name has a default now (the id); a missing name still names the field.
    bad.as_object_mut().unwrap().remove("name");
    let package_path = write(work.path(), "p.tar.gz", &package(CPU, "0.1.0", "linux/amd64"));
    let mut publish_request = PublishRequest {
        worker_id: CPU.into(),
        version: "0.1.0".into(),
        metadata: write(work.path(), "bad.json", bad.to_string().as_bytes()),
        platforms: vec![(Platform::parse("linux/amd64").unwrap(), package_path.clone())],
        pkgbuild: None,
    };
    let error = publish(&client(&app), &publish_request).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, PublishError::Metadata(_)), "{message}");
    for field in ["worker_type", "distribution.requires_license", "name"] {
        assert!(message.contains(field), "{message} should name {field}");
    }
    publish_request.metadata = write(work.path(), "broken.json", b"{\"id\": ");
    let error = publish(&client(&app), &publish_request).await.unwrap_err();
    assert!(error.to_string().contains("not valid JSON"), "{error}");

    // Nothing was pushed.
    assert_eq!(app.get(&format!("/v2/workers/{CPU}/tags/list")).await.status(), 404);

    // The registry holds pushes by other tools to the same rule: an index whose metadata
    // layer is malformed is refused, naming the field.
    let good = publish_worker(&app, work.path(), CPU, "0.1.0", &["linux/amd64"], None).await;
    let repository = format!("workers/{CPU}");
    let mut manifest: Value = app
        .get(&format!("/v2/{repository}/manifests/{}", good.platforms[0].1))
        .await
        .json()
        .await
        .unwrap();
    let mut wrong = metadata(CPU, "0.2.0");
    wrong["supports_streaming"] = "yes".into();
    let wrong = serde_json::to_vec(&wrong).unwrap();
    let wrong_digest = app.push_blob(&repository, &wrong).await;
    manifest["layers"][1]["digest"] = wrong_digest.into();
    manifest["layers"][1]["size"] = wrong.len().into();
    let manifest_digest = app.put_manifest(&repository, "staging", OCI_MANIFEST, &manifest).await;
    let index = json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.rbee.worker.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": manifest_digest,
                       "size": serde_json::to_vec(&manifest).unwrap().len(),
                       "platform": {"os": "linux", "architecture": "amd64"}}]
    });
    let response = app
        .client
        .put(app.url(&format!("/v2/{repository}/manifests/0.2.0")))
        .header("content-type", OCI_INDEX)
        .body(index.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("supports_streaming"),
        "{body}"
    );
}

#[tokio::test]
async fn workers_an_index_without_platforms_is_refused() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let empty = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "artifactType": "application/vnd.rbee.worker.v1+json", "manifests": []});
    let response = app
        .client
        .put(app.url(&format!("/v2/workers/{CPU}/manifests/1.0.0")))
        .header("content-type", OCI_INDEX)
        .body(empty.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("no platforms"),
        "{body}"
    );
    assert_eq!(app.get(&format!("/v1/workers/{CPU}")).await.status(), 404);

    let publish_request = PublishRequest {
        worker_id: CPU.into(),
        version: "1.0.0".into(),
        metadata: write(work.path(), "m.json", metadata(CPU, "1.0.0").to_string().as_bytes()),
        platforms: vec![],
        pkgbuild: None,
    };
    let error = publish(&client(&app), &publish_request).await.unwrap_err();
    assert!(error.to_string().contains("at least one --platform"), "{error}");
}

#[tokio::test]
async fn workers_unknown_worker_version_and_platform_get_json_errors_saying_what_exists() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    publish_worker(&app, work.path(), CPU, "0.1.0", &["linux/amd64", "linux/arm64"], None).await;
    let check = |path: String, status: u16, expected: Value| {
        let app = &app;
        async move {
            let response = app.get(&path).await;
            assert_eq!(response.status().as_u16(), status, "{path}");
            let body: Value = response.json().await.unwrap();
            for (key, value) in expected.as_object().unwrap() {
                assert_eq!(&body["error"][key], value, "{path}: {body}");
            }
        }
    };
    check(
        format!("/v1/workers/{CPU}/0.1.0/download?platform=linux-riscv64"),
        404,
        json!({"code": "PLATFORM_NOT_FOUND", "platform": "linux-riscv64",
               "available_platforms": ["linux-x86_64", "linux-aarch64"]}),
    )
    .await;
    check(
        format!("/v1/workers/{CPU}/0.1.0/download?platform=macos-arm64"),
        404,
        json!({"code": "PLATFORM_NOT_FOUND", "available_platforms": ["linux-x86_64", "linux-aarch64"]}),
    )
    .await;
    check(
        format!("/v1/workers/{CPU}/0.1.0/download"),
        400,
        json!({"code": "PLATFORM_REQUIRED", "available_platforms": ["linux-x86_64", "linux-aarch64"]}),
    )
    .await;
    check(
        format!("/v1/workers/{CPU}/9.9.9/download?platform=linux-x86_64"),
        404,
        json!({"code": "VERSION_NOT_FOUND", "version": "9.9.9", "available_versions": ["0.1.0"]}),
    )
    .await;
    check(
        "/v1/workers/no-such-worker/versions".into(),
        404,
        json!({"code": "WORKER_NOT_FOUND", "worker": "no-such-worker", "available_workers": [CPU]}),
    )
    .await;
    check("/v1/workers?page=0".into(), 400, json!({"code": "INVALID_QUERY"})).await;
    // Texts that cannot be a worker id or a version tag are answered like unknown ones
    // (the path extractors parse them before any handler runs).
    for path in [
        "/v1/workers/Not_A_Worker/versions",
        "/v1/workers/a--b/stats",
        "/v1/workers/a--b/0.1.0/download",
    ] {
        check(
            path.into(),
            404,
            json!({"code": "WORKER_NOT_FOUND", "available_workers": [CPU]}),
        )
        .await;
    }
    for version in ["v0.1.0", "0.1.0+build", "latest"] {
        check(
            format!("/v1/workers/{CPU}/{version}/download?platform=linux-x86_64"),
            404,
            json!({"code": "VERSION_NOT_FOUND", "version": version, "available_versions": ["0.1.0"]}),
        )
        .await;
    }
    for path in ["/workers/Not_A_Worker", "/workers/a--b/PKGBUILD"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"error":"Worker not found"}"#,
            "{path}"
        );
    }
    let prefix = work.path().join("prefix");
    let error = install_worker(&client(&app), &request(CPU, None, "darwin/arm64", &prefix), &mut Silent)
        .await
        .unwrap_err();
    assert!(matches!(error, InstallError::PlatformNotFound { .. }), "{error}");
    assert!(error.to_string().contains("linux/amd64, linux/arm64"), "{error}");
}

/// A tar+gzip whose entries are written with raw names, so it can hold what well-behaved
/// tools refuse to write: (name, kind, link target, content).
fn raw_package(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, kind, link, data) in entries {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Publishes `package` as version `version` for linux/amd64.
async fn publish_package(app: &TestApp, dir: &Path, version: &str, package: &[u8]) {
    let publish_request = PublishRequest {
        worker_id: CPU.into(),
        version: version.into(),
        metadata: write(
            dir,
            &format!("{version}.json"),
            metadata(CPU, version).to_string().as_bytes(),
        ),
        platforms: vec![(
            Platform::parse("linux/amd64").unwrap(),
            write(dir, &format!("{version}.tar.gz"), package),
        )],
        pkgbuild: None,
    };
    publish(&client(app), &publish_request).await.unwrap();
}

fn files_under(directory: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![directory.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(directory).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn workers_install_refuses_escaping_packages_and_keeps_the_previous_version() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let prefix = root.join("prefix");
    std::fs::create_dir_all(&prefix).unwrap();
    publish_worker(&app, work.path(), CPU, "1.0.0", &["linux/amd64"], None).await;
    install_worker(
        &client(&app),
        &request(CPU, Some("1.0.0"), "linux/amd64", &prefix),
        &mut Silent,
    )
    .await
    .unwrap();
    let binary = prefix.join("bin").join(CPU);
    let outside_before = files_under(&root);

    let script = "#!/bin/sh\necho pwned\n".to_string();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "1.1.0",
            raw_package(&[
                (&format!("bin/{CPU}"), tar::EntryType::Regular, "", script.as_bytes()),
                ("../escaped.txt", tar::EntryType::Regular, "", b"outside"),
            ]),
            "'..'",
        ),
        (
            "1.2.0",
            raw_package(&[
                (&format!("bin/{CPU}"), tar::EntryType::Regular, "", script.as_bytes()),
                ("etc", tar::EntryType::Symlink, "/etc", b""),
                ("etc/rbee-escaped", tar::EntryType::Regular, "", b"outside"),
            ]),
            "outside the package",
        ),
        (
            "1.3.0",
            raw_package(&[
                ("bin/up", tar::EntryType::Symlink, "../../..", b""),
                ("bin/up/escaped.txt", tar::EntryType::Regular, "", b"outside"),
            ]),
            "outside the package",
        ),
        (
            "1.4.0",
            raw_package(&[
                ("dot", tar::EntryType::Symlink, ".", b""),
                ("dot/up", tar::EntryType::Symlink, "..", b""),
            ]),
            "parent directory is a link",
        ),
        (
            "1.5.0",
            raw_package(&[("dev/null", tar::EntryType::Char, "", b"")]),
            "device files",
        ),
        (
            "1.6.0",
            raw_package(&[("/tmp/rbee-absolute-escape", tar::EntryType::Regular, "", b"outside")]),
            "absolute",
        ),
    ];
    for (version, package, reason) in cases {
        publish_package(&app, work.path(), version, &package).await;
        let error = install_worker(
            &client(&app),
            &request(CPU, Some(version), "linux/amd64", &prefix),
            &mut Silent,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, InstallError::Unpack(_)), "{version}: {error}");
        assert!(error.to_string().contains(reason), "{version}: {error}");
        // Nothing outside the prefix; the previous version is still the one installed.
        assert_eq!(
            files_under(&root).iter().filter(|f| !f.starts_with("prefix")).count(),
            0
        );
        assert!(!Path::new("/etc/rbee-escaped").exists());
        assert!(!Path::new("/tmp/rbee-absolute-escape").exists());
        let output = std::process::Command::new(&binary).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{CPU} 1.0.0 linux/amd64\n")
        );
        // No staging directory is left behind.
        let state: Vec<String> = files_under(&prefix.join(".rbee"))
            .into_iter()
            .filter(|f| f.starts_with("staging"))
            .collect();
        assert!(state.is_empty(), "{state:?}");
    }
    assert_eq!(
        files_under(&root).iter().filter(|f| !f.starts_with("prefix")).count(),
        outside_before.iter().filter(|f| !f.starts_with("prefix")).count()
    );
}

/// A proxy in front of the registry that cuts the first download of `digest` after
/// `cut_after` bytes, and records the `Range` headers it sees for that blob.
struct CuttingProxy {
    base_url: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

async fn cutting_proxy(upstream: String, digest: String, cut_after: usize) -> CuttingProxy {
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let cuts = Arc::new(AtomicUsize::new(0));
    let seen = ranges.clone();
    let client = reqwest::Client::new();
    let handler = move |request: axum::extract::Request| {
        let (upstream, digest, seen, cuts, client) = (
            upstream.clone(),
            digest.clone(),
            seen.clone(),
            cuts.clone(),
            client.clone(),
        );
        async move {
            let path_and_query = request
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let is_package = request.uri().path().ends_with(&digest);
            let range = request.headers().get("range").map(|v| v.to_str().unwrap().to_string());
            let mut forwarded = client.request(request.method().clone(), format!("{upstream}{path_and_query}"));
            for (name, value) in request.headers() {
                if name != "host" {
                    forwarded = forwarded.header(name, value);
                }
            }
            let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap();
            let answer = forwarded.body(body).send().await.unwrap();
            let mut response = axum::http::Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                response = response.header(name.as_str(), value.as_bytes());
            }
            let bytes = answer.bytes().await.unwrap();
            if is_package {
                seen.lock().unwrap().push(range);
                if cuts.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Announce the whole length, send part of it, then fail the stream.
                    // (The pause lets the part reach the client before the failure.)
                    let part = bytes.slice(..cut_after);
                    let stream =
                        futures::stream::iter(vec![Ok(part), Err(std::io::Error::other("cut by the test proxy"))])
                            .then(|item| async move {
                                if item.is_err() {
                                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                                }
                                item
                            });
                    return response.body(axum::body::Body::from_stream(stream)).unwrap();
                }
            }
            response.body(axum::body::Body::from(bytes)).unwrap()
        }
    };
    let router = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    CuttingProxy {
        base_url: format!("http://{address}"),
        ranges,
    }
}

#[tokio::test]
async fn workers_install_resumes_a_download_cut_in_the_middle_and_verifies_it() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    // A package large enough to be cut: the script plus 3 MiB of incompressible filler.
    let filler = bytes_of(3 * 1024 * 1024, 7);
    let script = format!("#!/bin/sh\necho \"{CPU} 2.0.0 resumed\"\n");
    let package = raw_package(&[
        (&format!("bin/{CPU}"), tar::EntryType::Regular, "", script.as_bytes()),
        ("share/weights.bin", tar::EntryType::Regular, "", &filler),
    ]);
    publish_package(&app, work.path(), "2.0.0", &package).await;
    let digest = sha256(&package);
    let cut_after = package.len() / 2;
    let proxy = cutting_proxy(app.base_url.clone(), digest.clone(), cut_after).await;

    let prefix = work.path().join("prefix");
    let through_proxy = RegistryClient::new(&proxy.base_url, None).unwrap();
    let report = install_worker(&through_proxy, &request(CPU, None, "linux/amd64", &prefix), &mut Silent)
        .await
        .unwrap();
    assert_eq!(report.attempts, 2);
    assert!(
        report.resumed_from > 0 && report.resumed_from <= cut_after as u64,
        "{report:?}"
    );
    assert_eq!(report.package_digest.to_string(), digest);
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert_eq!(ranges, vec![None, Some(format!("bytes={}-", report.resumed_from))]);
    let output = std::process::Command::new(&report.binary).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{CPU} 2.0.0 resumed\n")
    );
    assert_eq!(
        std::fs::read(prefix.join("workers").join(CPU).join("current/share/weights.bin")).unwrap(),
        filler
    );

    // A partial download whose bytes were corrupted is resumed, fails verification, is
    // thrown away, and leaves the installed version alone.
    publish_package(&app, work.path(), "2.1.0", &package_with_text(CPU, "2.1.0")).await;
    let next_digest = sha256(&package_with_text(CPU, "2.1.0"));
    let partial = prefix
        .join(".rbee/downloads")
        .join(format!("{}.partial", next_digest.trim_start_matches("sha256:")));
    std::fs::write(&partial, b"this is not the start of the package").unwrap();
    let error = install_worker(
        &client(&app),
        &request(CPU, Some("2.1.0"), "linux/amd64", &prefix),
        &mut Silent,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, InstallError::ChecksumMismatch { .. }), "{error}");
    assert!(!partial.exists());
    // The unverified bytes were unpacked on the way (one pass) but only into a staging
    // directory, which is gone, and no 2.1.0 directory appeared.
    let leftovers: Vec<String> = std::fs::read_dir(prefix.join(".rbee"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "downloads")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let versions: Vec<String> = std::fs::read_dir(prefix.join("workers").join(CPU))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(versions.iter().all(|name| !name.starts_with("2.1.0")), "{versions:?}");
    let output = std::process::Command::new(&report.binary).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{CPU} 2.0.0 resumed\n")
    );
    // The next attempt starts clean and succeeds.
    let fixed = install_worker(
        &client(&app),
        &request(CPU, Some("2.1.0"), "linux/amd64", &prefix),
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(fixed.version, "2.1.0");
}

fn package_with_text(worker_id: &str, version: &str) -> Vec<u8> {
    let filler = bytes_of(300_000, 3);
    let script = format!("#!/bin/sh\necho \"{worker_id} {version}\"\n");
    raw_package(&[
        (
            &format!("bin/{worker_id}"),
            tar::EntryType::Regular,
            "",
            script.as_bytes(),
        ),
        ("share/filler.bin", tar::EntryType::Regular, "", &filler),
    ])
}
