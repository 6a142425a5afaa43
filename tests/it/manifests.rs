//! Manifests and indexes: push, pull by tag and digest, content negotiation, delete,
//! and the referrers API.

use serde_json::json;

use crate::support::*;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[tokio::test]
async fn manifest_by_tag_and_by_digest() {
    let app = TestApp::start().await;
    let digest = app.push_image("img", "v1", b"layer-1").await;
    for reference in ["v1", digest.as_str()] {
        let response = app
            .client
            .get(app.url(&format!("/v2/img/manifests/{reference}")))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(response.headers()["docker-content-digest"], digest.as_str());
        let body = response.bytes().await.unwrap();
        assert_eq!(sha256(&body), digest);
    }
    let head = app.client.head(app.url("/v2/img/manifests/v1")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());
    let missing = app.get("/v2/img/manifests/v2").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(error_code(missing).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn index_needs_its_manifests_and_negotiates_for_old_clients() {
    let app = TestApp::start().await;
    let amd64 = app.image_manifest("multi", b"amd64 layer").await;
    let amd64_digest = app
        .put_manifest(
            "multi",
            &sha256(&serde_json::to_vec(&amd64).unwrap()),
            OCI_MANIFEST,
            &amd64,
        )
        .await;
    let arm64 = app.image_manifest("multi", b"arm64 layer").await;
    let arm64_body = serde_json::to_vec(&arm64).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd64_digest, "size": serde_json::to_vec(&amd64).unwrap().len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": sha256(&arm64_body), "size": arm64_body.len(),
             "platform": {"os": "linux", "architecture": "arm64"}}
        ]
    });
    // The arm64 manifest is not pushed yet: the index is refused.
    let refused = app
        .client
        .put(app.url("/v2/multi/manifests/1.0.0"))
        .header("content-type", OCI_INDEX)
        .body(serde_json::to_vec(&index).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(error_code(refused).await, "MANIFEST_BLOB_UNKNOWN");

    app.put_manifest("multi", &sha256(&arm64_body), OCI_MANIFEST, &arm64)
        .await;
    let index_digest = app.put_manifest("multi", "1.0.0", OCI_INDEX, &index).await;
    let response = app
        .client
        .get(app.url("/v2/multi/manifests/1.0.0"))
        .header("accept", format!("{OCI_INDEX}, {OCI_MANIFEST}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["docker-content-digest"], index_digest.as_str());

    // A client that takes only single manifests gets the linux/amd64 entry.
    let old_client = app
        .client
        .get(app.url("/v2/multi/manifests/1.0.0"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(old_client.status(), 200);
    assert_eq!(old_client.headers()["docker-content-digest"], amd64_digest.as_str());

    // One that takes neither gets a clear 404.
    let neither = app
        .client
        .get(app.url("/v2/multi/manifests/1.0.0"))
        .header("accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(neither.status(), 404);
    assert_eq!(error_code(neither).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn docker_schema2_manifest_and_list() {
    let app = TestApp::start().await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = app.push_blob("docker", config).await;
    let layer_digest = app.push_blob("docker", b"docker layer").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer_digest, "size": 12}]
    });
    let digest = app.put_manifest("docker", "latest", DOCKER_MANIFEST, &manifest).await;
    let list = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": digest, "size": serde_json::to_vec(&manifest).unwrap().len(),
                        "platform": {"architecture": "amd64", "os": "linux"}}]
    });
    app.put_manifest("docker", "list", DOCKER_LIST, &list).await;
    let response = app
        .client
        .get(app.url("/v2/docker/manifests/list"))
        .header("accept", DOCKER_LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], DOCKER_LIST);
}

