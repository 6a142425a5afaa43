//! Must-show 3 of issue 11, concurrency: two processes syncing at once apply each revision
//! once; readers during syncs see the old catalog or the new one, never a mixture. And
//! `catalog init` / `catalog add` (the catalog without GitHub) while `serve` runs.

use std::process::Command;

use serde_json::Value;

use crate::catalog_fixtures::*;
use crate::support::TestSite;

fn metadata(id: &str, description: &str) -> Vec<u8> {
    let mut metadata: Value = serde_json::from_slice(&fixture("llm-worker-rbee-cpu.metadata.json")).unwrap();
    metadata["id"] = id.into();
    metadata["description"] = description.into();
    serde_json::to_vec(&metadata).unwrap()
}

/// Catalog state `round`: workers w0..w(2+round%2), every description "round <round>".
fn write_round(repo: &SourceRepo, round: usize) -> Vec<String> {
    let ids: Vec<String> = (0..3 + round % 2).map(|n| format!("w{n}")).collect();
    for id in &ids {
        repo.commit_branch(id, &[file("metadata.json", metadata(id, &format!("round {round}")))]);
    }
    if round.is_multiple_of(2) && repo.try_rev("refs/heads/w3").is_some() {
        repo.delete_branch("w3");
    }
    let names: Vec<&str> = ids.iter().map(String::as_str).collect();
    repo.set_index(&names);
    ids
}

#[tokio::test]
async fn two_processes_syncing_at_once_apply_each_revision_once() {
    let repo = SourceRepo::new();
    let site = TestSite::new().await;
    let first = start_on(&site, repo.path.to_str().unwrap()).await;
    let second = start_on(&site, repo.path.to_str().unwrap()).await;
    for round in 0..4 {
        write_round(&repo, round);
        let (a, b) = tokio::join!(sync(&first), sync(&second));
        assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
        let applied = [&a.1, &b.1].iter().filter(|r| r["outcome"] == "applied").count();
        assert_eq!(applied, 1, "round {round}: {} / {}", a.1, b.1);
        for report in [&a.1, &b.1] {
            assert!(
                ["applied", "current", "applied_elsewhere"].contains(&report["outcome"].as_str().unwrap()),
                "{report}"
            );
        }
        let (_, status) = get_json(&second, "/v1/catalog/status").await;
        assert_eq!(status["commit"], repo.rev("master"));
    }
}

#[tokio::test]
async fn readers_never_see_a_half_applied_catalog() {
    let repo = SourceRepo::new();
    write_round(&repo, 0);
    let app = start_with_source(repo.path.to_str().unwrap()).await;
    synced(&app).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (client, url, stop) = (app.client.clone(), app.url("/v1/workers"), stop.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let list: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
                let workers = list["workers"].as_array().unwrap();
                let descriptions: std::collections::BTreeSet<&str> =
                    workers.iter().map(|w| w["description"].as_str().unwrap()).collect();
                assert_eq!(descriptions.len(), 1, "a mixture of catalogs: {list}");
                let round: usize = descriptions.first().unwrap()["round ".len()..].parse().unwrap();
                assert_eq!(
                    workers.len(),
                    3 + round % 2,
                    "round {round} has its own workers: {list}"
                );
                seen += 1;
            }
            seen
        })
    };
    for round in 1..8 {
        write_round(&repo, round);
        assert_eq!(synced(&app).await["outcome"], "applied");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0);
}

#[tokio::test]
async fn catalog_init_and_add_work_while_serving() {
    let site = TestSite::new().await;
    let app = site.start().await;
    let run = |args: &str| {
        let output = site.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run("catalog init").starts_with("created"));
    assert!(run("catalog init").starts_with("exists"));
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str, data: &[u8]| {
        crate::worker_fixtures::write(dir.path(), name, data)
            .display()
            .to_string()
    };
    let metadata_file = path("cpu.json", &fixture("llm-worker-rbee-cpu.metadata.json"));
    let pkgbuild = path("PKGBUILD", &cpu_pkgbuild());
    let readme = path("README.md", b"# cpu\n");
    let added = run(&format!(
        "catalog add --worker {CPU} --metadata {metadata_file} --pkgbuild {pkgbuild} --readme {readme}"
    ));
    assert!(added.contains("committed"), "{added}");
    let premium = path("premium.json", &fixture("llm-worker-rbee-premium.metadata.json"));
    run(&format!("catalog add --worker {PREMIUM} --metadata {premium}"));
    // Adding the same files again changes nothing.
    let again = run(&format!("catalog add --worker {PREMIUM} --metadata {premium}"));
    assert!(again.contains("unchanged"), "{again}");

    // The running server answers from the database the command brought in step.
    let (_, list) = get_json(&app, "/v1/workers").await;
    let ids: Vec<&str> = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [CPU, PREMIUM]);
    let response = app.get(&format!("/workers/{CPU}/PKGBUILD")).await;
    assert_eq!(response.bytes().await.unwrap(), cpu_pkgbuild());

    // A metadata record for another worker is refused and nothing is committed.
    let refused = site
        .command(&format!("catalog add --worker {CUDA} --metadata {metadata_file}"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("but the branch is"));

    // Stock git reads what gix wrote: a sound repository with the branches and the index.
    let repo = site.data_dir.join("catalog.git");
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    git(&["fsck", "--strict"]);
    let branches = git(&["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    assert_eq!(branches.lines().collect::<Vec<_>>(), [CPU, PREMIUM, "master"]);
    let index: Value = serde_json::from_str(&git(&["show", "master:index.json"])).unwrap();
    assert_eq!(index["workers"], serde_json::json!([CPU, PREMIUM]));
    assert_eq!(git(&["show", &format!("{CPU}:PKGBUILD")]).as_bytes(), cpu_pkgbuild());
    assert_eq!(git(&["symbolic-ref", "HEAD"]).trim(), "refs/heads/master");
    // `catalog sync` with no remote source reads the same repository: nothing new.
    assert!(run("catalog sync").contains("Current"));
}

#[tokio::test]
async fn concurrent_adds_lose_no_worker() {
    let site = TestSite::new().await;
    let (first, second) = (site.registry().await, site.registry().await);
    assert!(first.init_catalog().await.unwrap());
    let add = |registry: rbee_registry::services::Registry, id: String| async move {
        let worker = rbee_registry::artifact::WorkerId::parse(&id).unwrap();
        registry
            .add_catalog_worker(&worker, metadata(&id, "added"), None, None)
            .await
    };
    let results = futures::future::join_all((0..6).map(|n| {
        let registry = if n % 2 == 0 { first.clone() } else { second.clone() };
        add(registry, format!("added-{n}"))
    }))
    .await;
    for result in results {
        result.unwrap();
    }
    let app = site.start().await;
    let (_, list) = get_json(&app, "/v1/workers").await;
    assert_eq!(list["workers"].as_array().unwrap().len(), 6, "{list}");
    let (_, status) = get_json(&app, "/v1/catalog/status").await;
    assert_eq!(status["branch_errors"], serde_json::json!([]));
}
