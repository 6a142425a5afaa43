//! Stock `git` against the catalog served at `/catalog.git` (issue 11, must-show 2): clone a
//! branch (same files and commit ids as the source), shallow and single-branch clones,
//! `git pull` fetching only new objects, `ls-remote`, and refusals of push and protocol v0.
//! Each git command keeps its `GIT_TRACE_PACKET` output for the failure message.
//! The repository is built with stock git: a scratch repository pushed (file://) into a
//! bare `<data_dir>/catalog.git`, as `catalog init`/`add` would leave it.

use std::path::{Path, PathBuf};

use crate::support::*;

/// A scratch source repository and the bare catalog repository the registry serves.
pub struct GitCatalog {
    pub work: tempfile::TempDir,
    pub source: PathBuf,
    pub bare: PathBuf,
}

/// Runs stock git in `dir` with a clean environment; returns (success, stdout, stderr+trace).
pub async fn run_git(dir: &Path, args: &[&str]) -> (bool, String, String) {
    assert!(have("git"), "stock git is not installed; scripts/test.sh installs it");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let home = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Catalog Test")
        .env("GIT_AUTHOR_EMAIL", "catalog@example.test")
        .env("GIT_COMMITTER_NAME", "Catalog Test")
        .env("GIT_COMMITTER_EMAIL", "catalog@example.test")
        .env("GIT_TRACE_PACKET", trace.path())
        .output()
        .await
        .unwrap();
    let packets = std::fs::read_to_string(trace.path()).unwrap_or_default();
    let stderr = format!(
        "{}\n--- GIT_TRACE_PACKET ---\n{packets}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        stderr,
    )
}

/// Runs git and expects success; returns stdout, trimmed.
pub async fn git(dir: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_git(dir, args).await;
    assert!(ok, "git {args:?} in {} failed:\n{stdout}\n{stderr}", dir.display());
    stdout.trim().to_string()
}

impl GitCatalog {
    /// An empty bare `catalog.git` in the app's data directory (HEAD: `master`) and a source.
    pub async fn create(app: &TestApp) -> GitCatalog {
        let work = tempfile::tempdir().unwrap();
        let source = work.path().join("source");
        let bare = app.data_dir().join(rbee_registry::git::CATALOG_REPO_DIR);
        git(work.path(), &["init", "-q", "-b", "master", source.to_str().unwrap()]).await;
        git(
            work.path(),
            &["init", "-q", "--bare", "-b", "master", bare.to_str().unwrap()],
        )
        .await;
        GitCatalog { work, source, bare }
    }

    /// The design document's example branches: master's index, the cpu worker (metadata,
    /// PKGBUILD, README; two commits) and the cuda worker (no PKGBUILD).
    pub async fn with_examples(app: &TestApp) -> GitCatalog {
        let catalog = GitCatalog::create(app).await;
        catalog
            .commit(
                "master",
                &[(
                    "catalog.json",
                    "{\"workers\":[\"llm-worker-rbee-cpu\",\"llm-worker-rbee-cuda\"]}\n",
                )],
                "index",
            )
            .await;
        catalog
            .commit(
                "llm-worker-rbee-cpu",
                &[
                    (
                        "metadata.json",
                        "{\"id\":\"llm-worker-rbee-cpu\",\"version\":\"0.1.0\"}\n",
                    ),
                    ("PKGBUILD", "pkgname=llm-worker-rbee-cpu\npkgver=0.1.0\n"),
                    ("README.md", &"# CPU worker\n\nRuns LLMs on the CPU.\n".repeat(40)),
                ],
                "cpu worker",
            )
            .await;
        catalog
            .commit(
                "llm-worker-rbee-cpu",
                &[(
                    "README.md",
                    &"# CPU worker\n\nRuns LLMs on any x86-64 or aarch64 CPU.\n".repeat(40),
                )],
                "cpu readme",
            )
            .await;
        catalog
            .commit(
                "llm-worker-rbee-cuda",
                &[
                    (
                        "metadata.json",
                        "{\"id\":\"llm-worker-rbee-cuda\",\"version\":\"0.1.0\"}\n",
                    ),
                    ("docs/README.md", "# CUDA worker\n"),
                ],
                "cuda worker",
            )
            .await;
        catalog
    }

    /// Commits `files` on `branch` of the source (creating it as an orphan branch) and pushes
    /// the branch into the served repository. Returns the commit id.
    pub async fn commit(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        let exists = run_git(
            &self.source,
            &["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")],
        )
        .await
        .0;
        let on_it =
            run_git(&self.source, &["symbolic-ref", "-q", "HEAD"]).await.1.trim() == format!("refs/heads/{branch}");
        if !on_it {
            match exists {
                true => git(&self.source, &["switch", "-q", branch]).await,
                false => git(&self.source, &["switch", "-q", "--orphan", branch]).await,
            };
        }
        for (path, content) in files {
            let path = self.source.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        git(&self.source, &["add", "-A"]).await;
        git(&self.source, &["commit", "-q", "-m", message]).await;
        git(&self.source, &["push", "-q", self.bare.to_str().unwrap(), branch]).await;
        git(&self.source, &["rev-parse", "HEAD"]).await
    }

    /// Packs the served repository (deltas included), as a long-lived catalog would be.
    pub async fn repack(&self) {
        git(&self.bare, &["repack", "-q", "-a", "-d", "-f"]).await;
    }

    pub fn source_commits(&self, branch: &str) -> impl std::future::Future<Output = String> + '_ {
        let range = format!("refs/heads/{branch}");
        async move { git(&self.source, &["log", "--format=%H", &range]).await }
    }
}

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
async fn without_a_catalog_repository_the_git_routes_answer_404() {
    let app = TestApp::start().await;
    let response = app.get("/catalog.git/info/refs?service=git-upload-pack").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("no Git catalog repository"));
    let (ok, _, stderr) = run_git(app.data_dir(), &["ls-remote", &remote(&app)]).await;
    assert!(!ok && stderr.contains("not found"), "{stderr}");
}
