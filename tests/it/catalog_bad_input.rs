//! Must-show 3 of issue 11: bad catalogs (invalid JSON, an id that is not the branch, a
//! 50 MiB file, a symlink, a directory, an index naming a missing branch, an unreachable
//! source) are reported and the rest is synced; the webhook refuses unsigned and badly
//! signed requests.

use serde_json::{json, Value};

use crate::catalog_fixtures::*;

fn good_metadata(id: &str) -> Vec<u8> {
    let mut metadata: Value = serde_json::from_slice(&fixture("llm-worker-rbee-cpu.metadata.json")).unwrap();
    metadata["id"] = id.into();
    serde_json::to_vec(&metadata).unwrap()
}

fn error_of<'a>(status: &'a Value, branch: &str) -> &'a str {
    status["branch_errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["branch"] == branch)
        .unwrap_or_else(|| panic!("no error for {branch}: {status}"))["error"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn bad_branches_are_reported_and_the_rest_is_synced() {
    let repo = SourceRepo::new();
    repo.commit_branch("good", &[file("metadata.json", good_metadata("good"))]);
    repo.commit_branch("bad-json", &[file("metadata.json", "{\"id\": \"bad-json\",")]);
    repo.commit_branch("wrong-id", &[file("metadata.json", good_metadata("someone-else"))]);
    repo.commit_branch(
        "huge",
        &[
            file("metadata.json", good_metadata("huge")),
            file("README.md", vec![b'x'; 50 * 1024 * 1024]),
        ],
    );
    repo.commit_branch(
        "linked",
        &[
            file("metadata.json", good_metadata("linked")),
            ("120000", "PKGBUILD", b"/etc/passwd".to_vec()),
        ],
    );
    repo.commit_branch(
        "nested",
        &[
            file("metadata.json", good_metadata("nested")),
            ("040000", "docs", b"text".to_vec()),
        ],
    );
    repo.commit_branch("stray", &[file("metadata.json", good_metadata("stray"))]);
    repo.set_index(&["good", "bad-json", "wrong-id", "huge", "linked", "nested", "missing"]);
    let app = start_with_source(repo.path.to_str().unwrap()).await;
    let report = synced(&app).await;
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["upserted"], 1, "{report}");
    assert_eq!(report["unlisted"], json!(["stray"]));

    let (_, status) = get_json(&app, "/v1/catalog/status").await;
    assert_eq!(status["branch_errors"].as_array().unwrap().len(), 6, "{status}");
    assert!(error_of(&status, "bad-json").contains("not valid JSON"));
    assert!(error_of(&status, "wrong-id").contains("id is \"someone-else\", but the branch is \"wrong-id\""));
    assert!(error_of(&status, "huge").contains("README.md is 52428800 bytes"));
    assert!(error_of(&status, "linked").contains("symbolic link"));
    assert!(error_of(&status, "nested").contains("directory"));
    assert!(error_of(&status, "missing").contains("does not exist"));
    assert_eq!(status["unlisted_branches"], json!(["stray"]));

    let (_, list) = get_json(&app, "/v1/workers").await;
    let ids: Vec<&str> = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["good"]);

    // /metrics counts the sync and its refused branches.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("rbee_catalog_syncs_total{outcome=\"applied\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("rbee_catalog_branch_errors 6"), "{metrics}");

    // A branch that breaks later keeps its last good record; one that goes is delisted.
    repo.commit_branch("good", &[file("metadata.json", "not json")]);
    repo.set_index(&["good"]);
    synced(&app).await;
    let (status, good) = get_json(&app, "/v1/workers/good").await;
    assert_eq!(status, 200, "the last good record stays");
    assert_eq!(good["name"], "LLM Worker (CPU)");
    repo.delete_branch("good");
    let report = synced(&app).await;
    assert_eq!(report["delisted"], 1, "{report}");
    assert_eq!(get_json(&app, "/v1/workers/good").await.0, 404);
}