#[tokio::test]
async fn delete_tag_then_manifest() {
    let app = TestApp::start().await;
    let digest = app.push_image("del", "v1", b"l").await;
    app.put_manifest(
        "del",
        "v2",
        OCI_MANIFEST,
        &serde_json::from_slice(
            &app.get(&format!("/v2/del/manifests/{digest}"))
                .await
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap(),
    )
    .await;
    let untagged = app.client.delete(app.url("/v2/del/manifests/v1")).send().await.unwrap();
    assert_eq!(untagged.status(), 202);
    assert_eq!(app.get("/v2/del/manifests/v1").await.status(), 404);
    assert_eq!(app.get("/v2/del/manifests/v2").await.status(), 200);
    let deleted = app
        .client
        .delete(app.url(&format!("/v2/del/manifests/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    assert_eq!(app.get(&format!("/v2/del/manifests/{digest}")).await.status(), 404);
    assert_eq!(
        app.get("/v2/del/manifests/v2").await.status(),
        404,
        "tags go with their manifest"
    );
    let again = app
        .client
        .delete(app.url(&format!("/v2/del/manifests/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn referrers_list_manifests_with_a_subject() {
    let app = TestApp::start().await;
    let subject = app.push_image("signed", "v1", b"payload").await;
    let subject_size = app
        .get(&format!("/v2/signed/manifests/{subject}"))
        .await
        .bytes()
        .await
        .unwrap()
        .len();
    let empty_config = app.push_blob("signed", b"{}").await;
    let mut referrer_digests = Vec::new();
    for (artifact_type, layer) in [
        ("application/vnd.example.sbom", b"sbom".as_slice()),
        ("application/vnd.example.sig", b"sig"),
    ] {
        let layer_digest = app.push_blob("signed", layer).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_config, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer_digest, "size": layer.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
            "annotations": {"org.example.kind": artifact_type}
        });
        let body = serde_json::to_vec(&manifest).unwrap();
        let digest = sha256(&body);
        let response = app
            .client
            .put(app.url(&format!("/v2/signed/manifests/{digest}")))
            .header("content-type", OCI_MANIFEST)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["oci-subject"], subject.as_str());
        referrer_digests.push(digest);
    }
    let all = app.get(&format!("/v2/signed/referrers/{subject}")).await;
    assert_eq!(all.status(), 200);
    assert_eq!(all.headers()["content-type"], OCI_INDEX);
    assert!(all.headers().get("oci-filters-applied").is_none());
    let index: serde_json::Value = all.json().await.unwrap();
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    for digest in &referrer_digests {
        assert!(listed.contains(&digest.as_str()));
    }
    assert_eq!(
        index["manifests"][0]["annotations"]["org.example.kind"],
        index["manifests"][0]["artifactType"]
    );

    let filtered = app
        .get(&format!(
            "/v2/signed/referrers/{subject}?artifactType=application/vnd.example.sig"
        ))
        .await;
    assert_eq!(filtered.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = filtered.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["digest"], referrer_digests[1].as_str());

    let none = app.get(&format!("/v2/signed/referrers/{}", sha256(b"nothing"))).await;
    assert_eq!(none.status(), 200);
    let index: serde_json::Value = none.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 0);
}

/// A manifest with thousands of descriptors: with one blob among them never pushed it is refused
/// with `MANIFEST_BLOB_UNKNOWN` naming that blob and stores nothing; with all of them pushed it
/// is stored and every reference is recorded, so `gc` with no grace period keeps all its blobs
/// (and frees the one blob nothing references).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_with_thousands_of_descriptors() {
    use futures::StreamExt;
    use rbee_registry::config::StorageConfig;
    use rbee_registry::services::gc::GcOptions;

    // Pushing the issue's 20,000 blobs over HTTP takes minutes on a loaded 2-core machine, so
    // the suite uses fewer; `scripts/many-descriptors.py` times the 20,000-descriptor push, and
    // `manifest_naming_one_blob_more_times_than_a_statement_takes_parameters` goes past the
    // bind-parameter limits.
    const DESCRIPTORS: usize = 3_000;
    // Durability is not what this test is about; thousands of fsynced files would dominate its time.
    let app = TestApp::start_with(|config| {
        if let StorageConfig::Filesystem { fsync, .. } = &mut config.storage {
            *fsync = false;
        }
    })
    .await;
    let contents: Vec<Vec<u8>> = (0..DESCRIPTORS).map(|i| format!("blob {i}").into_bytes()).collect();
    let digests: Vec<String> = futures::stream::iter(&contents)
        .map(|content| app.push_blob("many", content))
        .buffered(16)
        .collect()
        .await;
    let unreferenced = app.push_blob("many", b"referenced by nothing").await;
    let descriptor = |digest: &str, size: usize| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size});
    let manifest_with = |layers: Vec<serde_json::Value>| {
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0], "size": contents[0].len()},
            "layers": layers,
        })
    };
    let layers: Vec<serde_json::Value> = digests[1..]
        .iter()
        .zip(&contents[1..])
        .map(|(digest, content)| descriptor(digest, content.len()))
        .collect();

    let missing = sha256(b"never pushed");
    let mut with_missing = layers.clone();
    with_missing[DESCRIPTORS / 2] = descriptor(&missing, 12);
    let refused = app
        .client
        .put(app.url("/v2/many/manifests/v1"))
        .header("content-type", OCI_MANIFEST)
        .json(&manifest_with(with_missing))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN", "{body}");
    assert_eq!(body["errors"][0]["detail"]["digest"], missing.as_str(), "{body}");
    assert_eq!(app.get("/v2/many/manifests/v1").await.status(), 404);

    let manifest = manifest_with(layers);
    let digest = app.put_manifest("many", "v1", OCI_MANIFEST, &manifest).await;
    let pulled = app.get(&format!("/v2/many/manifests/{digest}")).await;
    assert_eq!(pulled.status(), 200);
    assert_eq!(sha256(&pulled.bytes().await.unwrap()), digest);

    // Everything was pushed before this instant; with no grace period only references keep it.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let report = app
        .site
        .registry()
        .await
        .collect_garbage(&GcOptions {
            dry_run: false,
            grace_period: std::time::Duration::ZERO,
            upload_max_age: std::time::Duration::from_secs(3600),
        })
        .await
        .unwrap();
    let freed: Vec<String> = report.blobs.iter().map(|(digest, _)| digest.to_string()).collect();
    assert_eq!(
        freed,
        vec![unreferenced.to_string()],
        "gc freed only the unreferenced blob"
    );
    assert_eq!(report.links, 1, "gc removed only the unreferenced blob's link");
    assert_eq!(app.stored_blobs().await.len(), DESCRIPTORS);
    for (digest, content) in digests.iter().zip(&contents).step_by(997) {
        let blob = app.get(&format!("/v2/many/blobs/{digest}")).await;
        assert_eq!(blob.status(), 200, "{digest}");
        assert_eq!(blob.bytes().await.unwrap().as_ref(), content.as_slice());
    }
}

/// A manifest may name one blob many times. 33,000 layers of one blob (about 2.4 MB) is past
/// SQLite's 32,766 bound parameters, which a lookup with one parameter per reference hits
/// (`500`); the manifest is stored, with the blob referenced once.
#[tokio::test]
async fn manifest_naming_one_blob_more_times_than_a_statement_takes_parameters() {
    const LAYERS: usize = 33_000;
    let app = TestApp::start().await;
    let config = app.push_blob("repeats", b"{}").await;
    let layer = app.push_blob("repeats", b"the one layer").await;
    let descriptor = json!({"mediaType": "l", "digest": layer, "size": 13});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "c", "digest": config, "size": 2},
        "layers": vec![descriptor; LAYERS],
    });
    let digest = app.put_manifest("repeats", "v1", OCI_MANIFEST, &manifest).await;
    let pulled = app.get("/v2/repeats/manifests/v1").await;
    assert_eq!(pulled.headers()["docker-content-digest"], digest.as_str());
    let pulled: serde_json::Value = pulled.json().await.unwrap();
    assert_eq!(pulled["layers"].as_array().unwrap().len(), LAYERS);
}
