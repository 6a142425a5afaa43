//! `rbee-bench`: measures rbee-registry against CNCF distribution (`docker-registry`) in one
//! run, on 127.0.0.1, each with a fresh filesystem storage, and prints every figure for both
//! with their ratio. Blob pulls are also compared with nginx `sendfile` serving the same file.
//!
//! It is a program, not a test: numbers depend on the machine and its load. `bench/run.sh`
//! builds and runs it; `bench/README.md` has the results and how to read them.
//!
//! Per server: 256 MiB push (POST, one streamed PATCH, PUT ?digest=) and pull; 4 KiB pushes
//! (POST + PUT ?digest= with the body) at concurrency 8; manifest GET and tag listing of a
//! 1000-tag repository with `wrk`; peak RSS (VmHWM) and server CPU per operation
//! (utime+stime from /proc). For rbee-registry only (distribution has no worker API): one
//! small worker is published with the library's `publish` (what `rbee-registry publish`
//! runs), then `/v1/workers`, the download endpoint (a JSON answer naming the package's
//! URL) and the package download at that URL (counted in the download statistics).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use sha2::Digest as _;

#[derive(Parser)]
#[command(name = "rbee-bench", about = "rbee-registry against distribution, same run")]
struct Args {
    /// The rbee-registry binary (a release build).
    #[arg(long)]
    rbee: PathBuf,
    /// Extra arguments for `rbee-registry serve` (for example `--config file.toml`).
    #[arg(long, allow_hyphen_values = true)]
    rbee_arg: Vec<String>,
    /// The distribution binary.
    #[arg(long, default_value = "docker-registry")]
    distribution: String,
    /// The nginx binary (the pull comparison is skipped when it is missing).
    #[arg(long, default_value = "nginx")]
    nginx: String,
    /// Size of the large blob, MiB.
    #[arg(long, default_value_t = 256)]
    large_mib: usize,
    /// Seconds of each timed load (small pushes, wrk runs).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Tags in the tag-listing repository.
    #[arg(long, default_value_t = 1000)]
    tags: usize,
    /// Where servers keep their data (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Measure only the large blob push and pull (and nginx), skipping the other figures.
    #[arg(long)]
    blobs_only: bool,
}

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A server under test: its process and base URL.
struct Server {
    label: &'static str,
    child: Child,
    base: String,
    data: PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// utime + stime of the process so far, seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the `(comm)`, which may contain spaces: state is field 3, utime 14, stime 15.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / clock_ticks()
    }

    /// Peak resident memory so far (VmHWM), MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

fn wait_ready(base: &str, child: &mut Child) -> Result<(), String> {
    let client = reqwest::blocking::Client::new();
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("server exited with {status}"));
        }
        if client.get(format!("{base}/v2/")).send().is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("server did not answer /v2/ within 10 s".into())
}

/// Starts rbee-registry with its defaults (and `--rbee-arg`s), plus `extra` arguments,
/// keeping its data and log under `work/<name>`.
fn start_rbee(args: &Args, work: &Path, name: &str, extra: &[&str]) -> Result<Server, String> {
    let data = work.join(name);
    let port = free_port();
    let log = std::fs::File::create(work.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let mut child = Command::new(&args.rbee)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data)
        .args(&args.rbee_arg)
        .args(extra)
        .env("RBEE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", args.rbee.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base, &mut child)?;
    Ok(Server {
        label: "rbee-registry",
        child,
        base,
        data,
    })
}

