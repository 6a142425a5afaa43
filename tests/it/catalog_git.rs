//! Stock `git` against the catalog served at `/catalog.git` (issue 11, must-show 2): clone a
//! branch (same files and commit ids as the source), shallow and single-branch clones,
//! `git pull` fetching only new objects, `ls-remote`, and refusals of push and protocol v0.
//! Each git command keeps its `GIT_TRACE_PACKET` output for the failure message; the
//! repository is built with stock git (`catalog_git_fixture`).

use std::path::Path;

use crate::catalog_git_fixture::{git, run_git, GitCatalog};
use crate::support::*;

fn remote(app: &TestApp) -> String {
    app.url("/catalog.git")
}

/// The files of a checkout, without `.git`, as (path, content), sorted.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(next).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn clone_of_a_branch_has_the_source_files_and_commit_ids() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    git(
        &catalog.source,
        &["tag", "-a", "-m", "first release", "v0.1.0", "llm-worker-rbee-cpu"],
    )
    .await;
    git(
        &catalog.source,
        &["push", "-q", catalog.bare.to_str().unwrap(), "v0.1.0"],
    )
    .await;
    catalog.repack().await;
    let out = catalog.work.path();
    let url = remote(&app);
    git(out, &["clone", "-q", "-b", "llm-worker-rbee-cpu", &url, "cpu"]).await;
    let clone = out.join("cpu");
    assert_eq!(
        git(&clone, &["log", "--format=%H"]).await,
        catalog.source_commits("llm-worker-rbee-cpu").await
    );
    git(&catalog.source, &["switch", "-q", "llm-worker-rbee-cpu"]).await;
    assert_eq!(files(&clone), files(&catalog.source));
    git(&clone, &["fsck", "--strict", "--no-progress"]).await;
    // The annotated tag came along (include-tag), as the same tag object.
    let tag = git(&catalog.source, &["rev-parse", "v0.1.0"]).await;
    assert_eq!(git(&clone, &["rev-parse", "v0.1.0"]).await, tag);
    assert_eq!(git(&clone, &["cat-file", "-t", "v0.1.0"]).await, "tag");

    // A whole clone: every branch, HEAD checked out as master.
    git(out, &["clone", "-q", &url, "all"]).await;
    let all = out.join("all");
    let branches = git(
        &all,
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname:lstrip=3)",
            "refs/remotes/origin",
        ],
    )
    .await;
    let source = git(
        &catalog.source,
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname:lstrip=2)",
            "refs/heads",
        ],
    )
    .await;
    assert_eq!(
        branches.replace(&format!("{} HEAD\n", git(&all, &["rev-parse", "HEAD"]).await), ""),
        source
    );
    assert_eq!(git(&all, &["symbolic-ref", "HEAD"]).await, "refs/heads/master");
    git(&all, &["fsck", "--strict", "--no-progress"]).await;

    // ls-remote lists HEAD (a symref to master) and the branches.
    let listed = git(out, &["ls-remote", "--symref", &url]).await;
    assert!(listed.starts_with("ref: refs/heads/master\tHEAD\n"), "{listed}");
    for line in source.lines() {
        let (id, branch) = line.split_once(' ').unwrap();
        assert!(
            listed.contains(&format!("{id}\trefs/heads/{branch}")),
            "{branch} missing in {listed}"
        );
    }
}

#[tokio::test]
async fn shallow_and_single_branch_clones_work() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    let out = catalog.work.path();
    let url = remote(&app);
    git(
        out,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "-b",
            "llm-worker-rbee-cpu",
            &url,
            "shallow",
        ],
    )
    .await;
    let shallow = out.join("shallow");
    let tip = git(&catalog.source, &["rev-parse", "refs/heads/llm-worker-rbee-cpu"]).await;
    assert_eq!(git(&shallow, &["rev-list", "HEAD"]).await, tip);
    assert_eq!(
        std::fs::read_to_string(shallow.join(".git/shallow")).unwrap().trim(),
        tip
    );
    git(&catalog.source, &["switch", "-q", "llm-worker-rbee-cpu"]).await;
    assert_eq!(files(&shallow), files(&catalog.source));
    git(&shallow, &["fsck", "--no-progress"]).await;

    // Deepening a shallow clone: `deepen 2` with the client's `shallow` line; the tip's
    // parent comes (`unshallow`), and with it the whole two-commit history.
    git(
        out,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "-b",
            "llm-worker-rbee-cpu",
            &url,
            "deepen",
        ],
    )
    .await;
    let deepen = out.join("deepen");
    git(&deepen, &["fetch", "-q", "--depth", "2"]).await;
    assert_eq!(
        git(&deepen, &["log", "--format=%H"]).await,
        catalog.source_commits("llm-worker-rbee-cpu").await
    );
    assert!(!deepen.join(".git/shallow").exists());
    git(&deepen, &["fsck", "--strict", "--no-progress"]).await;

    // Unshallowing (git sends `deepen 2147483647`) brings the rest of the history.
    git(&shallow, &["fetch", "-q", "--unshallow"]).await;
    assert_eq!(
        git(&shallow, &["log", "--format=%H"]).await,
        catalog.source_commits("llm-worker-rbee-cpu").await
    );
    assert!(!shallow.join(".git/shallow").exists());
    git(&shallow, &["fsck", "--strict", "--no-progress"]).await;

    git(
        out,
        &[
            "clone",
            "-q",
            "--single-branch",
            "-b",
            "llm-worker-rbee-cuda",
            &url,
            "single",
        ],
    )
    .await;
    let single = out.join("single");
    let remotes = git(&single, &["for-each-ref", "--format=%(refname)", "refs/remotes"]).await;
    assert_eq!(remotes, "refs/remotes/origin/llm-worker-rbee-cuda");
    assert_eq!(
        std::fs::read_to_string(single.join("docs/README.md")).unwrap(),
        "# CUDA worker\n"
    );
}

