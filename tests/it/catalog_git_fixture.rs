//! A catalog repository built with stock `git` for the `/catalog.git` tests: a scratch
//! source repository whose branches are pushed (file://) into a bare
//! `<data_dir>/catalog.git`, as `catalog init`/`add` would leave it, and `git` runs that
//! keep their `GIT_TRACE_PACKET` output for the failure message.

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

// ---- raw protocol ----

/// A pkt-line request: `0000` and `0001` stand for flush and delimiter.
pub fn request(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        match *line {
            "0000" | "0001" => out.extend_from_slice(line.as_bytes()),
            text => out.extend_from_slice(format!("{:04x}{text}\n", text.len() + 5).as_bytes()),
        }
    }
    out
}

/// A response read back: text lines (special packets as `0000`/`0001`) up to `packfile`,
/// then the sideband bands.
#[derive(Debug, Default)]
pub struct Answer {
    pub lines: Vec<String>,
    pub pack: Vec<u8>,
    pub progress: String,
    pub error: String,
}

pub fn read_answer(body: &[u8]) -> Answer {
    let mut answer = Answer::default();
    let mut rest = body;
    let mut in_pack = false;
    while !rest.is_empty() {
        let length = usize::from_str_radix(std::str::from_utf8(&rest[..4]).unwrap(), 16).unwrap();
        if length < 4 {
            answer.lines.push(format!("{length:04}"));
            rest = &rest[4..];
            continue;
        }
        let data = &rest[4..length];
        rest = &rest[length..];
        if in_pack {
            match data[0] {
                1 => answer.pack.extend_from_slice(&data[1..]),
                2 => answer.progress.push_str(&String::from_utf8_lossy(&data[1..])),
                _ => answer.error.push_str(&String::from_utf8_lossy(&data[1..])),
            }
        } else {
            let text = String::from_utf8_lossy(data).trim_end_matches('\n').to_string();
            in_pack = text == "packfile";
            answer.lines.push(text);
        }
    }
    answer
}

pub async fn post(app: &TestApp, body: Vec<u8>, encoding: Option<&str>) -> reqwest::Response {
    let mut post = app
        .client
        .post(app.url("/catalog.git/git-upload-pack"))
        .header("content-type", "application/x-git-upload-pack-request")
        .header("git-protocol", "version=2");
    if let Some(encoding) = encoding {
        post = post.header("content-encoding", encoding);
    }
    post.body(body).send().await.unwrap()
}

pub async fn answer(app: &TestApp, lines: &[&str]) -> Answer {
    let response = post(app, request(lines), None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-git-upload-pack-result"
    );
    assert_eq!(response.headers()["cache-control"], "no-cache");
    read_answer(&response.bytes().await.unwrap())
}

/// Checks a pack with stock git (`index-pack` verifies every object and the checksum; with
/// `complete`, `--strict` also that every object a tree or commit names is in the pack);
/// returns its object count.
pub async fn verify_pack(pack: &[u8], complete: bool) -> u32 {
    let scratch = tempfile::tempdir().unwrap();
    git(scratch.path(), &["init", "-q", "--bare", "."]).await;
    let file = scratch.path().join("incoming.pack");
    std::fs::write(&file, pack).unwrap();
    let file = file.to_str().unwrap();
    let args = if complete {
        vec!["index-pack", "--strict", file]
    } else {
        vec!["index-pack", file]
    };
    git(scratch.path(), &args).await;
    u32::from_be_bytes(pack[8..12].try_into().unwrap())
}
