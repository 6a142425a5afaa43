//! `TestApp`: a running registry on a free port with a throwaway data directory, plus
//! helpers that speak the distribution API. On drop it checks the storage invariant that
//! every stored blob's bytes hash to its name.

use std::path::{Path, PathBuf};

use rbee_registry::config::{FileConfig, Overrides, ServeConfig};
use rbee_registry::server;
use serde_json::{json, Value};
use sha2::Digest as _;

pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn start() -> TestApp {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().to_path_buf();
        let mut app = TestApp::start_on(&data_dir).await;
        app._temp = Some(temp);
        app
    }

    /// Starts a registry with its configuration adjusted by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().to_path_buf();
        let mut app = TestApp::start_on_with(&data_dir, configure).await;
        app._temp = Some(temp);
        app
    }

    /// Starts a registry on an existing data directory (to test restarts).
    pub async fn start_on(data_dir: &Path) -> TestApp {
        TestApp::start_configured(data_dir, FileConfig::default(), |_| {}).await
    }

    /// Starts a registry on an existing data directory with adjusted settings.
    pub async fn start_on_with(data_dir: &Path, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        TestApp::start_configured(data_dir, FileConfig::default(), configure).await
    }

    /// Starts a registry with a throwaway data directory and a configuration file's settings.
    pub async fn start_with_file(file: FileConfig) -> TestApp {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().to_path_buf();
        let mut app = TestApp::start_configured(&data_dir, file, |_| {}).await;
        app._temp = Some(temp);
        app
    }

    async fn start_configured(data_dir: &Path, file: FileConfig, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir.to_path_buf()),
            ..Overrides::default()
        };
        let mut config = ServeConfig::assemble(overrides, file).unwrap();
        configure(&mut config);
        let registry = server::open_registry(&config).await.unwrap();
        let listener = server::bind(&config).await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            server::serve(listener, registry, &config, async {
                let _ = receiver.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base_url: format!("http://{address}"),
            client: reqwest::Client::new(),
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            shutdown: Some(sender),
            server: Some(handle),
        }
    }

    /// Host and port, as OCI clients name a registry.
    pub fn host(&self) -> String {
        self.base_url.trim_start_matches("http://").to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server and waits for it, keeping the data directory.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }

    /// Asks the server to shut down, without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Whether the server has stopped.
    pub fn is_stopped(&self) -> bool {
        self.server.as_ref().is_none_or(|server| server.is_finished())
    }

    /// Pushes a blob in one request; returns its digest.
    pub async fn push_blob(&self, repository: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let response = self
            .client
            .post(self.url(&format!("/v2/{repository}/blobs/uploads/?digest={digest}")))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "pushing a blob: {}",
            response.text().await.unwrap()
        );
        digest
    }

    /// Pushes a config and one layer, then an OCI image manifest under `reference`.
    /// Returns the manifest's digest.
    pub async fn push_image(&self, repository: &str, reference: &str, layer: &[u8]) -> String {
        let manifest = self.image_manifest(repository, layer).await;
        self.put_manifest(repository, reference, OCI_MANIFEST, &manifest).await
    }

    /// Pushes the blobs of a small image and returns its manifest (not pushed).
    pub async fn image_manifest(&self, repository: &str, layer: &[u8]) -> Value {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let config_digest = self.push_blob(repository, config).await;
        let layer_digest = self.push_blob(repository, layer).await;
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}]
        })
    }

    pub async fn put_manifest(&self, repository: &str, reference: &str, media_type: &str, manifest: &Value) -> String {
        let body = serde_json::to_vec(manifest).unwrap();
        let response = self
            .client
            .put(self.url(&format!("/v2/{repository}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "pushing a manifest: {}",
            response.text().await.unwrap()
        );
        sha256(&body)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Blob files under the storage root, by name.
    pub fn stored_blob_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let root = self.data_dir.join("blobs").join("blobs");
        collect_files(&root, &mut files);
        files
    }
}

fn collect_files(directory: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if std::thread::panicking() {
            return;
        }
        // Invariant: nothing partial or unverified is ever stored under a blob's name.
        for path in self.stored_blob_files() {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.contains('#') {
                continue; // an object_store staging file, never served
            }
            let bytes = std::fs::read(&path).unwrap();
            let algorithm = path.parent().and_then(Path::parent).and_then(Path::file_name).unwrap();
            let computed = match algorithm.to_str().unwrap() {
                "sha512" => format!("sha512:{}", hex::encode(sha2::Sha512::digest(&bytes))),
                _ => sha256(&bytes),
            };
            assert_eq!(
                format!("{}:{name}", algorithm.to_string_lossy()),
                computed,
                "stored blob {} does not hash to its name",
                path.display()
            );
        }
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Deterministic pseudo-random bytes.
pub fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32) as u8 ^ seed)
        .collect()
}

/// The first error code of an error response.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

/// Whether an executable is on PATH.
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}

/// A request body the test feeds piece by piece: `(sender, body)`.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Vec<u8>>, reqwest::Body) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|piece| (Ok::<_, std::io::Error>(piece), receiver))
    });
    (sender, reqwest::Body::wrap_stream(stream))
}
