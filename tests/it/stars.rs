//! Stars over HTTP (`PUT`/`DELETE /v1/workers/:id/star`): a license holder and a publisher
//! each star a worker once however often they ask (and with any token of theirs), `DELETE`
//! takes the star back, requests without a valid token are refused with 401, and
//! `/v1/workers/:id/stats` counts the stars.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::Value;

use crate::licenses_cli::{cli, create_publisher, issue_license};
use crate::support::*;
use crate::worker_fixtures::*;

const CPU: &str = "llm-worker-rbee-cpu";

/// A star request with `authorization` (a whole header value), its status and body.
async fn star(app: &TestApp, method: Method, worker: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("/v1/workers/{worker}/star")));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 401 {
        assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"rbee\"");
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn stars_of(app: &TestApp, worker: &str) -> u64 {
    let response = app.get(&format!("/v1/workers/{worker}/stats")).await;
    assert_eq!(response.status(), 200);
    let stats: Value = response.json().await.unwrap();
    stats["stars"].as_u64().unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("anyone:{password}")))
}

#[tokio::test]
async fn stars_count_once_per_holder_and_need_a_valid_token() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let dir = tempfile::tempdir().unwrap();
    publish_worker(&app, dir.path(), CPU, "0.1.0", &["linux/amd64"], None).await;
    assert_eq!(stars_of(&app, CPU).await, 0);

    let license = issue_license(&site, &["llm-worker-rbee-premium"], "30d");
    let publisher = create_publisher(&site, "ci", &["workers/*"], &[]);

    // A license holder stars once: repeating (also as Basic credentials) changes nothing.
    let (status, body) = star(&app, Method::PUT, CPU, Some(&bearer(&license))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["starred"], true);
    assert_eq!(body["changed"], true);
    assert_eq!(body["stars"], 1);
    let (status, body) = star(&app, Method::PUT, CPU, Some(&basic(&license))).await;
    assert_eq!(
        (status, body["changed"].clone(), body["stars"].clone()),
        (200, false.into(), 1.into())
    );
    assert_eq!(stars_of(&app, CPU).await, 1);

    // A publisher is another holder.
    let (status, body) = star(&app, Method::PUT, CPU, Some(&bearer(&publisher))).await;
    assert_eq!((status, body["stars"].clone()), (200, 2.into()), "{body}");
    let (status, _) = star(&app, Method::PUT, CPU, Some(&bearer(&publisher))).await;
    assert_eq!(status, 200);
    assert_eq!(stars_of(&app, CPU).await, 2);

    // DELETE takes the caller's star back, once.
    let (status, body) = star(&app, Method::DELETE, CPU, Some(&bearer(&license))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["starred"], false);
    assert_eq!(body["changed"], true);
    assert_eq!(body["stars"], 1);
    let (status, body) = star(&app, Method::DELETE, CPU, Some(&bearer(&license))).await;
    assert_eq!(
        (status, body["changed"].clone(), body["stars"].clone()),
        (200, false.into(), 1.into())
    );
    assert_eq!(stars_of(&app, CPU).await, 1);

    // Anonymous, forged, unknown and admin credentials are refused and change nothing.
    // One signature character changed (not the last: its low bits may be padding).
    let at = license.len() - 5;
    let changed = if &license[at..at + 1] == "A" { "B" } else { "A" };
    let forged_license = format!("{}{changed}{}", &license[..at], &license[at + 1..]);
    let admin = std::fs::read_to_string(app.data_dir().join("admin-token")).unwrap_or_default();
    for authorization in [
        None,
        Some(bearer(&forged_license)),
        Some(bearer("rbee_pub_notarealtoken")),
        Some(bearer("")),
        Some("Token xyz".to_string()),
        Some(basic("wrong")),
    ]
    .into_iter()
    .chain((!admin.trim().is_empty()).then(|| Some(bearer(admin.trim()))))
    {
        for method in [Method::PUT, Method::DELETE] {
            let (status, body) = star(&app, method.clone(), CPU, authorization.as_deref()).await;
            assert_eq!(status, 401, "{method} with {authorization:?}: {body}");
            assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        }
    }
    assert_eq!(stars_of(&app, CPU).await, 1);

    // A revoked license no longer stars; its star was taken back above, the publisher's stays.
    cli(&site, &["license", "revoke", &license]);
    let (status, _) = star(&app, Method::PUT, CPU, Some(&bearer(&license))).await;
    assert_eq!(status, 401);

    // An unknown worker is 404 for a valid holder.
    let (status, body) = star(&app, Method::PUT, "no-such-worker", Some(&bearer(&publisher))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "WORKER_NOT_FOUND");

    // Another process on the same database sees the same count.
    let other = site.start().await;
    assert_eq!(stars_of(&other, CPU).await, 1);
}
