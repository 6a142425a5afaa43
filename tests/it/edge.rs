//! The HTTP edge over raw sockets: the request-head limit (`431`), the `Host` rule (`400`),
//! a declared body past the largest blob (`413` before reading it), and the base of the URLs
//! the registry hands out (`public_url`, forwarded headers only from `trusted_proxies`).

use std::time::Duration;

use rbee_registry::config::{FileConfig, SettingValue};
use rbee_registry::routes::edge::TrustedProxies;
use rbee_registry::services::PublicUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;
use crate::worker_fixtures::*;

/// Longest a test waits for an answer; a server still reading a body it will never get
/// would hold the connection open past it.
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);

/// Sends `bytes` on a fresh connection (leaving it open) and returns the status and the
/// whole response (head and the body its `content-length` announces).
async fn raw_request(app: &TestApp, bytes: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(app.host()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut received = Vec::new();
    let read_answer = async {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |length| length.trim().parse().unwrap());
                if received.len() >= end + 4 + length {
                    return;
                }
            }
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the connection closed without a whole answer");
            received.extend_from_slice(&buffer[..read]);
        }
    };
    tokio::time::timeout(ANSWER_DEADLINE, read_answer)
        .await
        .expect("no answer while the request body is still unsent");
    let text = String::from_utf8_lossy(&received).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    (status, text)
}

