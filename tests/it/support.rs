//! `TestApp`: a running registry on a free port, plus helpers that speak the distribution
//! API. Each test gets its own `TestSite` (where data lives), chosen by `RBEE_TEST_BACKEND`:
//! `sqlite-fs` (default: SQLite + filesystem in a temporary directory) or `postgres-s3`
//! (a fresh schema in the PostgreSQL of `TEST_DATABASE_URL` and a fresh key prefix in the
//! S3 bucket of `TEST_S3_ENDPOINT`/`TEST_S3_BUCKET`/`TEST_S3_ACCESS_KEY_ID`/
//! `TEST_S3_SECRET_ACCESS_KEY`), so tests run in parallel on either. Several apps may run
//! on one site, as several registry processes share one database and bucket. On drop a
//! `TestApp` checks the storage invariant that every stored blob's bytes hash to its name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use rbee_registry::config::{FileConfig, ServeConfig, StorageConfig};
use rbee_registry::server;
use rbee_registry::services::Registry;
use rbee_registry::storage::{BlobStore, S3Config, StorageKey};
use serde_json::{json, Value};
use sha2::Digest as _;

/// Which backends the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    SqliteFs,
    PostgresS3,
}

impl TestBackend {
    pub fn from_env() -> TestBackend {
        match std::env::var("RBEE_TEST_BACKEND").as_deref() {
            Ok("postgres-s3") => TestBackend::PostgresS3,
            Ok("sqlite-fs") | Err(_) => TestBackend::SqliteFs,
            Ok(other) => panic!("RBEE_TEST_BACKEND={other:?}: use sqlite-fs or postgres-s3"),
        }
    }
}

/// The S3 bucket the test script started, if any (`TEST_S3_*`).
/// `scripts/test.sh` always starts one and sets `RBEE_REQUIRE_S3=1`, so there a missing
/// server is a failure, never a skipped test.
pub fn test_s3_config(prefix: &str) -> Option<S3Config> {
    let Ok(endpoint) = std::env::var("TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var_os("RBEE_REQUIRE_S3").is_none(),
            "RBEE_REQUIRE_S3 is set but TEST_S3_ENDPOINT is not: the S3 server did not start"
        );
        return None;
    };
    Some(S3Config {
        endpoint: Some(endpoint),
        region: std::env::var("TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into()),
        bucket: std::env::var("TEST_S3_BUCKET").expect("TEST_S3_BUCKET"),
        prefix: Some(prefix.to_string()),
        access_key_id: Some(std::env::var("TEST_S3_ACCESS_KEY_ID").expect("TEST_S3_ACCESS_KEY_ID")),
        secret_access_key: Some(std::env::var("TEST_S3_SECRET_ACCESS_KEY").expect("TEST_S3_SECRET_ACCESS_KEY")),
        allow_http: true,
        virtual_hosted_style: false,
        redirect_downloads: None,
    })
}

/// Where one test's registry keeps its data: a database and a blob store.
pub struct TestSite {
    pub backend: TestBackend,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub storage: StorageConfig,
    /// The PostgreSQL schema to drop afterwards.
    schema: Option<(String, String)>,
    _temp: tempfile::TempDir,
}

impl TestSite {
    pub async fn new() -> Arc<TestSite> {
        TestSite::with_backend(TestBackend::from_env(), |_| {}).await
    }

