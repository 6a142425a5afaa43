//! The token endpoint: the `GET` form (anonymous and Basic), the OAuth2 `POST` form with
//! refresh tokens, wrong credentials, the rate limit, the JWKS, key rotation with
//! `rbee-registry keys rotate`, and failed authentications on `/metrics`.

use crate::auth_support::*;
use crate::support::*;

#[tokio::test]
async fn get_answers_the_token_spec_shape() {
    let app = TestApp::start_protected().await;
    let response = request_token(
        &app,
        None,
        &["repository:a:pull repository:b:pull", "repository:a:push"],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("refresh_token").is_none());
    let token = body["token"].as_str().unwrap();
    let header = header_of(token);
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    let claims = claims_of(token);
    for claim in ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"] {
        assert!(!claims[claim].is_null(), "{claim} missing: {claims}");
    }
    assert_eq!(claims["aud"], "rbee-registry");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    // Space-separated and repeated scopes, merged; push left out for anonymous.
    assert_eq!(
        claims["access"],
        serde_json::json!([
            {"type": "repository", "name": "a", "actions": ["pull"]},
            {"type": "repository", "name": "b", "actions": ["pull"]}
        ])
    );
}

#[tokio::test]
async fn wrong_credentials_are_401_with_a_basic_challenge_and_counted() {
    let app = TestApp::start_protected().await;
    for secret in ["rbee_adm_wrong", "rbee_pub_unknown", "rbee_lic_unknown", "no-prefix"] {
        let response = request_token(&app, Some(secret), &["repository:a:pull"]).await;
        assert_eq!(response.status(), 401, "{secret}");
        assert!(challenge(&response).starts_with("Basic realm="), "{secret}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(secret), "the answer echoes the secret: {body}");
    }
    let garbage = app
        .client
        .get(app.url("/token"))
        .header("authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics
        .lines()
        .find(|line| line.starts_with("rbee_auth_failures_total{reason=\"credentials\"}"))
        .unwrap();
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 5.0, "{line}");
    assert!(!metrics.contains("rbee_adm_wrong"));
}

async fn post_form(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url("/token")).form(form).send().await.unwrap()
}

#[tokio::test]
async fn the_oauth2_form_with_refresh_tokens() {
    let app = TestApp::start_protected().await;
    let admin = admin_secret(&app);
    let response = post_form(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "ci"),
            ("password", &admin),
            ("client_id", "test"),
            ("access_type", "offline"),
            ("service", "rbee-registry"),
            ("scope", "repository:a:push,pull"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(claims_of(body["token"].as_str().unwrap())["sub"], "admin");
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert!(refresh.starts_with("rbee_rft_"));
    // Without offline access, no refresh token.
    let online: serde_json::Value = post_form(&app, &[("grant_type", "password"), ("password", &admin)])
        .await
        .json()
        .await
        .unwrap();
    assert!(online.get("refresh_token").is_none());
    // The refresh grant re-authenticates the credential sealed in the record.
    let refreshed = post_form(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "repository:b:pull"),
        ],
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: serde_json::Value = refreshed.json().await.unwrap();
    assert_eq!(refreshed["refresh_token"], refresh.as_str());
    let claims = claims_of(refreshed["token"].as_str().unwrap());
    assert_eq!(claims["sub"], "admin");
    assert_eq!(claims["access"][0]["name"], "b");
    // A refresh token with a flipped byte of its key opens nothing.
    let mut forged = refresh.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for (form, status) in [
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", forged.as_str())],
            401,
        ),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "rbee_rft_x.y")],
            401,
        ),
        (vec![("grant_type", "password"), ("password", "rbee_adm_wrong")], 401),
        (vec![("grant_type", "password")], 400),
        (vec![("grant_type", "client_credentials")], 400),
        (vec![], 400),
    ] {
        let response = post_form(&app, &form).await;
        assert_eq!(response.status(), status, "{form:?}");
    }
}

#[tokio::test]
async fn token_requests_are_rate_limited_per_client() {
    let app = TestSite::new()
        .await
        .start_protected(|config| config.auth.token_rate_limit = 3)
        .await;
    for _ in 0..3 {
        assert_eq!(request_token(&app, None, &[]).await.status(), 200);
    }
    let limited = request_token(&app, None, &[]).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(error_code(limited).await, "TOOMANYREQUESTS");
}

#[tokio::test]
async fn keys_rotate_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let site = TestSite::new().await;
    let app = site.start_protected(|_| {}).await;
    site.start().await.push_image("team/app", "v1", b"layer").await;
    let old = token_for(&app, None, &["repository:team/app:pull"]).await;
    let old_kid = header_of(&old)["kid"].as_str().unwrap().to_string();
    let jwks: serde_json::Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], old_kid.as_str());
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(jwks["keys"][0].get("d").is_none(), "the JWKS shows a private key");

    // Rotated by another process while this one serves.
    let output = site.command("keys").arg("rotate").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let new_kid = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_ne!(new_kid, old_kid);

    let new = token_for(&app, None, &["repository:team/app:pull"]).await;
    assert_eq!(header_of(&new)["kid"], new_kid.as_str());
    for token in [&old, &new] {
        assert_eq!(get_with(&app, "/v2/team/app/manifests/v1", token).await.status(), 200);
    }
    let jwks: serde_json::Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );

    let listed = site.command("keys").arg("list").output().unwrap();
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with(&new_kid) && lines[0].ends_with("current"),
        "{listed}"
    );
    assert!(
        lines[1].starts_with(&old_kid) && lines[1].contains("retired"),
        "{listed}"
    );
}

#[tokio::test]
async fn the_admin_token_is_made_once_with_mode_0600_and_shared_by_processes() {
    use std::os::unix::fs::PermissionsExt;
    let site = TestSite::new().await;
    let first = site.start_protected(|_| {}).await;
    let path = first.data_dir().join("admin-token");
    let secret = admin_secret(&first);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    // A second process on the same database keeps the same token.
    let second = site.start_protected(|_| {}).await;
    assert_eq!(admin_secret(&second), secret);
    let token = token_for(&second, Some(&secret), &["repository:a:push"]).await;
    assert_eq!(claims_of(&token)["sub"], "admin");
}

#[tokio::test]
async fn processes_on_one_database_share_keys_and_refresh_tokens() {
    let site = TestSite::new().await;
    let first = site.start_protected(|_| {}).await;
    let second = site.start_protected(|_| {}).await;
    site.start().await.push_image("team/app", "v1", b"layer").await;
    // A token from one process opens the other.
    let token = token_for(&first, None, &["repository:team/app:pull"]).await;
    assert_eq!(
        get_with(&second, "/v2/team/app/manifests/v1", &token).await.status(),
        200
    );
    // A refresh token made by one process works on the other.
    let admin = admin_secret(&first);
    let body: serde_json::Value = post_form(
        &first,
        &[
            ("grant_type", "password"),
            ("password", &admin),
            ("access_type", "offline"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    let refreshed = post_form(
        &second,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "repository:team/app:push"),
        ],
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: serde_json::Value = refreshed.json().await.unwrap();
    let claims = claims_of(refreshed["token"].as_str().unwrap());
    assert_eq!(claims["access"][0]["actions"], serde_json::json!(["push"]));
}
