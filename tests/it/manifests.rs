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
