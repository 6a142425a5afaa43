//! Issue 11's wiring across the catalog, the job runner and authentication: the catalog's
//! `requires_license` is the worker's access policy (on `/v2` and on the download endpoint,
//! whose refusal carries the catalog's purchase link); `serve --catalog-interval` runs the
//! sync as the job `catalog-sync`, once per revision between processes, its status seen by
//! every process; `POST /v1/catalog/sync` takes the admin token; the repository `catalog add`
//! writes is the one served at `/catalog.git`; catalog-only workers answer the version and
//! stats endpoints.

use std::time::Duration;

use serde_json::Value;

use crate::auth_support::*;
use crate::catalog_fixtures::*;
use crate::catalog_git_fixture::git;
use crate::licenses_cli::issue_license;
use crate::scale_out::ServeProcess;
use crate::support::*;
use crate::worker_fixtures::publish_worker;

/// The catalog's purchase link for the premium worker (the published artifact has another).
const CATALOG_PURCHASE_URL: &str = "https://rbee.ai/premium";

/// The design's premium record with `requires_license` set to `requires`.
fn premium_metadata(requires: bool) -> Vec<u8> {
    let mut metadata: Value = serde_json::from_slice(&fixture("llm-worker-rbee-premium.metadata.json")).unwrap();
    metadata["distribution"]["requires_license"] = requires.into();
    serde_json::to_vec_pretty(&metadata).unwrap()
}

/// Whether a token `/token` gives for `secret` (anonymous when none) pulls `workers/<worker>`:
/// the status of its tags list with that token.
async fn pull_status(app: &TestApp, secret: Option<&str>, worker: &str) -> u16 {
    let scope = format!("repository:workers/{worker}:pull");
    let token = token_for(app, secret, &[&scope]).await;
    let response = get_with(app, &format!("/v2/workers/{worker}/tags/list"), &token).await;
    response.status().as_u16()
}

/// The download answer of `worker` 0.1.0 without credentials: status and body.
async fn anonymous_download(app: &TestApp, worker: &str) -> (u16, Value) {
    get_json(
        app,
        &format!("/v1/workers/{worker}/0.1.0/download?platform=linux-x86_64"),
    )
    .await
}

#[tokio::test]
async fn the_catalogs_requires_license_is_the_workers_access_policy() {
    let repo = design_catalog();
    let site = TestSite::new().await;
    // Published by CI first: the artifacts alone make no worker premium.
    let open = site.start().await;
    let work = tempfile::tempdir().unwrap();
    for worker in [PREMIUM, CPU] {
        publish_worker(&open, work.path(), worker, "0.1.0", &["linux/amd64"], None).await;
    }
    let source = repo.path.to_str().unwrap().to_string();
    let app = site
        .start_protected(|config| config.catalog = settings(&site, &source))
        .await;
    assert_eq!(pull_status(&app, None, PREMIUM).await, 200, "open before the sync");

    assert_eq!(synced(&app).await["outcome"], "applied");
    // Without a token, and with an anonymous one (granted nothing): 401.
    let bare = app.get(&format!("/v2/workers/{PREMIUM}/tags/list")).await;
    assert_eq!(bare.status(), 401);
    let anonymous = token_for(&app, None, &[&format!("repository:workers/{PREMIUM}:pull")]).await;
    assert_eq!(claims_of(&anonymous)["access"], serde_json::json!([]));
    assert_eq!(pull_status(&app, None, PREMIUM).await, 401);
    // The open ones still pull anonymously.
    assert_eq!(pull_status(&app, None, CPU).await, 200);
    // A license for it pulls.
    let license = issue_license(&site, &[PREMIUM], "30d");
    assert_eq!(pull_status(&app, Some(&license), PREMIUM).await, 200);
    // The download endpoint: 403 with the catalog's purchase link (the catalog is the truth
    // for pricing), the open worker's URL without credentials.
    let (status, body) = anonymous_download(&app, PREMIUM).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["purchase_url"], CATALOG_PURCHASE_URL);
    let (status, body) = anonymous_download(&app, CPU).await;
    assert_eq!(status, 200, "{body}");
    let licensed = app
        .client
        .get(app.url(&format!("/v1/workers/{PREMIUM}/0.1.0/download?platform=linux-x86_64")))
        .bearer_auth(&license)
        .send()
        .await
        .unwrap();
    assert_eq!(licensed.status(), 200);

    // The branch says `false`: after the next sync the worker is open.
    repo.commit_branch(PREMIUM, &[file("metadata.json", premium_metadata(false))]);
    repo.set_index(&[CPU, CUDA, PREMIUM]);
    assert_eq!(synced(&app).await["outcome"], "applied");
    assert_eq!(pull_status(&app, None, PREMIUM).await, 200);
    let (status, body) = anonymous_download(&app, PREMIUM).await;
    assert_eq!(status, 200, "{body}");
    let (_, record) = get_json(&app, &format!("/v1/workers/{PREMIUM}")).await;
    assert_eq!(record["requires_license"], false);
}

