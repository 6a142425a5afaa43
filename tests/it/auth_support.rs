//! Helpers of the token-authentication tests: the admin token of a site, token requests,
//! challenges.

use base64::Engine;

use crate::support::*;

/// The admin token the first `serve` on the site wrote.
pub fn admin_secret(app: &TestApp) -> String {
    std::fs::read_to_string(app.data_dir().join("admin-token"))
        .unwrap()
        .trim()
        .to_string()
}

/// `GET /token` with `secret` as the Basic password (any user name) and these scopes.
pub async fn request_token(app: &TestApp, secret: Option<&str>, scopes: &[&str]) -> reqwest::Response {
    let mut query: Vec<(&str, &str)> = vec![("service", "rbee-registry")];
    query.extend(scopes.iter().map(|scope| ("scope", *scope)));
    let mut request = app.client.get(app.url("/token")).query(&query);
    if let Some(secret) = secret {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("ci:{secret}"));
        request = request.header("authorization", format!("Basic {basic}"));
    }
    request.send().await.unwrap()
}

/// A token for `scopes` (expects `200`).
pub async fn token_for(app: &TestApp, secret: Option<&str>, scopes: &[&str]) -> String {
    let response = request_token(app, secret, scopes).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    body["token"].as_str().unwrap().to_string()
}

/// The claims of a token (not verified: for looking at what was granted).
pub fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The header of a token.
pub fn header_of(token: &str) -> serde_json::Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// `GET path` with a bearer token.
pub async fn get_with(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap()
}

/// The `WWW-Authenticate` of a response.
pub fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default()
}
