//! Deletions upstream reach the mirror only with `--prune`.

use crate::mirror_support::*;
use crate::support::*;

#[tokio::test]
async fn tags_deleted_upstream_are_removed_only_with_prune() {
    let origin_site = TestSite::new().await;
    let origin = origin_site.start().await;
    origin.push_image("apps/tool", "v1", b"layer one").await;
    origin.push_image("apps/tool", "v2", b"layer two").await;
    let site = TestSite::new().await;
    run_mirror_ok(mirror_command(&site, &origin.base_url, &["--repo", "apps/tool"])).await;
    let mirror = site.start().await;
    let tags = |app: &TestApp| {
        let url = app.url("/v2/apps/tool/tags/list");
        let client = app.client.clone();
        async move {
            let body: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
            body["tags"].clone()
        }
    };
    assert_eq!(tags(&mirror).await, serde_json::json!(["v1", "v2"]));

    let deleted = origin
        .client
        .delete(origin.url("/v2/apps/tool/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    let kept = run_mirror_ok(mirror_command(&site, &origin.base_url, &["--repo", "apps/tool"])).await;
    assert_eq!(kept.count("pruned"), 0);
    assert_eq!(
        tags(&mirror).await,
        serde_json::json!(["v1", "v2"]),
        "nothing is deleted without --prune"
    );

    let pruned = run_mirror_ok(mirror_command(
        &site,
        &origin.base_url,
        &["--repo", "apps/tool", "--prune"],
    ))
    .await;
    assert_eq!(pruned.count("pruned"), 1, "{}", pruned.stdout);
    assert_eq!(tags(&mirror).await, serde_json::json!(["v2"]));
}