#[tokio::test]
async fn an_unreachable_source_is_reported_and_the_applied_catalog_stays() {
    let repo = design_catalog();
    let site = crate::support::TestSite::new().await;
    let app = start_on(&site, repo.path.to_str().unwrap()).await;
    synced(&app).await;
    app.stop().await;
    for source in ["http://127.0.0.1:9/catalog.git", "/nonexistent/catalog.git"] {
        let app = start_on(&site, source).await;
        let (status, body) = sync(&app).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["code"], "SYNC_FAILED");
        let (_, catalog) = get_json(&app, "/v1/catalog/status").await;
        assert!(
            catalog["attempt_error"].as_str().unwrap().contains("cannot be fetched"),
            "{catalog}"
        );
        assert_eq!(catalog["commit"], repo.rev("master"), "the applied revision stays");
        let (_, list) = get_json(&app, "/v1/workers").await;
        assert_eq!(list["workers"].as_array().unwrap().len(), 3);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_webhook_needs_a_valid_signature() {
    let repo = design_catalog();
    let app = start_with_source(repo.path.to_str().unwrap()).await;
    let body = br#"{"ref":"refs/heads/master"}"#;
    let unsigned = app
        .client
        .post(app.url("/v1/catalog/sync"))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let forged = rbee_registry::auth::webhook::sign_hub_body(b"wrong secret", body);
    let forged = app
        .client
        .post(app.url("/v1/catalog/sync"))
        .header("X-Hub-Signature-256", forged)
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (_, status) = get_json(&app, "/v1/catalog/status").await;
    assert_eq!(status["revision"], Value::Null, "nothing was synced");
    // Without a configured secret nothing opens it.
    let open = crate::support::TestApp::start().await;
    let refused = open
        .client
        .post(open.url("/v1/catalog/sync"))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

/// The HTTP(S) source path: gix's HTTP client against stock git's smart HTTP server
/// (`git http-backend`), including a second sync after a new commit and a deleted branch.
#[tokio::test]
async fn an_http_source_is_fetched_with_gix() {
    use std::io::BufRead;
    let repo = design_catalog();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/git_http_server.py");
    let mut server = std::process::Command::new("python3")
        .arg(script)
        .arg(repo.path.parent().unwrap())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let url = format!("http://127.0.0.1:{}/catalog-source.git", port.trim());
    let app = start_with_source(&url).await;
    let report = synced(&app).await;
    assert_eq!(
        (report["outcome"].as_str(), report["upserted"].as_u64()),
        (Some("applied"), Some(3)),
        "{report}"
    );
    let (_, cpu) = get_json(&app, &format!("/v1/workers/{CPU}")).await;
    assert_eq!(cpu["catalog"]["commit"], repo.rev(CPU));

    let mut changed: Value = serde_json::from_slice(&fixture("llm-worker-rbee-cuda.metadata.json")).unwrap();
    changed["description"] = "Fetched again".into();
    repo.commit_branch(CUDA, &[file("metadata.json", serde_json::to_vec(&changed).unwrap())]);
    repo.delete_branch(PREMIUM);
    let report = synced(&app).await;
    assert_eq!(
        (report["upserted"].as_u64(), report["delisted"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let (_, cuda) = get_json(&app, &format!("/v1/workers/{CUDA}")).await;
    assert_eq!(cuda["description"], "Fetched again");
    assert_eq!(get_json(&app, &format!("/v1/workers/{PREMIUM}")).await.0, 404);
    // The local copy's branches are the source's.
    let local = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(app.data_dir().join("catalog.git"))
        .args(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"])
        .output()
        .unwrap();
    let local = String::from_utf8(local.stdout).unwrap();
    let expected = repo.git(
        &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"],
        b"",
    );
    assert_eq!(local.trim(), expected);
    server.kill().unwrap();
    server.wait().unwrap();
}