/// `GET /v2/ HTTP/1.1` with a valid `Host`, `fields` and then one `x-pad` field sized so that
/// the whole head (request line, `name: value\r\n` per field, the empty line) is `size` bytes.
fn head_of_size(app: &TestApp, fields: &[(String, String)], size: usize) -> String {
    let mut head = format!("GET /v2/ HTTP/1.1\r\nhost: {}\r\n", app.host());
    for (name, value) in fields {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let without_pad = head.len() + "x-pad: \r\n".len() + "\r\n".len();
    head.push_str(&format!("x-pad: {}\r\n\r\n", "p".repeat(size - without_pad)));
    assert_eq!(head.len(), size);
    head
}

#[tokio::test]
async fn the_request_head_limit_is_the_documented_one() {
    let app = TestApp::start().await;
    let limit = 65_536;
    // One field of 100 KiB.
    let (status, _) = raw_request(&app, head_of_size(&app, &[], 100 * 1024 + 200).as_bytes()).await;
    assert_eq!(status, 431);
    // 80 fields of 1 KiB.
    let fields: Vec<_> = (0..80).map(|i| (format!("x-field-{i}"), "f".repeat(1024))).collect();
    let many = head_of_size(&app, &fields, 80 * 1050);
    let (status, _) = raw_request(&app, many.as_bytes()).await;
    assert_eq!(status, 431);
    // Exactly at the limit passes; one byte more does not.
    let fields: Vec<_> = (0..40).map(|i| (format!("x-field-{i}"), "f".repeat(1024))).collect();
    let (status, answer) = raw_request(&app, head_of_size(&app, &fields, limit).as_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = raw_request(&app, head_of_size(&app, &fields, limit + 1).as_bytes()).await;
    assert_eq!(status, 431);
    // The server goes on serving.
    assert_eq!(app.get("/v2/").await.status(), 200);
}

#[tokio::test]
async fn http_1_1_needs_exactly_one_valid_host() {
    let app = TestApp::start().await;
    let host = app.host();
    for (path, statuses) in [("/v2/", 200), ("/health", 200), ("/v1/workers", 200)] {
        let good = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n");
        assert_eq!(raw_request(&app, good.as_bytes()).await.0, statuses, "{path}");
        for bad in [
            format!("GET {path} HTTP/1.1\r\n\r\n"),
            format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nhost: {host}\r\n\r\n"),
            format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nhost: other.example\r\n\r\n"),
            format!("GET {path} HTTP/1.1\r\nhost: a b\r\n\r\n"),
            format!("GET {path} HTTP/1.1\r\nhost: user@{host}\r\n\r\n"),
        ] {
            let (status, head) = raw_request(&app, bad.as_bytes()).await;
            assert_eq!(status, 400, "{bad:?} answered {head}");
        }
    }
    // HTTP/1.0 has no such rule.
    assert_eq!(raw_request(&app, b"GET /v2/ HTTP/1.0\r\n\r\n").await.0, 200);
}

#[tokio::test]
async fn a_declared_body_past_the_largest_blob_is_refused_before_it_is_read() {
    let app = TestApp::start().await;
    let host = app.host();
    let digest = sha256(b"x");
    let location = app.start_upload("edge/huge").await;
    let location = location.trim_start_matches(&app.base_url);
    let separator = if location.contains('?') { '&' } else { '?' };
    for target in [
        format!("POST /v2/edge/huge/blobs/uploads/?digest={digest}"),
        format!("PATCH {location}"),
        format!("PUT {location}{separator}digest={digest}"),
    ] {
        let request = format!(
            "{target} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/octet-stream\r\n\
             content-length: 1000000000000000000\r\n\r\nonly a few bytes of it"
        );
        let (status, answer) = raw_request(&app, request.as_bytes()).await;
        assert_eq!(status, 413, "{target}: {answer}");
        // The body of the answer is an OCI error.
        assert!(answer.contains("\"SIZE_INVALID\""), "{target}: {answer}");
    }
    // The session is untouched and the registry stored nothing.
    assert_eq!(app.get(location).await.headers()["range"], "0-0");
    assert!(app.stored_blobs().await.is_empty());
}

const CPU: &str = "llm-worker-rbee-cpu";

/// The `download_url` the registry answers to a request with `headers`.
async fn download_url(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let mut request = app
        .client
        .get(app.url(&format!("/v1/workers/{CPU}/0.1.0/download?platform=linux/amd64")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["download_url"].as_str().unwrap().to_string()
}

const FORGED: &[(&str, &str)] = &[
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-proto", "https"),
    ("forwarded", "host=evil.example;proto=https"),
];

async fn app_with_a_worker(file: FileConfig) -> (TestApp, tempfile::TempDir) {
    let app = TestApp::start_with_file(file).await;
    let work = tempfile::tempdir().unwrap();
    publish_worker(&app, work.path(), CPU, "0.1.0", &["linux/amd64"], None).await;
    (app, work)
}

#[tokio::test]
async fn download_urls_come_from_the_public_url_not_the_client() {
    // Default: the listen address, whatever the client claims.
    let (app, _work) = app_with_a_worker(FileConfig::default()).await;
    let path = "/v1/blobs/sha256:";
    for headers in [&[][..], FORGED, &[("host", "evil.example")][..]] {
        let url = download_url(&app, headers).await;
        assert!(url.starts_with(&app.url(path)), "{headers:?}: {url}");
    }
    let bytes = app.client.get(download_url(&app, FORGED).await).send().await.unwrap();
    assert_eq!(bytes.status(), 200);

    // A configured public URL.
    let (app, _work) = app_with_a_worker(FileConfig {
        public_url: Some(PublicUrl::parse("https://registry.example.com").unwrap()),
        ..FileConfig::default()
    })
    .await;
    for headers in [&[][..], FORGED] {
        let url = download_url(&app, headers).await;
        assert!(url.starts_with(&format!("https://registry.example.com{path}")), "{url}");
    }
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let (app, _work) = app_with_a_worker(FileConfig {
        public_url: Some(PublicUrl::parse("https://registry.example.com").unwrap()),
        trusted_proxies: Some(TrustedProxies::from_text("10.0.0.0/8").unwrap()),
        ..FileConfig::default()
    })
    .await;
    let url = download_url(&app, FORGED).await;
    assert!(url.starts_with("https://registry.example.com/v1/blobs/"), "{url}");

    // The test client connects from 127.0.0.1: trusted here.
    let (app, _work) = app_with_a_worker(FileConfig {
        trusted_proxies: Some(TrustedProxies::from_text("127.0.0.0/8, ::1").unwrap()),
        ..FileConfig::default()
    })
    .await;
    let url = download_url(
        &app,
        &[
            ("x-forwarded-host", "mirror.example:8443"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert!(url.starts_with("https://mirror.example:8443/v1/blobs/"), "{url}");
    let url = download_url(&app, &[("forwarded", "for=192.0.2.1;host=a.example;proto=http")]).await;
    assert!(url.starts_with("http://a.example/v1/blobs/"), "{url}");
    // A forwarded value that is no host is ignored.
    let url = download_url(&app, &[("x-forwarded-host", "a.example/evil?")]).await;
    assert!(url.starts_with(&app.url("/v1/blobs/")), "{url}");
}
