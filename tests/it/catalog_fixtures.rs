//! Git catalogs for the catalog tests, built with stock `git` (plumbing only: objects, trees,
//! commits and refs, so a test can also write what porcelain would refuse: symlinks,
//! directories, huge files), and a registry configured to sync one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rbee_registry::auth::webhook::sign_hub_body;
use rbee_registry::services::catalog::CatalogSettings;
use serde_json::Value;

use crate::support::{TestApp, TestSite};

pub const SECRET: &str = "catalog-webhook-secret";

pub const CPU: &str = "llm-worker-rbee-cpu";
pub const CUDA: &str = "llm-worker-rbee-cuda";
pub const PREMIUM: &str = "llm-worker-rbee-premium";

/// `tests/fixtures/catalog/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/catalog")
            .join(name),
    )
    .unwrap()
}

pub fn cpu_pkgbuild() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workers/llm-worker-rbee-cpu.PKGBUILD"))
        .unwrap()
}

/// A file of a branch: mode (`100644`, `120000` for a symlink, `040000` for a directory),
/// name, contents (a directory's contents become one file `inner` in it).
pub type Entry<'a> = (&'a str, &'a str, Vec<u8>);

pub fn file(name: &str, contents: impl Into<Vec<u8>>) -> Entry<'_> {
    ("100644", name, contents.into())
}

/// A bare repository made with stock git.
pub struct SourceRepo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl SourceRepo {
    pub fn new() -> SourceRepo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog-source.git");
        let status = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "master"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        SourceRepo { _dir: dir, path }
    }

    /// Runs git in the repository with `input` on stdin; returns stdout (trimmed).
    pub fn git(&self, args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = Command::new("git")
            .arg("--git-dir")
            .arg(&self.path)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Catalog Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Catalog Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    fn blob(&self, contents: &[u8]) -> String {
        self.git(&["hash-object", "-w", "--stdin"], contents)
    }

    /// Commits `entries` as the whole tree of `branch` (on top of its tip, if any).
    pub fn commit_branch(&self, branch: &str, entries: &[Entry<'_>]) -> String {
        let mut listing = String::new();
        for (mode, name, contents) in entries {
            let (kind, id) = if *mode == "040000" {
                let inner = self.blob(contents);
                (
                    "tree",
                    self.git(&["mktree"], format!("100644 blob {inner}\tinner\n").as_bytes()),
                )
            } else {
                ("blob", self.blob(contents))
            };
            listing.push_str(&format!("{mode} {kind} {id}\t{name}\n"));
        }
        let tree = self.git(&["mktree"], listing.as_bytes());
        let reference = format!("refs/heads/{branch}");
        let parent = self.try_rev(&reference);
        let mut args = vec!["commit-tree", tree.as_str(), "-m", "catalog test commit"];
        if let Some(parent) = &parent {
            args.extend(["-p", parent.as_str()]);
        }
        let commit = self.git(&args, b"");
        self.git(&["update-ref", &reference, &commit], b"");
        commit
    }

    /// Writes `index.json` on master naming `workers`.
    pub fn set_index(&self, workers: &[&str]) -> String {
        let index = serde_json::to_vec_pretty(&serde_json::json!({ "workers": workers })).unwrap();
        self.commit_branch("master", &[file("index.json", index)])
    }

    pub fn delete_branch(&self, branch: &str) {
        self.git(&["update-ref", "-d", &format!("refs/heads/{branch}")], b"");
    }

    pub fn try_rev(&self, name: &str) -> Option<String> {
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(&self.path)
            .args(["rev-parse", "--verify", "-q", name])
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8(output.stdout).unwrap().trim().to_string())
    }

    pub fn rev(&self, name: &str) -> String {
        self.try_rev(name).unwrap()
    }
}

/// The design document's catalog: cpu (metadata + PKGBUILD + README), cuda (no PKGBUILD),
/// premium (metadata only, `requires_license: true`), and the master index.
pub fn design_catalog() -> SourceRepo {
    let repo = SourceRepo::new();
    repo.commit_branch(
        CPU,
        &[
            file("metadata.json", fixture("llm-worker-rbee-cpu.metadata.json")),
            file("PKGBUILD", cpu_pkgbuild()),
            file("README.md", "# LLM Worker (CPU)\n\nCPU-only inference.\n"),
        ],
    );
    repo.commit_branch(
        CUDA,
        &[
            file("metadata.json", fixture("llm-worker-rbee-cuda.metadata.json")),
            file("README.md", "# LLM Worker (CUDA)\n\nBinaries only.\n"),
        ],
    );
    repo.commit_branch(
        PREMIUM,
        &[file("metadata.json", fixture("llm-worker-rbee-premium.metadata.json"))],
    );
    repo.set_index(&[CPU, CUDA, PREMIUM]);
    repo
}

/// The catalog settings of a registry on `site` syncing from `source`.
pub fn settings(site: &TestSite, source: &str) -> CatalogSettings {
    CatalogSettings::new(&site.data_dir, Some(source), None, Some(SECRET.into())).unwrap()
}

/// A registry on a fresh site syncing from `source`.
pub async fn start_with_source(source: &str) -> TestApp {
    let site = TestSite::new().await;
    start_on(&site, source).await
}

pub async fn start_on(site: &std::sync::Arc<TestSite>, source: &str) -> TestApp {
    let catalog = settings(site, source);
    site.start_configured(Default::default(), move |config| config.catalog = catalog)
        .await
}

/// `POST /v1/catalog/sync` with a push event signed with [`SECRET`]: status and body.
pub async fn sync(app: &TestApp) -> (u16, Value) {
    let body = br#"{"ref":"refs/heads/master"}"#.to_vec();
    let response = app
        .client
        .post(app.url("/v1/catalog/sync"))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", sign_hub_body(SECRET.as_bytes(), &body))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Syncs and expects it to succeed.
pub async fn synced(app: &TestApp) -> Value {
    let (status, body) = sync(app).await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