fn start_distribution(args: &Args, work: &Path) -> Result<Server, String> {
    let data = work.join("distribution");
    let port = free_port();
    let config = work.join("distribution.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: rbee-bench\n",
            data.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = std::fs::File::create(work.join("distribution.log")).map_err(|e| e.to_string())?;
    let mut child = Command::new(&args.distribution)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", args.distribution))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base, &mut child)?;
    Ok(Server {
        label: "distribution",
        child,
        base,
        data,
    })
}

/// nginx serving `root` with sendfile, as a foreground single process.
struct Nginx {
    child: Child,
    base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(binary: &str, root: &Path, work: &Path) -> Result<Nginx, String> {
    let dir = work.join("nginx");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let port = free_port();
    let config = dir.join("nginx.conf");
    let d = dir.display();
    std::fs::write(
        &config,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  default_type application/octet-stream;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
            root.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut child = Command::new(binary)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {binary}: {e}"))?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("nginx exited with {status}"));
        }
        if client.get(format!("{base}/")).send().is_ok() {
            return Ok(Nginx { child, base });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("nginx did not start".into())
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Deterministic bytes that do not compress away.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn location(response: &reqwest::Response, base: &str) -> Result<String, String> {
    let text = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Location header")?;
    Ok(if text.starts_with("http") {
        text.to_string()
    } else {
        format!("{base}{text}")
    })
}

fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// POST, one PATCH with the whole body, PUT ?digest=: how docker and containerd push a layer.
async fn push_streamed(
    client: &reqwest::Client,
    server: &Server,
    repo: &str,
    data: bytes::Bytes,
) -> Result<(), String> {
    let digest = sha256(&data);
    let started = client
        .post(server.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if started.status() != 202 {
        return Err(format!("POST: {}", started.status()));
    }
    let upload = location(&started, &server.base)?;
    let patched = client
        .patch(&upload)
        .header("content-type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if patched.status() != 202 {
        return Err(format!("PATCH: {}", patched.status()));
    }
    let upload = location(&patched, &server.base)?;
    let finished = client
        .put(with_digest(&upload, &digest))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if finished.status() != 201 {
        return Err(format!("PUT: {}", finished.status()));
    }
    Ok(())
}

/// POST, then PUT ?digest= carrying the body: a small blob in two requests.
async fn push_small(client: &reqwest::Client, base: &str, repo: &str, data: Vec<u8>) -> Result<String, String> {
    let digest = sha256(&data);
    let started = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if started.status() != 202 {
        return Err(format!("POST: {}", started.status()));
    }
    let upload = location(&started, base)?;
    let finished = client
        .put(with_digest(&upload, &digest))
        .header("content-type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if finished.status() != 201 {
        return Err(format!("PUT: {}", finished.status()));
    }
    Ok(digest)
}

/// GETs `url`, counting the bytes; returns seconds.
async fn pull(client: &reqwest::Client, url: &str, expected: u64) -> Result<f64, String> {
    let started = Instant::now();
    let mut response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("GET {url}: {}", response.status()));
    }
    let mut received = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        received += chunk.len() as u64;
    }
    if received != expected {
        return Err(format!("GET {url}: {received} bytes, expected {expected}"));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// What `wrk` reported.
#[derive(Debug, Clone, Copy)]
struct WrkResult {
    requests_per_second: f64,
    p99_ms: f64,
    requests: f64,
}

fn run_wrk(url: &str, connections: usize, seconds: u64, headers: &[&str]) -> Result<WrkResult, String> {
    let mut command = Command::new("wrk");
    command
        .arg("-t2")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency");
    for header in headers {
        command.arg("-H").arg(header);
    }
    let output = command.arg(url).output().map_err(|e| format!("running wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    if text.contains("Non-2xx") {
        return Err(format!("wrk saw error responses:\n{text}"));
    }
    let mut result = WrkResult {
        requests_per_second: f64::NAN,
        p99_ms: f64::NAN,
        requests: f64::NAN,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", value] => result.requests_per_second = value.parse().unwrap_or(f64::NAN),
            ["99%", value] => result.p99_ms = duration_ms(value),
            [count, "requests", "in", ..] => result.requests = count.parse().unwrap_or(f64::NAN),
            _ => {}
        }
    }
    if result.requests_per_second.is_nan() {
        return Err(format!("could not read wrk's output:\n{text}"));
    }
    Ok(result)
}

fn duration_ms(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => f64::NAN,
    }
}

/// One figure for one server.
#[derive(Debug, Clone, Copy, Default)]
struct Figure {
    value: Option<f64>,
    /// Server CPU per operation, milliseconds.
    cpu_ms: Option<f64>,
}

/// Everything measured for one server.
#[derive(Debug, Default)]
struct Results {
    push_large_mib_s: Figure,
    pull_large_mib_s: Figure,
    push_small_per_s: Figure,
    manifest_rps: Figure,
    manifest_p99_ms: Figure,
    tags_rps: Figure,
    tags_p99_ms: Figure,
    workers_rps: Option<Figure>,
    download_rps: Option<Figure>,
    package_rps: Option<Figure>,
    peak_rss_mib: f64,
    notes: Vec<String>,
}

/// Two streamed pushes of the large blob, each of different content: the faster one's
/// MiB/s and server CPU, and the digest of the last blob pushed.
async fn best_large_push(args: &Args, client: &reqwest::Client, server: &Server) -> Result<(Figure, String), String> {
    let large = args.large_mib * 1024 * 1024;
    let mut best_push = f64::MAX;
    let mut push_cpu = 0.0;
    let mut last_digest = String::new();
    for round in 0..2u64 {
        let data = bytes::Bytes::from(pseudo_random(large, 1000 + round));
        last_digest = sha256(&data);
        let cpu = server.cpu_seconds();
        let started = Instant::now();
        push_streamed(client, server, "bench/large", data).await?;
        let seconds = started.elapsed().as_secs_f64();
        let used = server.cpu_seconds() - cpu;
        if seconds < best_push {
            best_push = seconds;
            push_cpu = used;
        }
    }
    let figure = Figure {
        value: Some(args.large_mib as f64 / best_push),
        cpu_ms: Some(push_cpu * 1000.0),
    };
    Ok((figure, last_digest))
}

/// The large push again on an rbee-registry with `storage.fsync = false`: the durability
/// distribution's filesystem driver has (it never fsyncs), so the two compare like for like.
async fn measure_unsynced_push(args: &Args, work: &Path) -> Result<Figure, String> {
    let config = work.join("rbee-no-fsync.toml");
    std::fs::write(&config, "[storage]\nfsync = false\n").map_err(|e| e.to_string())?;
    let config = config.to_string_lossy().to_string();
    let server = start_rbee(args, work, "rbee-no-fsync", &["--config", &config])?;
    eprintln!("rbee-bench: rbee-registry with storage.fsync = false: large blob push");
    let client = reqwest::Client::new();
    Ok(best_large_push(args, &client, &server).await?.0)
}

async fn measure(args: &Args, server: &Server) -> Result<Results, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = Results::default();
    let large = args.large_mib * 1024 * 1024;
    let step = |what: &str| eprintln!("rbee-bench: {}: {what}", server.label);
    step("large blob push and pull");

    // Large blob: two pushes of different content, the best counts; then three pulls, the median.
    let (push_figure, last_digest) = best_large_push(args, &client, server).await?;
    results.push_large_mib_s = push_figure;
    let blob_url = server.url(&format!("/v2/bench/large/blobs/{last_digest}"));
    let mut pulls = Vec::new();
    let cpu = server.cpu_seconds();
    for _ in 0..3 {
        pulls.push(pull(&client, &blob_url, large as u64).await?);
    }
    let pull_cpu = (server.cpu_seconds() - cpu) / 3.0;
    pulls.sort_by(f64::total_cmp);
    results.pull_large_mib_s = Figure {
        value: Some(args.large_mib as f64 / pulls[1]),
        cpu_ms: Some(pull_cpu * 1000.0),
    };
    if args.blobs_only {
        results.peak_rss_mib = server.peak_rss_mib();
        return Ok(results);
    }

    step("4 KiB pushes");
    // Small blobs: 8 concurrent pushers for a fixed time, each blob distinct.
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let cpu = server.cpu_seconds();
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..8u64 {
        let client = client.clone();
        let base = server.base.clone();
        let done = done.clone();
        let failures = failures.clone();
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let data = pseudo_random(4096, (worker << 32) | i);
                i += 1;
                match push_small(&client, &base, "bench/small", data).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for worker in workers {
        worker.await.map_err(|e| e.to_string())?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed) as f64;
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        results.notes.push(format!("{failed} small pushes failed"));
    }
    results.push_small_per_s = Figure {
        value: Some(count / seconds),
        cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / count.max(1.0)),
    };

    // A small image for manifest GETs, then the tag-listing repository.
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let layer = pseudo_random(1024, 7);
    let config_digest = push_small(&client, &server.base, "bench/image", config.clone()).await?;
    let layer_digest = push_small(&client, &server.base, "bench/image", layer.clone()).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    let put = |repo: &'static str, tag: String| {
        let client = client.clone();
        let url = server.url(&format!("/v2/{repo}/manifests/{tag}"));
        let body = manifest.clone();
        async move {
            let response = client
                .put(url)
                .header("content-type", MANIFEST_TYPE)
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status() != 201 {
                return Err(format!("PUT manifest: {}", response.status()));
            }
            Ok::<(), String>(())
        }
    };
    put("bench/image", "v1".into()).await?;

    step("manifest GET");
    let accept = format!("Accept: {MANIFEST_TYPE}");
    let cpu = server.cpu_seconds();
    let wrk = run_wrk(
        &server.url("/v2/bench/image/manifests/v1"),
        32,
        args.seconds,
        &[&accept],
    )?;
    let cpu_ms = (server.cpu_seconds() - cpu) * 1000.0 / wrk.requests;
    results.manifest_rps = Figure {
        value: Some(wrk.requests_per_second),
        cpu_ms: Some(cpu_ms),
    };
    results.manifest_p99_ms = Figure {
        value: Some(wrk.p99_ms),
        cpu_ms: None,
    };

    // Mount the blobs into the tag repository, then tag the manifest `tags` times, 8 at once.
    for digest in [&config_digest, &layer_digest] {
        let response = client
            .post(server.url(&format!(
                "/v2/bench/tags/blobs/uploads/?mount={digest}&from=bench/image"
            )))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != 201 {
            return Err(format!("mount: {}", response.status()));
        }
    }
    step("tagging and tag listing");
    let names: Vec<String> = (0..args.tags).map(|i| format!("t{i:05}")).collect();
    for batch in names.chunks(8) {
        let pending: Vec<_> = batch.iter().map(|tag| put("bench/tags", tag.clone())).collect();
        for result in futures::future::join_all(pending).await {
            result?;
        }
    }
    let cpu = server.cpu_seconds();
    let wrk = run_wrk(&server.url("/v2/bench/tags/tags/list"), 8, args.seconds, &[])?;
    results.tags_rps = Figure {
        value: Some(wrk.requests_per_second),
        cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
    };
    results.tags_p99_ms = Figure {
        value: Some(wrk.p99_ms),
        cpu_ms: None,
    };

    // The rbee worker API (issue 3): measured only where the server has it, after publishing
    // one worker so that the list is not empty and the download endpoint has something.
    if server.label == "rbee-registry" {
        step("publishing a worker");
        publish_bench_worker(server).await?;
    }
    let workers = client
        .get(server.url("/v1/workers"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if workers.status() == 200 {
        let listing: serde_json::Value = workers.json().await.map_err(|e| e.to_string())?;
        let cpu = server.cpu_seconds();
        let wrk = run_wrk(&server.url("/v1/workers"), 32, args.seconds, &[])?;
        results.workers_rps = Some(Figure {
            value: Some(wrk.requests_per_second),
            cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
        });
        match download_path(&client, server, &listing).await {
            Some(path) => {
                step("download endpoint");
                let cpu = server.cpu_seconds();
                let wrk = run_wrk(&server.url(&path), 32, args.seconds, &[])?;
                results.download_rps = Some(Figure {
                    value: Some(wrk.requests_per_second),
                    cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
                });
                step("package download");
                let answer: serde_json::Value = client
                    .get(server.url(&path))
                    .send()
                    .await
                    .and_then(|response| response.error_for_status())
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let url = answer["download_url"]
                    .as_str()
                    .ok_or_else(|| format!("download endpoint answered without a download_url: {answer}"))?;
                let counted_before = downloads_counted(&client, server, BENCH_WORKER).await?;
                let cpu = server.cpu_seconds();
                let wrk = run_wrk(url, 32, args.seconds, &[])?;
                results.package_rps = Some(Figure {
                    value: Some(wrk.requests_per_second),
                    cpu_ms: Some((server.cpu_seconds() - cpu) * 1000.0 / wrk.requests),
                });
                // Counting is asynchronous (a bounded queue and one writer): wait until the
                // count stops moving, then compare it with the downloads wrk completed.
                let mut counted = downloads_counted(&client, server, BENCH_WORKER).await?;
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let now = downloads_counted(&client, server, BENCH_WORKER).await?;
                    if now == counted {
                        break;
                    }
                    counted = now;
                }
                results.notes.push(format!(
                    "package downloads: wrk completed {:.0}, the registry counted {} in /v1/workers/{BENCH_WORKER}/stats",
                    wrk.requests,
                    counted - counted_before
                ));
            }
            None => results
                .notes
                .push("download: no published worker to download (publish one to measure it)".into()),
        }
    }
    results.peak_rss_mib = server.peak_rss_mib();
    Ok(results)
}

/// The worker the benchmark publishes into rbee-registry.
const BENCH_WORKER: &str = "llm-worker-rbee-cpu";
/// Its metadata (the test fixture, version 0.1.0).
const BENCH_WORKER_METADATA: &str = include_str!("../tests/fixtures/workers/llm-worker-rbee-cpu.metadata.json");
/// Size of the executable in its package: pseudo-random, so the `.tar.gz` is about as big.
const BENCH_WORKER_BINARY_BYTES: usize = 64 * 1024;

/// Publishes [`BENCH_WORKER`] 0.1.0 for linux/amd64 with the library's `publish` (what
/// `rbee-registry publish` runs): the metadata and a `.tar.gz` holding `bin/<worker>`, a
/// LICENSE and the metadata, written next to the server's data directory.
async fn publish_bench_worker(server: &Server) -> Result<(), String> {
    use rbee_registry::artifact::Platform;
    use rbee_registry::client::publish::{publish, PublishRequest};
    use rbee_registry::client::RegistryClient;

    let dir = server.data.with_file_name("worker");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let metadata = dir.join("metadata.json");
    std::fs::write(&metadata, BENCH_WORKER_METADATA).map_err(|e| e.to_string())?;
    let mut package = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let binary = pseudo_random(BENCH_WORKER_BINARY_BYTES, 42);
    for (path, mode, data) in [
        (format!("bin/{BENCH_WORKER}"), 0o755, binary.as_slice()),
        ("LICENSE".to_string(), 0o644, b"GPL-3.0-or-later\n".as_slice()),
        ("metadata.json".to_string(), 0o644, BENCH_WORKER_METADATA.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        package
            .append_data(&mut header, path, data)
            .map_err(|e| e.to_string())?;
    }
    let package = package
        .into_inner()
        .and_then(|gzip| gzip.finish())
        .map_err(|e| e.to_string())?;
    let package_path = dir.join("linux-x86_64.tar.gz");
    std::fs::write(&package_path, package).map_err(|e| e.to_string())?;
    let request = PublishRequest {
        worker_id: BENCH_WORKER.into(),
        version: "0.1.0".into(),
        metadata,
        platforms: vec![(Platform::parse("linux/amd64").map_err(|e| e.to_string())?, package_path)],
        pkgbuild: None,
    };
    let client = RegistryClient::new(&server.base, None).map_err(|e| e.to_string())?;
    publish(&client, &request)
        .await
        .map_err(|e| format!("publishing {BENCH_WORKER}: {e}"))?;
    Ok(())
}

/// The worker's counted downloads, from `GET /v1/workers/:id/stats`.
async fn downloads_counted(client: &reqwest::Client, server: &Server, worker: &str) -> Result<u64, String> {
    let stats: serde_json::Value = client
        .get(server.url(&format!("/v1/workers/{worker}/stats")))
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    stats["downloads"]
        .as_u64()
        .ok_or_else(|| format!("stats without a downloads count: {stats}"))
}

/// The download endpoint of the first listed worker's latest version and first platform.
async fn download_path(client: &reqwest::Client, server: &Server, listing: &serde_json::Value) -> Option<String> {
    let workers = listing.get("workers").or(Some(listing))?.as_array()?;
    let id = workers.first()?.get("id")?.as_str()?.to_string();
    let versions: serde_json::Value = client
        .get(server.url(&format!("/v1/workers/{id}/versions")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let version = versions.get("latest")?.as_str()?.to_string();
    // Without a platform the endpoint answers with the platforms that exist.
    let choices: serde_json::Value = client
        .get(server.url(&format!("/v1/workers/{id}/{version}/download")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let text = choices.to_string();
    let platform = ["linux-x86_64", "linux-aarch64"]
        .into_iter()
        .find(|p| text.contains(p))?;
    Some(format!("/v1/workers/{id}/{version}/download?platform={platform}"))
}

fn show(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "n/a".into(),
    }
}

fn ratio(ours: Option<f64>, theirs: Option<f64>, higher_is_better: bool) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
            let r = if higher_is_better { a / b } else { b / a };
            format!("{r:.2}×")
        }
        _ => "n/a".into(),
    }
}

fn row(name: &str, unit: &str, ours: Figure, theirs: Figure, higher_is_better: bool) -> String {
    format!(
        "| {name} | {unit} | {} | {} | {} | {} | {} |",
        show(ours.value),
        show(theirs.value),
        ratio(ours.value, theirs.value, higher_is_better),
        show(ours.cpu_ms),
        show(theirs.cpu_ms),
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores ({cpu})")
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rbee-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let temp = tempfile_dir(args)?;
    let work = temp.as_path();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let load_before = load();
    eprintln!("rbee-bench: machine {}, load {load_before}", machine());

    eprintln!("rbee-bench: measuring rbee-registry");
    let rbee = start_rbee(args, work, "rbee", &[])?;
    let ours = runtime.block_on(measure(args, &rbee))?;
    // nginx serves the file rbee stored for the large blob, by its path under the blob root.
    let nginx_figure = runtime.block_on(measure_nginx(args, &rbee, work));
    drop(rbee);
    let unsynced_push = runtime.block_on(measure_unsynced_push(args, work))?;

    eprintln!("rbee-bench: measuring distribution");
    let distribution = start_distribution(args, work)?;
    let theirs = runtime.block_on(measure(args, &distribution))?;
    drop(distribution);
    let load_after = load();

    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "{date}; {}; load average (1, 5, 15 min) before {load_before}, after {load_after}",
        machine()
    );
    println!();
    println!("| figure | unit | rbee-registry | distribution | ratio | rbee CPU ms/op | distribution CPU ms/op |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "{}",
        row(
            &format!("{} MiB blob push (rbee default: fsync before visible)", args.large_mib),
            "MiB/s",
            ours.push_large_mib_s,
            theirs.push_large_mib_s,
            true
        )
    );
    println!(
        "{}",
        row(
            &format!(
                "{} MiB blob push, rbee with `storage.fsync = false` (no fsync, like distribution)",
                args.large_mib
            ),
            "MiB/s",
            unsynced_push,
            theirs.push_large_mib_s,
            true
        )
    );
    println!(
        "{}",
        row(
            &format!("{} MiB blob pull", args.large_mib),
            "MiB/s",
            ours.pull_large_mib_s,
            theirs.pull_large_mib_s,
            true
        )
    );
    if args.blobs_only {
        print_peak_rss(&ours, &theirs);
        print_nginx(nginx_figure);
        return Ok(());
    }
    println!(
        "{}",
        row(
            "4 KiB blob pushes, 8 at once",
            "pushes/s",
            ours.push_small_per_s,
            theirs.push_small_per_s,
            true
        )
    );
    println!(
        "{}",
        row(
            "manifest GET, 32 connections",
            "req/s",
            ours.manifest_rps,
            theirs.manifest_rps,
            true
        )
    );
    println!(
        "{}",
        row(
            "manifest GET p99",
            "ms",
            ours.manifest_p99_ms,
            theirs.manifest_p99_ms,
            false
        )
    );
    println!(
        "{}",
        row(
            &format!("tag list of {} tags, 8 connections", args.tags),
            "req/s",
            ours.tags_rps,
            theirs.tags_rps,
            true
        )
    );
    println!(
        "{}",
        row("tag list p99", "ms", ours.tags_p99_ms, theirs.tags_p99_ms, false)
    );
    for (name, figure) in [
        ("/v1/workers, 32 connections", ours.workers_rps),
        ("download endpoint, 32 connections", ours.download_rps),
        ("worker package GET (~64 KiB), 32 connections", ours.package_rps),
    ] {
        match figure {
            Some(figure) => println!(
                "| {name} | req/s | {} | no worker API | n/a | {} | n/a |",
                show(figure.value),
                show(figure.cpu_ms)
            ),
            None => println!("| {name} | req/s | not available (endpoint answers 404 or has no data) | no worker API | n/a | n/a | n/a |"),
        }
    }
    print_peak_rss(&ours, &theirs);
    print_nginx(nginx_figure);
    for note in ours
        .notes
        .iter()
        .map(|n| format!("rbee-registry: {n}"))
        .chain(theirs.notes.iter().map(|n| format!("distribution: {n}")))
    {
        println!("Note: {note}");
    }
    Ok(())
}

fn print_peak_rss(ours: &Results, theirs: &Results) {
    println!(
        "| peak RSS over the run | MiB | {} | {} | {} | | |",
        show(Some(ours.peak_rss_mib)),
        show(Some(theirs.peak_rss_mib)),
        ratio(Some(ours.peak_rss_mib), Some(theirs.peak_rss_mib), false)
    );
    println!();
}

fn print_nginx(nginx_figure: Result<NginxComparison, String>) {
    match nginx_figure {
        Ok(comparison) => {
            println!(
                "Blob pull against nginx sendfile of the same file (5 alternating pulls each, medians): nginx {} MiB/s, rbee-registry {} MiB/s = {:.0}% of nginx",
                show(Some(comparison.nginx_mib_s)),
                show(Some(comparison.rbee_mib_s)),
                100.0 * comparison.rbee_mib_s / comparison.nginx_mib_s
            );
        }
        Err(message) => println!("Blob pull against nginx sendfile: not measured ({message})"),
    }
}

async fn measure_nginx(args: &Args, rbee: &Server, work: &Path) -> Result<NginxComparison, String> {
    let root = rbee.data.join("blobs");
    let blobs_dir = root.join("blobs/sha256");
    // The last large blob pushed is the biggest file under the blob root.
    let mut biggest: Option<(u64, PathBuf)> = None;
    let mut stack = vec![blobs_dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
            let path = entry.path();
            let meta = entry.metadata().map_err(|e| e.to_string())?;
            if meta.is_dir() {
                stack.push(path);
            } else if biggest.as_ref().is_none_or(|(size, _)| meta.len() > *size) {
                biggest = Some((meta.len(), path));
            }
        }
    }
    let (size, path) = biggest.ok_or("no blob file found")?;
    let relative = path.strip_prefix(&root).map_err(|e| e.to_string())?;
    // The blob's digest is its file name.
    let digest = format!(
        "sha256:{}",
        path.file_name().ok_or("blob file without a name")?.to_string_lossy()
    );
    let nginx = start_nginx(&args.nginx, &root, work)?;
    let client = reqwest::Client::new();
    let nginx_url = format!("{}/{}", nginx.base, relative.display());
    let rbee_url = rbee.url(&format!("/v2/bench/large/blobs/{digest}"));
    // Alternating pulls in the same minutes, so both see the same machine; medians of 5.
    let (mut from_nginx, mut from_rbee) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        from_nginx.push(pull(&client, &nginx_url, size).await?);
        from_rbee.push(pull(&client, &rbee_url, size).await?);
    }
    from_nginx.sort_by(f64::total_cmp);
    from_rbee.sort_by(f64::total_cmp);
    let mib = size as f64 / (1024.0 * 1024.0);
    Ok(NginxComparison {
        nginx_mib_s: mib / from_nginx[2],
        rbee_mib_s: mib / from_rbee[2],
    })
}

/// Pulls of the same file from nginx (`sendfile`) and rbee-registry, taken alternately.
struct NginxComparison {
    nginx_mib_s: f64,
    rbee_mib_s: f64,
}

/// The work directory: the one given (kept), or a fresh one under /var/tmp (removed afterwards).
struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    fn as_path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn tempfile_dir(args: &Args) -> Result<WorkDir, String> {
    let (path, remove) = match &args.work_dir {
        Some(path) => (path.clone(), false),
        None => (
            PathBuf::from(format!("/var/tmp/rbee-bench.{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(WorkDir { path, remove })
}
