//! `POST /v1/licenses/verify` over HTTP: valid, flipped, expired and revoked tokens (the
//! revocation made by the CLI and seen at once by a second server on the same database),
//! and offline verification by a registry that holds only the public-key file.

use std::time::Duration;

use serde_json::{json, Value};

use crate::licenses_cli::{cli, issue_license, PREMIUM};
use crate::support::*;

async fn verify(app: &TestApp, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/v1/licenses/verify"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn flipped(token: &str, at: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn invalid(reason: &str) -> Value {
    json!({ "valid": false, "reason": reason })
}

#[tokio::test]
async fn licenses_verify_answers_valid_expired_revoked_and_invalid() {
    let site = TestSite::new().await;
    let (one, two) = (site.start().await, site.start().await);
    let token = issue_license(&site, &[PREMIUM, "llm-worker-rbee-cpu"], "30d");

    let answer = verify(&one, &token).await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["worker_ids"], json!(["llm-worker-rbee-cpu", PREMIUM]));
    let expires_at = answer["expires_at"].as_str().unwrap();
    assert!(expires_at.ends_with('Z') && expires_at.contains('T'), "{expires_at}");
    assert_eq!(answer.as_object().unwrap().len(), 3, "{answer}");

    // Forged or foreign: `invalid`, nothing more.
    for forged in [
        flipped(&token, 9),
        flipped(&token, token.len() / 2),
        flipped(&token, token.len() - 1),
        format!("{token}A"),
        "rbee_lic_AAAA".into(),
        "rbee_pub_x".into(),
        String::new(),
    ] {
        assert_eq!(verify(&one, &forged).await, invalid("invalid"), "{forged}");
    }
    let response = one
        .client
        .post(one.url("/v1/licenses/verify"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_QUERY");

    // A token past its expiry.
    let short = issue_license(&site, &[PREMIUM], "1s");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(verify(&two, &short).await, invalid("expired"));

    // Verification is recorded (coarsely) on the license.
    let id = cli(&site, &["license", "show", &token])[0]
        .strip_prefix("license ")
        .unwrap()
        .to_string();
    crate::worker_fixtures::eventually("last verified recorded", || async {
        !cli(&site, &["license", "show", &id]).contains(&"last verified: never".to_string())
    })
    .await;

    // Revoked through the CLI: the other server refuses it at its next check.
    assert_eq!(verify(&two, &token).await["valid"], true);
    cli(&site, &["license", "revoke", &token]);
    assert_eq!(verify(&two, &token).await, invalid("revoked"));
    assert_eq!(verify(&one, &token).await, invalid("revoked"));
}

#[tokio::test]
async fn licenses_verify_offline_with_only_the_public_key_file() {
    // The issuing registry.
    let issuer = TestSite::new().await;
    let token = issue_license(&issuer, &[PREMIUM], "30d");
    let keys = cli(&issuer, &["license", "public-key"]).join("\n") + "\n";
    let other = TestSite::new().await;
    let foreign = issue_license(&other, &[PREMIUM], "30d");

    // A replica with its own, empty database and only the public key.
    let replica = TestSite::new().await;
    let key_file = replica.data_dir.join("license-keys.pub");
    std::fs::write(&key_file, keys).unwrap();
    let path = key_file.clone();
    let app = replica
        .start_configured(Default::default(), move |config| {
            config.licenses.verify_keys = Some(path);
        })
        .await;
    let answer = verify(&app, &token).await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["worker_ids"], json!([PREMIUM]));
    // Signed by another registry's key, or altered: refused.
    assert_eq!(verify(&app, &foreign).await, invalid("invalid"));
    assert_eq!(verify(&app, &flipped(&token, 20)).await, invalid("invalid"));
    // A registry with only public keys cannot issue licenses.
    let mut config = replica.config();
    config.licenses.verify_keys = Some(key_file.clone());
    let verifier = rbee_registry::server::open_registry(&config).await.unwrap();
    let premium = rbee_registry::artifact::WorkerId::parse(PREMIUM).unwrap();
    let error = verifier
        .issue_license("a@example.com", &[premium], i64::MAX / 2000)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("public keys only"), "{error}");
    // Without the file the replica knows no key at all.
    let plain = replica.start().await;
    assert_eq!(verify(&plain, &token).await, invalid("invalid"));

    // A broken key file stops the start with a clear error.
    std::fs::write(&key_file, "ed25519 nonsense\n").unwrap();
    let mut config = replica.config();
    config.licenses.verify_keys = Some(key_file);
    let error = rbee_registry::server::open_registry(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("license-keys.pub") && error.contains("line 1"),
        "{error}"
    );
}
