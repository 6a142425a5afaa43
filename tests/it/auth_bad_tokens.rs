//! Bad bearer tokens, each refused with `401 UNAUTHORIZED`, `error="invalid_token"` (or
//! `insufficient_scope` for a valid token of another repository) and nothing in the answer
//! that says which check failed: forged signature, expired, not yet valid, `alg: none`,
//! HMAC signed with the public key, unknown `kid`, wrong audience, a tampered `access` claim.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rbee_registry::auth::scopes::AccessEntry;
use rbee_registry::auth::token::{sign, Claims, SigningKey};

use crate::auth_support::*;
use crate::support::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(repo: &str, actions: &[&str]) -> Claims {
    let now = now();
    Claims {
        iss: "rbee-registry".into(),
        sub: "anonymous".into(),
        aud: "rbee-registry".into(),
        exp: now + 300,
        nbf: now,
        iat: now,
        jti: "test".into(),
        access: vec![AccessEntry {
            kind: "repository".into(),
            name: repo.into(),
            actions: actions.iter().map(|action| action.to_string()).collect(),
        }],
    }
}

fn encode(value: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn other_key(kid: Option<&str>) -> SigningKey {
    let new = SigningKey::generate().unwrap();
    SigningKey::from_pkcs8(kid.unwrap_or(&new.kid), &new.pkcs8).unwrap()
}

#[tokio::test]
async fn bad_tokens_are_refused_without_saying_why() {
    let site = TestSite::new().await;
    site.start().await.push_image("team/a", "v1", b"layer a").await;
    site.start().await.push_image("team/b", "v1", b"layer b").await;
    let app = site.start_protected(|_| {}).await;
    let good = token_for(&app, None, &["repository:team/a:pull"]).await;
    assert_eq!(get_with(&app, "/v2/team/a/manifests/v1", &good).await.status(), 200);

    let key = site.registry().await.current_signing_key().await.unwrap();
    let kid = key.kid().to_string();
    let (header, payload) = {
        let mut parts = good.split('.');
        (parts.next().unwrap().to_string(), parts.next().unwrap().to_string())
    };

    let mut expired = claims("team/a", &["pull"]);
    expired.exp = now() - 120;
    expired.iat = now() - 420;
    expired.nbf = now() - 420;
    let mut early = claims("team/a", &["pull"]);
    early.nbf = now() + 600;
    let mut audience = claims("team/a", &["pull"]);
    audience.aud = "another-registry".into();

    let none_header = encode(serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid}));
    let hs_header = encode(serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}));
    let public = &key.public_key().bytes;
    let hs_input = format!("{hs_header}.{payload}");
    let mac = ring_hmac(public, hs_input.as_bytes());
    let tampered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("team/a", &["pull", "push"])).unwrap());
    let signature = good.rsplit('.').next().unwrap();

    let cases: Vec<(&str, String)> = vec![
        (
            "forged signature",
            sign(&claims("team/a", &["pull"]), &other_key(Some(&kid))),
        ),
        ("unknown kid", sign(&claims("team/a", &["pull"]), &other_key(None))),
        ("expired", sign(&expired, &key)),
        ("not yet valid", sign(&early, &key)),
        ("other audience", sign(&audience, &key)),
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "HMAC with the public key",
            format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(mac)),
        ),
        ("tampered access", format!("{header}.{tampered_payload}.{signature}")),
        ("garbage", "not-a-token".into()),
    ];
    for (what, token) in &cases {
        let response = get_with(&app, "/v2/team/a/manifests/v1", token).await;
        assert_eq!(response.status(), 401, "{what}");
        let challenge = challenge(&response);
        assert!(
            challenge.ends_with("scope=\"repository:team/a:pull\",error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        let body = response.text().await.unwrap();
        for word in ["expired", "signature", "kid", "alg", "audience", "valid yet"] {
            assert!(!body.contains(word), "{what}: the answer says {word:?}: {body}");
        }
    }
    // The tampered token pushes nothing either.
    let push = app
        .client
        .post(app.url("/v2/team/a/blobs/uploads/"))
        .bearer_auth(&cases[7].1)
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 401);

    // A valid token for team/a used on team/b: insufficient scope, not a pull.
    let response = get_with(&app, "/v2/team/b/manifests/v1", &good).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).ends_with("scope=\"repository:team/b:pull\",error=\"insufficient_scope\""));

    let metrics = app.get("/metrics").await.text().await.unwrap();
    let invalid = metrics
        .lines()
        .find(|line| line.starts_with("rbee_auth_failures_total{reason=\"invalid_token\"}"))
        .unwrap();
    let count: f64 = invalid.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= cases.len() as f64, "{invalid}");
}

/// HMAC-SHA256, written out (the test must not trust the code under test for it).
fn ring_hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).chain(data.iter().copied()).collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(inner.iter().copied()).collect();
    Sha256::digest(&outer).to_vec()
}