/// `name{labels} value` lines of a metrics text whose name and labels contain `needle`.
fn metric_values(text: &str, needle: &str) -> Vec<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && line.contains(needle))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect()
}

async fn metrics_of(process: &ServeProcess) -> String {
    reqwest::get(process.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn catalog_commit(process: &ServeProcess) -> Value {
    let status: Value = reqwest::get(process.url("/v1/catalog/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    status["commit"].clone()
}

/// Waits (up to a minute) until both processes report `commit` and the job has run `runs`
/// times; returns the job's status then.
async fn wait_for_sync(
    site: &TestSite,
    processes: &[&ServeProcess],
    commit: &str,
    runs: u64,
) -> rbee_registry::services::jobs::JobStatus {
    let registry = site.registry().await;
    for _ in 0..600 {
        let status = registry.job_status("catalog-sync").await.unwrap();
        let mut current = true;
        for process in processes {
            current &= catalog_commit(process).await == commit;
        }
        if let Some(status) = status {
            if current && status.runs >= runs && status.running.is_none() {
                return status;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "catalog-sync did not reach {commit} with {runs} runs: {:?}",
        registry.job_status("catalog-sync").await
    );
}

#[tokio::test]
async fn serve_with_a_catalog_interval_syncs_as_a_job_once_per_revision() {
    let repo = design_catalog();
    let site = TestSite::new().await;
    // Migrate once first: sqlx locks migrations on PostgreSQL, not across SQLite processes.
    drop(site.registry().await);
    let source = repo.path.to_str().unwrap();
    let arguments = ["--catalog-source", source, "--catalog-interval", "1s"];
    let (first, second) = tokio::join!(
        ServeProcess::start_with(&site, &arguments),
        ServeProcess::start_with(&site, &arguments)
    );
    let status = wait_for_sync(&site, &[&first, &second], &repo.rev("master"), 2).await;
    let last = status.last_run.clone().expect("a finished run");
    assert!(last.succeeded, "{last:?}");
    assert!(status.next_run_at.is_some(), "periodic: {status:?}");

    // A new revision: picked up by the next run, by whichever process holds the lease.
    let mut cuda: Value = serde_json::from_slice(&fixture("llm-worker-rbee-cuda.metadata.json")).unwrap();
    cuda["description"] = "Changed in the catalog".into();
    repo.commit_branch(CUDA, &[file("metadata.json", serde_json::to_vec(&cuda).unwrap())]);
    repo.set_index(&[CPU, CUDA, PREMIUM]);
    let before = status.runs;
    let status = wait_for_sync(&site, &[&first, &second], &repo.rev("master"), before + 2).await;
    assert!(status.last_run.unwrap().succeeded);
    let record: Value = reqwest::get(second.url(&format!("/v1/workers/{CUDA}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["description"], "Changed in the catalog");

    // Each revision applied once between the two processes; the job's row seen by both.
    let (first_metrics, second_metrics) = (metrics_of(&first).await, metrics_of(&second).await);
    let applied: f64 = [&first_metrics, &second_metrics]
        .iter()
        .flat_map(|text| metric_values(text, "rbee_catalog_syncs_total{outcome=\"applied\"}"))
        .sum();
    assert_eq!(applied, 2.0, "{first_metrics}\n{second_metrics}");
    let elsewhere: f64 = [&first_metrics, &second_metrics]
        .iter()
        .flat_map(|text| metric_values(text, "outcome=\"applied_elsewhere\""))
        .sum();
    assert_eq!(elsewhere, 0.0, "the lease keeps the runs apart");
    for text in [&first_metrics, &second_metrics] {
        assert_eq!(
            metric_values(text, "rbee_job_last_run_success{job=\"catalog-sync\"}"),
            [1.0],
            "{text}"
        );
        assert_eq!(
            metric_values(text, "rbee_job_last_success_timestamp_seconds{job=\"catalog-sync\"}").len(),
            1
        );
    }
}

#[tokio::test]
async fn the_sync_endpoint_takes_the_admin_token() {
    let repo = design_catalog();
    let site = TestSite::new().await;
    let source = repo.path.to_str().unwrap().to_string();
    let app = site
        .start_protected(|config| config.catalog = settings(&site, &source))
        .await;
    let post = |token: &str| app.client.post(app.url("/v1/catalog/sync")).bearer_auth(token).send();
    // A wrong token and no signature: refused, nothing synced.
    for token in ["rbee_adm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "nonsense"] {
        let refused = post(token).await.unwrap();
        assert_eq!(refused.status(), 401, "{token}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{body}");
    }
    // A license is no admin token either.
    let license = issue_license(&site, &[PREMIUM], "30d");
    assert_eq!(post(&license).await.unwrap().status(), 401);
    let (_, status) = get_json(&app, "/v1/catalog/status").await;
    assert_eq!(status["commit"], Value::Null, "{status}");

    let admin = admin_secret(&app);
    let response = post(&admin).await.unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["outcome"], "applied", "{report}");
    assert_eq!(report["upserted"], 3);
    let (_, status) = get_json(&app, "/v1/catalog/status").await;
    assert_eq!(status["commit"], repo.rev("master"));
    let again: Value = post(&admin).await.unwrap().json().await.unwrap();
    assert_eq!(again["outcome"], "current");
}

#[tokio::test]
async fn catalog_add_is_served_by_catalog_git_at_once() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = site.command_of(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&["catalog", "init"]);
    let cpu = crate::worker_fixtures::write(work.path(), "cpu.json", &fixture("llm-worker-rbee-cpu.metadata.json"));
    run(&["catalog", "add", "--worker", CPU, "--metadata", cpu.to_str().unwrap()]);
    let remote = app.url("/catalog.git");
    git(work.path(), &["clone", "-q", "-b", CPU, &remote, "clone"]).await;
    let clone = work.path().join("clone");
    assert_eq!(
        std::fs::read(clone.join("metadata.json")).unwrap(),
        fixture("llm-worker-rbee-cpu.metadata.json")
    );

    // A worker added while serving: its branch is in the served repository at once, and the
    // index on master names it, as the database does.
    let premium = crate::worker_fixtures::write(work.path(), "premium.json", &premium_metadata(true));
    run(&[
        "catalog",
        "add",
        "--worker",
        PREMIUM,
        "--metadata",
        premium.to_str().unwrap(),
    ]);
    let refs = git(work.path(), &["ls-remote", "--heads", &remote]).await;
    let branches: Vec<&str> = refs.lines().map(|line| line.rsplit('/').next().unwrap()).collect();
    assert_eq!(branches, [CPU, PREMIUM, "master"], "{refs}");
    git(&clone, &["fetch", "-q", "origin", PREMIUM, "master"]).await;
    assert_eq!(
        git(&clone, &["show", &format!("origin/{PREMIUM}:metadata.json")])
            .await
            .as_bytes(),
        premium_metadata(true).trim_ascii_end()
    );
    let index: Value = serde_json::from_str(&git(&clone, &["show", "origin/master:index.json"]).await).unwrap();
    assert_eq!(index["workers"], serde_json::json!([CPU, PREMIUM]));
    let (_, status) = get_json(&app, "/v1/catalog/status").await;
    let master = git(&clone, &["rev-parse", "origin/master"]).await;
    assert_eq!(status["commit"], master, "{status}");
    let (_, list) = get_json(&app, "/v1/workers").await;
    assert_eq!(list["workers"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn catalog_only_workers_have_no_versions_and_zero_downloads() {
    let repo = design_catalog();
    let app = start_with_source(repo.path.to_str().unwrap()).await;
    synced(&app).await;
    let (status, versions) = get_json(&app, &format!("/v1/workers/{CUDA}/versions")).await;
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions, serde_json::json!({"versions": [], "latest": null}));
    let (status, stats) = get_json(&app, &format!("/v1/workers/{CUDA}/stats")).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["worker_id"], CUDA);
    assert_eq!(stats["downloads"], 0);
    assert_eq!(stats["stars"], 0);
    assert_eq!(stats["last_download"], Value::Null);
    assert_eq!(stats["downloads_by_version"], serde_json::json!({}));
    assert_eq!(stats["downloads_by_platform"], serde_json::json!({}));
    assert!(stats["last_updated"].as_str().unwrap().starts_with("20"), "{stats}");
    // A worker neither in the catalog nor in the registry is still not found.
    for path in [
        "/v1/workers/no-such-worker/versions",
        "/v1/workers/no-such-worker/stats",
    ] {
        let (status, body) = get_json(&app, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "WORKER_NOT_FOUND", "{body}");
    }
    // Once published, the versions are the registry's.
    let work = tempfile::tempdir().unwrap();
    publish_worker(&app, work.path(), CUDA, "0.1.0", &["linux/amd64"], None).await;
    let (_, versions) = get_json(&app, &format!("/v1/workers/{CUDA}/versions")).await;
    assert_eq!(versions, serde_json::json!({"versions": ["0.1.0"], "latest": "0.1.0"}));
}