    /// A site on `backend`, with a chance to adjust its storage (for example redirects).
    pub async fn with_backend(backend: TestBackend, adjust: impl FnOnce(&mut StorageConfig)) -> Arc<TestSite> {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().to_path_buf();
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let (database_url, mut storage, schema) = match backend {
            TestBackend::SqliteFs => (
                format!("sqlite://{}?mode=rwc", data_dir.join("registry.db").display()),
                StorageConfig::Filesystem {
                    root: data_dir.join("blobs"),
                    fsync: true,
                },
                None,
            ),
            TestBackend::PostgresS3 => {
                let admin_url = std::env::var("TEST_DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
                let schema = format!("t_{unique}");
                let mut connection = connect_postgres(&admin_url).await;
                sqlx::Executor::execute(&mut connection, format!("CREATE SCHEMA {schema}").as_str())
                    .await
                    .unwrap();
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
                let s3 = test_s3_config(&format!("t-{unique}")).expect(
                    "RBEE_TEST_BACKEND=postgres-s3 needs TEST_S3_ENDPOINT and friends (scripts/test.sh sets them)",
                );
                (url, StorageConfig::S3(s3), Some((admin_url, schema)))
            }
        };
        adjust(&mut storage);
        Arc::new(TestSite {
            backend,
            data_dir,
            database_url,
            storage,
            schema,
            _temp: temp,
        })
    }

    pub fn config(&self) -> ServeConfig {
        self.config_with_file(FileConfig::default())
    }

    /// The configuration of a server on this site, with a configuration file's other settings.
    /// Authentication is off (the tests not about it push anonymously); `start_protected`
    /// turns it on.
    pub fn config_with_file(&self, file: FileConfig) -> ServeConfig {
        let overrides = rbee_registry::config::Overrides {
            auth_mode: Some(rbee_registry::auth::AuthMode::Off),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: Some(self.data_dir.clone()),
            database_url: Some(self.database_url.clone()),
            ..Default::default()
        };
        let mut config = ServeConfig::assemble(overrides, file).unwrap();
        config.storage = self.storage.clone();
        config
    }

    /// Opens the registry on this site without serving it (as `rbee-registry gc` does).
    pub async fn registry(&self) -> Registry {
        server::open_registry(&self.config()).await.unwrap()
    }

    /// The `rbee-registry <subcommand>` command line for this site's database and storage
    /// (`subcommand` may be several words: `catalog sync`).
    /// `subcommand` may be several words (`"catalog sync"`).
    pub fn command(&self, subcommand: &str) -> std::process::Command {
        self.command_of(&subcommand.split_whitespace().collect::<Vec<_>>())
    }

    /// Like [`TestSite::command`] for a nested subcommand (`["license", "issue"]`).
    pub fn command_of(&self, subcommand: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rbee-registry"));
        command.args(subcommand);
        if subcommand == ["serve"] {
            command.args(["--auth", "off"]);
        }
        command
            .args(["--database-url", &self.database_url])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("RBEE_CONFIG")
            .env("RBEE_LOG", "warn");
        match &self.storage {
            StorageConfig::Filesystem { root, .. } => {
                command.arg("--storage-path").arg(root);
            }
            StorageConfig::S3(s3) => {
                command
                    .args([
                        "--storage-backend",
                        "s3",
                        "--s3-bucket",
                        &s3.bucket,
                        "--s3-region",
                        &s3.region,
                    ])
                    .args(["--s3-allow-http", if s3.allow_http { "true" } else { "false" }]);
                for (flag, value) in [
                    ("--s3-endpoint", &s3.endpoint),
                    ("--s3-prefix", &s3.prefix),
                    ("--s3-access-key-id", &s3.access_key_id),
                ] {
                    if let Some(value) = value {
                        command.args([flag, value]);
                    }
                }
                if let Some(secret) = &s3.secret_access_key {
                    command.env("RBEE_S3_SECRET_ACCESS_KEY", secret);
                }
            }
        }
        command
    }

    pub fn blob_store(&self) -> BlobStore {
        match &self.storage {
            StorageConfig::Filesystem { root, fsync } => BlobStore::local(root, *fsync).unwrap(),
            StorageConfig::S3(s3) => BlobStore::s3(s3).unwrap(),
        }
    }

    /// Starts a registry server on this site, as one more process would.
    pub async fn start(self: &Arc<Self>) -> TestApp {
        self.start_configured(FileConfig::default(), |_| {}).await
    }

    /// Starts a server on this site with token authentication on (the default of `serve`).
    pub async fn start_protected(self: &Arc<Self>, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        self.start_configured(FileConfig::default(), |config| {
            config.auth.mode = rbee_registry::auth::AuthMode::On;
            configure(config);
        })
        .await
    }

    /// Starts a server on this site with a configuration file's settings, then `configure`.
    pub async fn start_configured(
        self: &Arc<Self>,
        file: FileConfig,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> TestApp {
        let mut config = self.config_with_file(file);
        configure(&mut config);
        let registry = server::open_registry(&config).await.unwrap();
        // Done again (as a no-op) by `serve`; here so the admin token exists on return.
        server::prepare_auth(&registry, &config).await.unwrap();
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
            site: self.clone(),
            shutdown: Some(sender),
            server: Some(handle),
        }
    }
}

async fn connect_postgres(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap()
}

impl Drop for TestSite {
    fn drop(&mut self) {
        let Some((admin_url, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs outside async code; a helper thread with its own runtime does the I/O.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut connection = connect_postgres(&admin_url).await;
                let _ =
                    sqlx::Executor::execute(&mut connection, format!("DROP SCHEMA {schema} CASCADE").as_str()).await;
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub site: Arc<TestSite>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// A registry on a fresh site of the backend `RBEE_TEST_BACKEND` names.
    pub async fn start() -> TestApp {
        TestSite::new().await.start().await
    }

    /// A registry with token authentication on, on a fresh site.
    pub async fn start_protected() -> TestApp {
        TestSite::new().await.start_protected(|_| {}).await
    }

    /// A registry on a fresh site, its configuration adjusted by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        TestSite::new()
            .await
            .start_configured(FileConfig::default(), configure)
            .await
    }

    /// A registry on a fresh site with a configuration file's settings.
    pub async fn start_with_file(file: FileConfig) -> TestApp {
        TestSite::new().await.start_configured(file, |_| {}).await
    }

    /// A registry on a fresh SQLite + filesystem site, for tests that look at its files
    /// (the database file, blob and upload directories) directly.
    pub async fn start_local_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        TestSite::with_backend(TestBackend::SqliteFs, |_| {})
            .await
            .start_configured(FileConfig::default(), configure)
            .await
    }

    /// The site's data directory (holding the SQLite database and blobs on `sqlite-fs`).
    pub fn data_dir(&self) -> &Path {
        &self.site.data_dir
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

    /// Host and port, as OCI clients name a registry.
    pub fn host(&self) -> String {
        self.base_url.trim_start_matches("http://").to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
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

    /// Opens an upload session in `repository` (`POST`, expects `202`); returns its `Location`.
    pub async fn start_upload(&self, repository: &str) -> String {
        let response = self
            .client
            .post(self.url(&format!("/v2/{repository}/blobs/uploads/")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        response.headers()["location"].to_str().unwrap().to_string()
    }

    /// Completes the upload at `location` with `PUT ?digest=` (no body), expects `201`, and
    /// checks that the blob then reads back from `repository` as `data`. Returns the digest.
    pub async fn finish_and_verify(&self, repository: &str, location: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let finished = self
            .client
            .put(format!("{}?digest={digest}", self.url(location)))
            .send()
            .await
            .unwrap();
        assert_eq!(finished.status(), 201, "{}", finished.text().await.unwrap());
        let fetched = self.get(&format!("/v2/{repository}/blobs/{digest}")).await;
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), data);
        digest
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Paths of the objects stored under `prefix` (such as `blobs` or `uploads/<id>`).
    pub async fn stored_objects(&self, prefix: &str) -> Vec<String> {
        list_objects(&self.site.blob_store(), prefix).await
    }

    /// Paths of the objects under `uploads/` that are not blobs' bytes (see `stored_blobs`):
    /// what unfinished or abandoned uploads left.
    pub async fn stored_upload_files(&self) -> Vec<String> {
        let blobs = self.stored_blobs().await;
        let mut uploads = self.stored_objects("uploads").await;
        uploads.retain(|path| !blobs.contains(path));
        uploads
    }

    /// Paths of the objects holding blobs' bytes: those under `blobs/`, and the upload parts
    /// that became blobs where a move is a copy (S3; `blobs.held_session`, `held_part`).
    pub async fn stored_blobs(&self) -> Vec<String> {
        let mut paths = self.stored_objects("blobs").await;
        let database = rbee_registry::db::Database::connect(&self.site.database_url)
            .await
            .unwrap();
        let held = sqlx::query("SELECT held_session, held_part FROM blobs WHERE held_session IS NOT NULL")
            .fetch_all(database.reader())
            .await
            .unwrap();
        let uploads = self.stored_objects("uploads").await;
        for row in held {
            use sqlx::Row as _;
            let path = format!("uploads/{}/{}", row.get::<String, _>(0), row.get::<String, _>(1));
            if uploads.contains(&path) {
                paths.push(path);
            }
        }
        paths.sort();
        paths
    }
}

async fn list_objects(store: &BlobStore, prefix: &str) -> Vec<String> {
    let key = match prefix {
        "blobs" => StorageKey::AllBlobs,
        "uploads" => StorageKey::AllUploads,
        other => StorageKey::UploadDirectory {
            session_id: other
                .strip_prefix("uploads/")
                .expect("blobs, uploads or uploads/<id>")
                .to_string(),
        },
    };
    let mut paths: Vec<String> = store
        .list(&key)
        .map_ok(|object| object.path)
        .try_collect()
        .await
        .unwrap();
    paths.retain(|path| !path.contains('#')); // object_store's local staging files, never served
    paths.sort();
    paths
}

/// Checks that every stored blob hashes to its name.
async fn check_blobs_hash_to_their_names(store: BlobStore) {
    for path in list_objects(&store, "blobs").await {
        let mut parts = path.split('/');
        let (Some("blobs"), Some(algorithm), Some(_), Some(hex)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            panic!("unexpected object {path}");
        };
        let digest: rbee_registry::oci::Digest = format!("{algorithm}:{hex}").parse().unwrap();
        let mut stream = store.read(&StorageKey::Blob(digest), None).await.unwrap();
        let mut sha256 = sha2::Sha256::new();
        let mut sha512 = sha2::Sha512::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            sha256.update(&chunk);
            sha512.update(&chunk);
        }
        let computed = match algorithm {
            "sha512" => hex::encode(sha512.finalize()),
            _ => hex::encode(sha256.finalize()),
        };
        assert_eq!(computed, hex, "stored blob {path} does not hash to its name");
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
        let store = self.site.blob_store();
        let checked = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(check_blobs_hash_to_their_names(store));
        })
        .join();
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
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

/// Fails the test when a third-party client it needs is missing (scripts/test.sh installs
/// them): such a test must run, never skip.
pub fn require(program: &str) {
    assert!(
        have(program),
        "{program} is not installed; run scripts/test.sh, which installs the interop clients"
    );
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
