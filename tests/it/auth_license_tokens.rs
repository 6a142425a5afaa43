//! License and publisher credentials at the token endpoint and the registry (issue 10's
//! must-shows 2 and 3): a revoked license is refused at `/token` and through a refresh token
//! issued before the revocation, on every process sharing the database; a license with a
//! flipped byte is refused; a publisher token outside its patterns gets a token without that
//! scope and the registry answers `401 insufficient_scope`; nothing secret comes back in a
//! body. Offline: a registry with its own database and only the license public-key file
//! issues a pull token for a valid license and refuses a forged one.

use crate::auth_support::*;
use crate::licenses_cli::{cli, create_publisher, issue_license, PREMIUM};
use crate::support::*;

const SCOPE: &str = "repository:workers/llm-worker-rbee-premium:pull";
const MANIFEST: &str = "/v2/workers/llm-worker-rbee-premium/manifests/v1";

async fn post_form(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url("/token")).form(form).send().await.unwrap()
}

/// The granted `access` of a token.
fn access_of(token: &str) -> serde_json::Value {
    claims_of(token)["access"].clone()
}

fn flipped(token: &str, at: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// A refusal whose body names none of the secrets.
async fn refused_without_leaks(response: reqwest::Response, status: u16, secrets: &[&str]) {
    assert_eq!(response.status(), status);
    let body = response.text().await.unwrap();
    for secret in secrets {
        assert!(!body.contains(secret), "the answer echoes a secret: {body}");
    }
}

#[tokio::test]
async fn license_tokens_revoked_or_altered_are_refused_at_token_and_by_refresh() {
    let site = TestSite::new().await;
    cli(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "true"]);
    let first = site.start_protected(|_| {}).await;
    let second = site.start_protected(|_| {}).await;
    // Content pushed through an open process on the same database and storage.
    site.start()
        .await
        .push_image("workers/llm-worker-rbee-premium", "v1", b"premium layer")
        .await;
    assert_eq!(first.get(MANIFEST).await.status(), 401);
    let license = issue_license(&site, &[PREMIUM], "30d");

    // A license gets a pull token on the premium repository and an offline refresh token.
    let body: serde_json::Value = post_form(
        &first,
        &[
            ("grant_type", "password"),
            ("username", "holder"),
            ("password", &license),
            ("client_id", "test"),
            ("access_type", "offline"),
            ("service", "rbee-registry"),
            ("scope", SCOPE),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let access = body["token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(access_of(&access)[0]["actions"], serde_json::json!(["pull"]));
    assert_eq!(get_with(&second, MANIFEST, &access).await.status(), 200);
    let refreshed = post_form(
        &second,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(refreshed.status(), 200);

    // A flipped byte anywhere in the license: 401 at /token, the token not echoed.
    for at in [9, license.len() / 2, license.len() - 1] {
        let forged = flipped(&license, at);
        refused_without_leaks(request_token(&first, Some(&forged), &[SCOPE]).await, 401, &[&forged]).await;
    }

    // Revoked through the CLI beside both processes: each refuses it at the next token
    // request, and the refresh token issued before the revocation opens nothing either.
    cli(&site, &["license", "revoke", &license]);
    for app in [&first, &second] {
        refused_without_leaks(request_token(app, Some(&license), &[SCOPE]).await, 401, &[&license]).await;
        refused_without_leaks(
            post_form(
                app,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("scope", SCOPE),
                ],
            )
            .await,
            401,
            &[&refresh, &license],
        )
        .await;
        refused_without_leaks(
            post_form(
                app,
                &[("grant_type", "password"), ("password", &license), ("scope", SCOPE)],
            )
            .await,
            401,
            &[&license],
        )
        .await;
    }
}

#[tokio::test]
async fn publisher_tokens_outside_their_patterns_get_no_scope_and_insufficient_scope() {
    let site = TestSite::new().await;
    let app = site.start_protected(|_| {}).await;
    let publisher = create_publisher(&site, "cpu-ci", &["workers/llm-worker-rbee-cpu"], &[]);
    // Inside the patterns: push and pull.
    let inside = token_for(
        &app,
        Some(&publisher),
        &["repository:workers/llm-worker-rbee-cpu:push,pull"],
    )
    .await;
    assert_eq!(access_of(&inside)[0]["actions"], serde_json::json!(["pull", "push"]));
    // Outside: a token (not a token error) without push (the repository is open: pull
    // stays).
    let outside = token_for(
        &app,
        Some(&publisher),
        &["repository:workers/llm-worker-rbee-premium:push,pull"],
    )
    .await;
    assert_eq!(access_of(&outside)[0]["actions"], serde_json::json!(["pull"]));
    assert_eq!(claims_of(&outside)["sub"], "publisher:cpu-ci");
    let response = app
        .client
        .post(app.url("/v2/workers/llm-worker-rbee-premium/blobs/uploads/"))
        .bearer_auth(&outside)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let said = challenge(&response);
    assert!(said.contains("error=\"insufficient_scope\""), "{said}");
    assert!(
        said.contains("scope=\"repository:workers/llm-worker-rbee-premium:push\""),
        "{said}"
    );
    let body = response.text().await.unwrap();
    assert!(!body.contains(&outside) && !body.contains(&publisher), "{body}");
    // Nor does its token for the allowed repository open the other one.
    let response = get_with(&app, MANIFEST, &inside).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains("insufficient_scope"));
}

#[tokio::test]
async fn a_registry_with_only_the_license_public_key_issues_pull_tokens() {
    let issuer = TestSite::new().await;
    let license = issue_license(&issuer, &[PREMIUM], "30d");
    let keys = cli(&issuer, &["license", "public-key"]).join("\n") + "\n";
    let other = TestSite::new().await;
    let foreign = issue_license(&other, &[PREMIUM], "30d");

    // Its own, empty database; only the public-key file (`--license-verify-keys`).
    let replica = TestSite::new().await;
    let key_file = replica.data_dir.join("license-keys.pub");
    std::fs::write(&key_file, keys).unwrap();
    cli(
        &replica,
        &["worker", "set-policy", PREMIUM, "--requires-license", "true"],
    );
    let app = replica
        .start_protected(move |config| config.licenses.verify_keys = Some(key_file))
        .await;
    let token = token_for(&app, Some(&license), &[SCOPE]).await;
    assert_eq!(access_of(&token)[0]["name"], "workers/llm-worker-rbee-premium");
    assert_eq!(access_of(&token)[0]["actions"], serde_json::json!(["pull"]));
    // The token opens the repository (here empty: 404, not 401).
    assert_eq!(get_with(&app, MANIFEST, &token).await.status(), 404);
    // Signed by another registry's key, or altered: refused, nothing echoed.
    for forged in [foreign.clone(), flipped(&license, 20)] {
        refused_without_leaks(request_token(&app, Some(&forged), &[SCOPE]).await, 401, &[&forged]).await;
    }
}