#[tokio::test]
async fn pull_fetches_only_the_new_objects() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    catalog.repack().await;
    let out = catalog.work.path();
    let url = remote(&app);
    git(out, &["clone", "-q", "-b", "llm-worker-rbee-cpu", &url, "full"]).await;
    git(
        out,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "-b",
            "llm-worker-rbee-cpu",
            &url,
            "shallow",
        ],
    )
    .await;
    let new = catalog
        .commit(
            "llm-worker-rbee-cpu",
            &[("README.md", "# CPU worker\n\nNew text.\n")],
            "readme again",
        )
        .await;

    for clone in ["full", "shallow"] {
        let clone = out.join(clone);
        let (ok, _, trace) = run_git(&clone, &["fetch", "--progress", "origin"]).await;
        assert!(ok, "{trace}");
        // The new commit, its root tree and the new README blob: three objects, no more
        // (the server's count, and what arrived as loose objects on the client).
        assert!(trace.contains("Total 3"), "{trace}");
        let counted = git(&clone, &["count-objects", "-v"]).await;
        assert!(counted.lines().any(|line| line == "count: 3"), "{counted}\n{trace}");
        git(&clone, &["merge", "-q", "--ff-only", "origin/llm-worker-rbee-cpu"]).await;
        assert_eq!(git(&clone, &["rev-parse", "HEAD"]).await, new);
        assert_eq!(
            std::fs::read_to_string(clone.join("README.md")).unwrap(),
            "# CPU worker\n\nNew text.\n"
        );
        git(&clone, &["fsck", "--no-progress"]).await;
    }
    assert_eq!(git(&out.join("shallow"), &["rev-list", "--count", "HEAD"]).await, "2");
    // `git pull` itself: nothing new to fetch, already up to date.
    git(&out.join("full"), &["pull", "-q", "--ff-only"]).await;
}

#[tokio::test]
async fn push_and_protocol_v0_are_refused_with_a_clear_message() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    let out = catalog.work.path();
    let url = remote(&app);
    git(out, &["clone", "-q", "-b", "llm-worker-rbee-cpu", &url, "clone"]).await;
    let clone = out.join("clone");
    std::fs::write(clone.join("PKGBUILD"), "pkgname=changed\n").unwrap();
    git(&clone, &["commit", "-q", "-am", "change"]).await;
    let (ok, _, stderr) = run_git(&clone, &["push", "origin", "HEAD"]).await;
    assert!(!ok, "push succeeded: {stderr}");
    assert!(
        stderr.contains("read-only over HTTP: git push is not accepted"),
        "{stderr}"
    );
    let served = git(out, &["ls-remote", &url, "refs/heads/llm-worker-rbee-cpu"]).await;
    assert!(served.starts_with(&git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu"]).await));

    let (ok, _, stderr) = run_git(out, &["-c", "protocol.version=0", "ls-remote", &url]).await;
    assert!(!ok, "protocol v0 succeeded: {stderr}");
    assert!(
        stderr.contains("remote error: this server speaks Git protocol version 2 only"),
        "{stderr}"
    );
}

#[tokio::test]
async fn without_a_catalog_repository_the_git_routes_answer_404_and_an_empty_one_clones_empty() {
    let app = TestApp::start().await;
    let response = app.get("/catalog.git/info/refs?service=git-upload-pack").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("no Git catalog repository"));
    let (ok, _, stderr) = run_git(app.data_dir(), &["ls-remote", &remote(&app)]).await;
    assert!(!ok && stderr.contains("not found"), "{stderr}");
    // An empty repository (as `catalog init` leaves it): cloned as empty, HEAD unborn.
    let catalog = GitCatalog::create(&app).await;
    let out = catalog.work.path();
    let (ok, _, stderr) = run_git(out, &["clone", &remote(&app), "empty"]).await;
    assert!(ok && stderr.contains("cloned an empty repository"), "{stderr}");
    assert_eq!(
        git(&out.join("empty"), &["symbolic-ref", "HEAD"]).await,
        "refs/heads/master"
    );
}
