//! spec/openapi.yaml and the router agree: every path the spec lists is served (checked over
//! HTTP) and every route the route table declares outside `/v2` is in the spec (checked on
//! the source of the route table, the one place routes are declared).

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Path keys under `paths:` (two-space indented keys starting with `/`), with their methods.
fn spec_operations() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("spec/openapi.yaml")).unwrap();
    let mut operations = BTreeSet::new();
    let mut in_paths = false;
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(path) = line.strip_prefix("  /") {
            current = Some(format!("/{}", path.trim_end().trim_end_matches(':').trim_matches('"')));
        } else if let Some(method) = line.strip_prefix("    ") {
            let method = method.trim_end().trim_end_matches(':');
            if ["get", "put", "post", "delete", "patch", "head"].contains(&method) {
                operations.insert((method.to_string(), current.clone().unwrap()));
            }
        }
    }
    operations
}

/// `named("/path", "name", || get(handler))` entries of the route table outside `/v2`.
fn router_operations() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("src/routes/mod.rs")).unwrap();
    let mut operations = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("named(\"") else {
            continue;
        };
        let (path, rest) = rest.split_once("\", ").unwrap();
        let (_name, handler) = rest.split_once(", || ").unwrap();
        if path.starts_with("/v2") {
            continue;
        }
        // `get(handler)` or a chain `get(a).post(b)`.
        for call in handler.split(").") {
            let method = call.split('(').next().unwrap();
            assert!(
                ["get", "put", "post", "delete", "patch"].contains(&method),
                "route {path} uses {method}; teach this test about it"
            );
            operations.insert((method.to_string(), path.to_string()));
        }
    }
    operations
}

#[tokio::test]
async fn openapi_spec_lists_exactly_the_routes_the_router_serves() {
    let spec = spec_operations();
    let router = router_operations();
    assert!(router.len() >= 10, "{router:?}");
    assert_eq!(spec, router, "spec/openapi.yaml and src/routes/mod.rs disagree");

    // Every spec path is answered by its handler, not by the router's fallback (which
    // answers an empty 404): a JSON body or a PKGBUILD error comes back.
    let app = TestApp::start().await;
    for (method, path) in &spec {
        let concrete = path
            .replace("{id}", "no-such-worker")
            .replace("{version}", "1.0.0")
            .replace("{digest}", &format!("sha256:{}", "0".repeat(64)));
        let response = match method.as_str() {
            "get" => app.get(&concrete).await,
            "post" => app.client.post(app.url(&concrete)).body("{}").send().await.unwrap(),
            "put" => app.client.put(app.url(&concrete)).send().await.unwrap(),
            "delete" => app.client.delete(app.url(&concrete)).send().await.unwrap(),
            other => panic!("{path}: teach this test to call {other}"),
        };
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        // `/metrics` is Prometheus text; every other handler answers JSON.
        let handled = body.starts_with('{') || (path == "/metrics" && status == 200 && body.contains("# TYPE"));
        assert!(
            handled,
            "{path}: answered {status} with {body:?}, which is not one of its handlers' answers"
        );
    }
    let fallback = app.get("/v1/not-a-route").await;
    assert_eq!(fallback.status(), 404);
    assert_eq!(fallback.text().await.unwrap(), "");
}
