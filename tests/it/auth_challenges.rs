//! The `/v2` access check on a protected registry: challenges (realm, service, scope,
//! error), anonymous pulls of open repositories, refused anonymous pushes, tokens whose
//! scope does not cover the request, `auth.mode = off`, and `_catalog` filtering.

use crate::auth_support::*;
use crate::support::*;

#[tokio::test]
async fn the_ping_and_every_endpoint_challenge_without_a_token() {
    let site = TestSite::new().await;
    let open = site.start().await;
    open.push_image("team/app", "v1", b"layer").await;
    let app = site
        .start_protected(|config| {
            config.public_url = Some(rbee_registry::services::PublicUrl::parse("https://registry.example.com").unwrap())
        })
        .await;
    // The realm comes from the configured public URL, never from the client's Host.
    let ping = app
        .client
        .get(app.url("/v2/"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 401);
    assert_eq!(
        challenge(&ping),
        "Bearer realm=\"https://registry.example.com/token\",service=\"rbee-registry\""
    );
    assert_eq!(error_code(ping).await, "UNAUTHORIZED");
    let digest = sha256(b"layer");
    for (method, path, scope) in [
        ("GET", "/v2/team/app/manifests/v1", "repository:team/app:pull"),
        ("HEAD", "/v2/team/app/manifests/v1", "repository:team/app:pull"),
        ("PUT", "/v2/team/app/manifests/v2", "repository:team/app:push"),
        ("DELETE", "/v2/team/app/manifests/v1", "repository:team/app:delete"),
        (
            "GET",
            &format!("/v2/team/app/blobs/{digest}"),
            "repository:team/app:pull",
        ),
        (
            "DELETE",
            &format!("/v2/team/app/blobs/{digest}"),
            "repository:team/app:delete",
        ),
        ("POST", "/v2/team/app/blobs/uploads/", "repository:team/app:push"),
        (
            "POST",
            &format!("/v2/team/app/blobs/uploads/?mount={digest}&from=other/repo"),
            "repository:team/app:push repository:other/repo:pull",
        ),
        ("PATCH", "/v2/team/app/blobs/uploads/0a-1b", "repository:team/app:push"),
        ("GET", "/v2/team/app/tags/list", "repository:team/app:pull"),
        (
            "GET",
            &format!("/v2/team/app/referrers/{digest}"),
            "repository:team/app:pull",
        ),
        ("GET", "/v2/_catalog", "registry:catalog:*"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
        assert_eq!(
            challenge(&response),
            format!("Bearer realm=\"https://registry.example.com/token\",service=\"rbee-registry\",scope=\"{scope}\""),
            "{method} {path}"
        );
    }
    // A method an endpoint has no row for is refused before any check or handler.
    let refused = app.client.post(app.url("/v2/team/app/tags/list")).send().await.unwrap();
    assert_eq!(refused.status(), 405);
}

#[tokio::test]
async fn anonymous_tokens_pull_open_repositories_and_never_push() {
    let site = TestSite::new().await;
    let open = site.start().await;
    let digest = open.push_image("team/app", "v1", b"layer").await;
    let app = site.start_protected(|_| {}).await;
    let token = token_for(&app, None, &["repository:team/app:pull,push"]).await;
    // Asked for pull and push: granted pull only, no error.
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], "anonymous");
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": "team/app", "actions": ["pull"]}])
    );
    let manifest = get_with(&app, "/v2/team/app/manifests/v1", &token).await;
    assert_eq!(manifest.status(), 200);
    assert_eq!(manifest.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(get_with(&app, "/v2/", &token).await.status(), 200);
    // The token covers pull, not push: insufficient_scope.
    let push = app
        .client
        .post(app.url("/v2/team/app/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 401);
    assert!(
        challenge(&push).ends_with("scope=\"repository:team/app:push\",error=\"insufficient_scope\""),
        "{}",
        challenge(&push)
    );
    // And for another repository.
    let other = get_with(&app, "/v2/team/other/tags/list", &token).await;
    assert_eq!(other.status(), 401);
    assert!(challenge(&other).contains("error=\"insufficient_scope\""));
}

#[tokio::test]
async fn anonymous_pull_can_be_turned_off() {
    let site = TestSite::new().await;
    site.start().await.push_image("team/app", "v1", b"layer").await;
    let app = site
        .start_protected(|config| config.auth.tokens.anonymous_pull = false)
        .await;
    let token = token_for(&app, None, &["repository:team/app:pull"]).await;
    assert_eq!(claims_of(&token)["access"], serde_json::json!([]));
    assert_eq!(get_with(&app, "/v2/", &token).await.status(), 200);
    assert_eq!(get_with(&app, "/v2/team/app/manifests/v1", &token).await.status(), 401);
}

#[tokio::test]
async fn the_admin_token_pushes_deletes_and_lists_everything() {
    let app = TestApp::start_protected().await;
    let admin = admin_secret(&app);
    assert!(admin.starts_with("rbee_adm_"));
    let token = token_for(
        &app,
        Some(&admin),
        &["repository:team/app:pull,push,delete", "registry:catalog:*"],
    )
    .await;
    assert_eq!(claims_of(&token)["sub"], "admin");
    let body = b"hello".to_vec();
    let pushed = app
        .client
        .post(app.url(&format!("/v2/team/app/blobs/uploads/?digest={}", sha256(&body))))
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    let catalog: serde_json::Value = get_with(&app, "/v2/_catalog", &token).await.json().await.unwrap();
    assert_eq!(catalog["repositories"], serde_json::json!(["team/app"]));
    let anonymous = token_for(&app, None, &["registry:catalog:*"]).await;
    let catalog: serde_json::Value = get_with(&app, "/v2/_catalog", &anonymous).await.json().await.unwrap();
    assert_eq!(catalog["repositories"], serde_json::json!(["team/app"]));
}

#[tokio::test]
async fn with_auth_off_the_registry_is_open() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/v2/").await.status(), 200);
    app.push_image("team/app", "v1", b"layer").await;
    assert_eq!(app.get("/v2/team/app/manifests/v1").await.status(), 200);
}
