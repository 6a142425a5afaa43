//! Tag listing and the catalog, with `n`/`last` pagination and `Link` headers.

use crate::support::*;

#[tokio::test]
async fn tags_paginate_in_byte_order() {
    let app = TestApp::start().await;
    let digest = app.push_image("paged", "b", b"x").await;
    let manifest: serde_json::Value = serde_json::from_slice(
        &app.get(&format!("/v2/paged/manifests/{digest}"))
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    for tag in ["a", "C", "c", "d", "e"] {
        app.put_manifest("paged", tag, OCI_MANIFEST, &manifest).await;
    }
    let all: serde_json::Value = app.get("/v2/paged/tags/list").await.json().await.unwrap();
    assert_eq!(
        all,
        serde_json::json!({"name": "paged", "tags": ["C", "a", "b", "c", "d", "e"]})
    );

    let first = app.get("/v2/paged/tags/list?n=2").await;
    assert_eq!(
        first.headers()["link"],
        "</v2/paged/tags/list?n=2&last=a>; rel=\"next\""
    );
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(body["tags"], serde_json::json!(["C", "a"]));

    let second: serde_json::Value = app.get("/v2/paged/tags/list?n=2&last=a").await.json().await.unwrap();
    assert_eq!(second["tags"], serde_json::json!(["b", "c"]));
    let last = app.get("/v2/paged/tags/list?n=2&last=c").await;
    assert!(last.headers().get("link").is_none());
    let body: serde_json::Value = last.json().await.unwrap();
    assert_eq!(body["tags"], serde_json::json!(["d", "e"]));

    let unknown = app.get("/v2/nothing/tags/list").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_code(unknown).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn catalog_lists_repositories() {
    let app = TestApp::start().await;
    for repository in ["workers/b", "workers/a", "other"] {
        app.push_blob(repository, repository.as_bytes()).await;
    }
    let body: serde_json::Value = app.get("/v2/_catalog").await.json().await.unwrap();
    assert_eq!(
        body["repositories"],
        serde_json::json!(["other", "workers/a", "workers/b"])
    );
    let page = app.get("/v2/_catalog?n=1&last=other").await;
    assert!(page.headers()["link"].to_str().unwrap().contains("last=workers%2Fa"));
    let body: serde_json::Value = page.json().await.unwrap();
    assert_eq!(body["repositories"], serde_json::json!(["workers/a"]));
}
