//! Several registry processes on one database and one blob store behave as one registry.
//! Each `TestApp` here is a separate server with its own pools and clients, sharing only
//! the site (on `RBEE_TEST_BACKEND=postgres-s3`: one PostgreSQL schema and one bucket);
//! `two_real_processes_behave_as_one` runs two `rbee-registry serve` processes.

use crate::support::*;
use crate::worker_fixtures::{eventually, publish_worker};

#[tokio::test]
async fn download_counts_from_both_processes_add_up_in_one_stats() {
    let site = TestSite::new().await;
    let first = site.start().await;
    let second = site.start().await;
    let work = tempfile::tempdir().unwrap();
    let worker = "llm-worker-rbee-cpu";
    publish_worker(
        &first,
        work.path(),
        worker,
        "1.0.0",
        &["linux/amd64", "linux/arm64"],
        None,
    )
    .await;

    // Each process hands out a download URL for its own host; fetch through both.
    let mut fetched = 0;
    for (app, platform, times) in [(&first, "linux-x86_64", 2), (&second, "linux-aarch64", 3)] {
        let download: serde_json::Value = app
            .get(&format!("/v1/workers/{worker}/1.0.0/download?platform={platform}"))
            .await
            .json()
            .await
            .unwrap();
        let url = download["download_url"].as_str().unwrap();
        assert!(url.starts_with(&app.base_url), "{url}");
        for _ in 0..times {
            let bytes = app.client.get(url).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(sha256(&bytes), download["checksum"].as_str().unwrap());
            fetched += 1;
        }
    }
    assert_eq!(fetched, 5);

    // Either process answers with the sum of both.
    let stats_path = format!("/v1/workers/{worker}/stats");
    eventually("five downloads counted across both processes", || async {
        let stats: serde_json::Value = second.get(&stats_path).await.json().await.unwrap();
        stats["downloads"] == 5
    })
    .await;
    let stats: serde_json::Value = first.get(&stats_path).await.json().await.unwrap();
    assert_eq!(stats["downloads"], 5);
    assert_eq!(
        stats["downloads_by_platform"],
        serde_json::json!({"linux-aarch64": 3, "linux-x86_64": 2})
    );
}

#[tokio::test]
async fn chunked_upload_started_on_one_process_finishes_on_the_other() {
    let site = TestSite::new().await;
    let first = site.start().await;
    let second = site.start().await;
    let data = bytes_of(3 * 100_000 + 7, 21);

    let started = first
        .client
        .post(first.url("/v2/split/upload/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let mut location = started.headers()["location"].to_str().unwrap().to_string();
    // Alternate the chunks between the processes.
    for (index, chunk) in data.chunks(100_000).enumerate() {
        let app = if index % 2 == 0 { &first } else { &second };
        let start = index * 100_000;
        let response = app
            .client
            .patch(app.url(&location))
            .header("content-range", format!("{}-{}", start, start + chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "chunk {index}");
        location = response.headers()["location"].to_str().unwrap().to_string();
    }
    let status = first.get(&location).await;
    assert_eq!(status.headers()["range"], format!("0-{}", data.len() - 1).as_str());
    let digest = sha256(&data);
    let finished = second
        .client
        .put(format!("{}?digest={digest}", second.url(&location)))
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
    for app in [&first, &second] {
        let fetched = app.get(&format!("/v2/split/upload/blobs/{digest}")).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
        assert_eq!(app.get(&location).await.status(), 404, "the session is gone everywhere");
    }
}

#[tokio::test]
async fn a_tag_pushed_on_one_process_is_read_on_the_other_at_once() {
    let site = TestSite::new().await;
    let first = site.start().await;
    let second = site.start().await;
    for (round, layer) in [bytes_of(5_000, 1), bytes_of(6_000, 2), bytes_of(7_000, 3)]
        .iter()
        .enumerate()
    {
        let (writer, reader) = if round % 2 == 0 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        let digest = writer.push_image("shared/tags", "latest", layer).await;
        let read = reader
            .client
            .get(reader.url("/v2/shared/tags/manifests/latest"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200, "round {round}");
        assert_eq!(
            read.headers()["docker-content-digest"],
            digest.as_str(),
            "round {round}"
        );
        let tags: serde_json::Value = reader.get("/v2/shared/tags/tags/list").await.json().await.unwrap();
        assert_eq!(tags["tags"], serde_json::json!(["latest"]));
    }
    // A delete on one is seen by the other.
    let deleted = first
        .client
        .delete(first.url("/v2/shared/tags/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    assert_eq!(second.get("/v2/shared/tags/manifests/latest").await.status(), 404);
}

#[tokio::test]
async fn a_blob_mounted_through_one_process_is_served_by_the_other() {
    let site = TestSite::new().await;
    let first = site.start().await;
    let second = site.start().await;
    let data = bytes_of(40_000, 5);
    let digest = first.push_blob("mount/from", &data).await;
    let mounted = second
        .client
        .post(second.url(&format!("/v2/mount/to/blobs/uploads/?mount={digest}&from=mount/from")))
        .send()
        .await
        .unwrap();
    assert_eq!(mounted.status(), 201);
    let fetched = first.get(&format!("/v2/mount/to/blobs/{digest}")).await;
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
}

/// A `rbee-registry serve` child process on a free port; killed on drop.
pub struct ServeProcess {
    child: std::process::Child,
    base_url: String,
}

impl ServeProcess {
    pub async fn start(site: &TestSite) -> ServeProcess {
        ServeProcess::start_with(site, &[]).await
    }

    /// Like [`ServeProcess::start`], with more `serve` arguments.
    pub async fn start_with(site: &TestSite, arguments: &[&str]) -> ServeProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = site
            .command("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(arguments)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Owned by the guard at once, so the child is killed and reaped on every path.
        let process = ServeProcess {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(process.url("/v2/")).send().await.is_ok() {
                return process;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("rbee-registry serve did not come up on port {port}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn two_real_processes_behave_as_one() {
    let site = TestSite::new().await;
    // Migrate once first: sqlx locks migrations on PostgreSQL, not across SQLite processes.
    drop(site.registry().await);
    let (first, second) = tokio::join!(ServeProcess::start(&site), ServeProcess::start(&site));
    let client = reqwest::Client::new();
    let data = bytes_of(250_000, 33);

    let started = client
        .post(first.url("/v2/procs/blob/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let patched = client
        .patch(second.url(&location))
        .header("content-range", "0-99999")
        .body(data[..100_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    let location = patched.headers()["location"].to_str().unwrap().to_string();
    let digest = sha256(&data);
    let finished = client
        .put(format!("{}?digest={digest}", first.url(&location)))
        .body(data[100_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
    let fetched = client
        .get(second.url(&format!("/v2/procs/blob/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);

    // A tag pushed on one process is read on the other at once.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.rbee.worker.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": data.len()}]
    });
    let empty = client
        .post(second.url("/v2/procs/blob/blobs/uploads/?digest=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 201);
    let body = serde_json::to_vec(&manifest).unwrap();
    let pushed = client
        .put(second.url("/v2/procs/blob/manifests/0.1.0"))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    let read = client
        .get(first.url("/v2/procs/blob/manifests/0.1.0"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.bytes().await.unwrap().as_ref(), &body[..]);
}
