//! The requests the measurements send (streamed and small blob pushes, counted pulls) and
//! `wrk`, which drives the fixed-time loads.

use std::process::Command;
use std::time::Instant;

use sha2::Digest as _;

use crate::servers::Server;

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Deterministic bytes that do not compress away.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
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

pub fn location(response: &reqwest::Response, base: &str) -> Result<String, String> {
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

pub fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// POST, one PATCH with the whole body, PUT ?digest=: how docker and containerd push a layer.
pub async fn push_streamed(
    client: &reqwest::Client,
    server: &Server,
    repo: &str,
    data: bytes::Bytes,
) -> Result<(), String> {
    push_streamed_phases(client, server, repo, data).await.map(drop)
}

/// Seconds each request of a streamed push took.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushPhases {
    pub post: f64,
    pub patch: f64,
    pub put: f64,
}

impl PushPhases {
    pub fn total(&self) -> f64 {
        self.post + self.patch + self.put
    }
}

/// [`push_streamed`], timing each of its three requests.
pub async fn push_streamed_phases(
    client: &reqwest::Client,
    server: &Server,
    repo: &str,
    data: bytes::Bytes,
) -> Result<PushPhases, String> {
    let digest = sha256(&data);
    let mut phases = PushPhases::default();
    let mut clock = Instant::now();
    let mut lap = |slot: &mut f64| {
        *slot = clock.elapsed().as_secs_f64();
        clock = Instant::now();
    };
    let started = client
        .post(server.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if started.status() != 202 {
        return Err(format!("POST: {}", started.status()));
    }
    lap(&mut phases.post);
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
    lap(&mut phases.patch);
    let upload = location(&patched, &server.base)?;
    let finished = client
        .put(with_digest(&upload, &digest))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if finished.status() != 201 {
        return Err(format!("PUT: {}", finished.status()));
    }
    lap(&mut phases.put);
    Ok(phases)
}

/// POST, then PUT ?digest= carrying the body: a small blob in two requests.
pub async fn push_small(client: &reqwest::Client, base: &str, repo: &str, data: Vec<u8>) -> Result<String, String> {
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

/// One `POST ?digest=` carrying the body: the single-request monolithic push.
pub async fn push_monolithic(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    data: Vec<u8>,
) -> Result<String, String> {
    let digest = sha256(&data);
    let pushed = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
        .header("content-type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if pushed.status() != 201 {
        return Err(format!("POST ?digest=: {}", pushed.status()));
    }
    Ok(digest)
}

/// GETs `url`, counting the bytes; returns seconds.
pub async fn pull(client: &reqwest::Client, url: &str, expected: u64) -> Result<f64, String> {
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
pub struct WrkResult {
    pub requests_per_second: f64,
    pub p99_ms: f64,
    pub requests: f64,
}

pub fn run_wrk(url: &str, connections: usize, seconds: u64, headers: &[&str]) -> Result<WrkResult, String> {
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

pub fn duration_ms(text: &str) -> f64 {
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
