//! rbee-conformance: an OCI Distribution Specification (v1.1) conformance
//! harness.
//!
//! It talks plain HTTP to a registry given by its base URL and runs the four
//! workflow categories of the spec (pull, push, content discovery, content
//! management) plus the v1.1 referrers API. Every check prints one line:
//!
//!   PASS <workflow>: <check>
//!   FAIL <workflow>: <check>: <why>
//!
//! followed by `N passed, N failed` and, when checks of v1.1-only features
//! (marked `[v1.1]` in their name) failed, `v1.1-only failures: K`.
//! The exit code is 0 when nothing failed, 1 otherwise, 2 on usage errors.
//!
//! The checks are written from the text of the distribution-spec `spec.md`
//! (v1.1.x). This program is deliberately independent of the registry's own
//! code: it only speaks HTTP.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Write};
use std::time::Duration;

use clap::Parser;
use reqwest::blocking::{Body, Client as HttpClient};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use url::Url;

// ---------------------------------------------------------------------------
// Media types and error codes
// ---------------------------------------------------------------------------

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Artifact types used by the referrers checks.
const ART_SBOM: &str = "application/vnd.rbee.conformance.sbom.v1+json";
const ART_SIG_CONFIG: &str = "application/vnd.rbee.conformance.signature.config.v1+json";
const ART_OTHER: &str = "application/vnd.rbee.conformance.other.v1+json";

/// Every manifest media type we push, for the `Accept` header of pulls.
const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// The error codes of the spec's "Error Codes" table.
const SPEC_ERROR_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

/// Legacy Docker codes the spec says a client MAY encounter.
const LEGACY_ERROR_CODES: &[&str] = &["TAG_INVALID", "MANIFEST_UNVERIFIED", "UNKNOWN"];

/// Marker for checks of features that only exist since distribution-spec v1.1.
const V11: &str = "[v1.1]";

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

#[derive(Parser, Debug)]
#[command(
    name = "rbee-conformance",
    version,
    about = "OCI Distribution Specification v1.1 conformance checks against a running registry",
    after_help = "Output: one `PASS <workflow>: <check>` or `FAIL <workflow>: <check>: <why>` line \
per check, then `N passed, N failed`. Checks marked [v1.1] exercise features added in \
distribution-spec v1.1. Exit code 0 when no check failed, 1 otherwise."
)]
struct Args {
    /// Registry base URL, e.g. http://127.0.0.1:5000 (the API lives under /v2/).
    base_url: String,

    /// Repository used for the tests (nested names allowed).
    /// Default: conformance/test-<random>.
    #[arg(long, env = "RBEE_CONFORMANCE_NAMESPACE")]
    namespace: Option<String>,

    /// Second repository, target of the cross-repository mount checks.
    /// Default: <namespace>-cross.
    #[arg(long, env = "RBEE_CONFORMANCE_CROSS_NAMESPACE")]
    cross_namespace: Option<String>,

    /// User name for Basic auth or for the token (Bearer) flow.
    #[arg(long, env = "RBEE_CONFORMANCE_USERNAME")]
    username: Option<String>,

    /// Password for Basic auth or for the token (Bearer) flow.
    #[arg(long, env = "RBEE_CONFORMANCE_PASSWORD", hide_env_values = true)]
    password: Option<String>,

    /// Also require behaviours the spec leaves optional (MAY/SHOULD): a single-POST
    /// upload answered 201, tag deletion (202), rejection of manifests that
    /// reference unknown blobs, 413 for an oversized manifest, a Link header on a
    /// truncated tag list and the referrers artifactType filter. Without it, every
    /// alternative the spec permits passes.
    #[arg(long)]
    strict: bool,

    /// Keep the pushed content (no clean-up at the end).
    #[arg(long)]
    no_cleanup: bool,

    /// Trace every request and print notes on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// xorshift64* seeded from a v4 UUID: plenty for test content.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = uuid::Uuid::new_v4().as_u128();
        Rng(((seed >> 64) as u64 ^ seed as u64) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut rng = Rng::new();
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Short random lowercase hex string for tags and names.
fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// A sha256 digest that (with overwhelming probability) no registry holds.
fn unknown_digest() -> String {
    sha256_digest(&random_bytes(64))
}

fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c })
        .collect();
    if out.chars().count() > max {
        out = out.chars().take(max).collect::<String>() + "...";
    }
    out
}

fn media_type_only(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Lexical order as the spec allows it: case-insensitive, or plain byte
/// ("ASCIIbetical") order.
fn is_lexically_sorted(v: &[String]) -> bool {
    v.windows(2).all(|w| w[0] <= w[1]) || v.windows(2).all(|w| w[0].to_lowercase() <= w[1].to_lowercase())
}

/// Parses an RFC 5988 `Link` header value, returning the target of rel="next".
fn link_next(value: &str) -> Option<String> {
    for part in value.split(',') {
        let part = part.trim();
        let (Some(start), Some(end)) = (part.find('<'), part.find('>')) else {
            continue;
        };
        if end <= start {
            continue;
        }
        let target = &part[start + 1..end];
        let params = &part[end + 1..];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if is_next {
            return Some(target.to_string());
        }
    }
    None
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Runs a block as one check and records the outcome.
macro_rules! check {
    ($rep:expr, $wf:expr, $name:expr, $body:block) => {{
        #[allow(unused_mut)]
        let result: Result<(), String> = (|| -> Result<(), String> { $body })();
        $rep.record($wf, &$name, result);
    }};
}

fn need<'a, T>(v: &'a Option<T>, what: &str) -> Result<&'a T, String> {
    v.as_ref()
        .ok_or_else(|| format!("not run: prerequisite failed ({what})"))
}

// ---------------------------------------------------------------------------
// HTTP layer
// ---------------------------------------------------------------------------

#[derive(Clone)]
enum ReqBody {
    Empty,
    Bytes(Vec<u8>),
    /// Sent with chunked transfer encoding (no Content-Length).
    Stream(Vec<u8>),
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    method: Method,
    url: Url,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
    }

    fn all_headers(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .collect()
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `code`s of a spec error document, or None when the body is not one.
    fn error_codes(&self) -> Option<Vec<String>> {
        let v = self.json()?;
        let errs = v.get("errors")?.as_array()?;
        Some(
            errs.iter()
                .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(String::from))
                .collect(),
        )
    }

    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let path = self.url.path();
        if body.trim().is_empty() {
            format!("{} {} -> HTTP {}", self.method, path, self.status)
        } else {
            format!(
                "{} {} -> HTTP {} body: {}",
                self.method,
                path,
                self.status,
                one_line(&body, 240)
            )
        }
    }

    fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|c| media_type_only(&c))
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

struct Registry {
    http: HttpClient,
    base: Url,
    creds: Option<(String, String)>,
    /// Authorization header values by repository name ("" for non-repository
    /// endpoints, "*" for Basic credentials that apply everywhere).
    auth: RefCell<HashMap<String, String>>,
    verbose: bool,
}

fn repo_of_path(path: &str) -> String {
    let Some(p) = path.strip_prefix("/v2/") else {
        return String::new();
    };
    let mut best: Option<usize> = None;
    for marker in ["/blobs/", "/manifests/", "/tags/", "/referrers/"] {
        if let Some(i) = p.find(marker) {
            best = Some(best.map_or(i, |b| b.min(i)));
        }
    }
    best.map(|i| p[..i].to_string()).unwrap_or_default()
}

/// Parses `Bearer realm="...",service="...",scope="..."`.
fn parse_challenge(value: &str) -> (String, BTreeMap<String, String>) {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n)
                        }
                    }
                    '"' => break,
                    _ => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), val.trim().to_string());
    }
    (scheme.to_ascii_lowercase(), params)
}

impl Registry {
    fn url(&self, path_and_query: &str) -> Result<Url, String> {
        self.base
            .join(path_and_query)
            .map_err(|e| format!("bad URL {path_and_query}: {e}"))
    }

    /// Resolves a `Location` header value (absolute or relative).
    fn resolve(&self, resp: &Resp, location: &str) -> Result<Url, String> {
        resp.url
            .join(location)
            .map_err(|e| format!("unusable Location {location:?}: {e}"))
    }

    fn raw(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(&str, String)],
        body: &ReqBody,
        authorization: Option<&str>,
    ) -> Result<Resp, String> {
        let mut rb = self.http.request(method.clone(), url.clone());
        for (k, v) in headers {
            rb = rb.header(*k, v.as_str());
        }
        if let Some(a) = authorization {
            rb = rb.header("Authorization", a);
        }
        rb = match body {
            ReqBody::Empty => {
                if *method == Method::GET || *method == Method::HEAD || *method == Method::DELETE {
                    rb
                } else {
                    rb.body(Vec::new())
                }
            }
            ReqBody::Bytes(b) => rb.body(b.clone()),
            ReqBody::Stream(b) => rb.body(Body::new(Cursor::new(b.clone()))),
        };
        if self.verbose {
            eprintln!("> {method} {url}");
        }
        let resp = rb
            .send()
            .map_err(|e| format!("{method} {} failed: {}", url.path(), error_chain(&e)))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let final_url = resp.url().clone();
        let body = resp
            .bytes()
            .map_err(|e| format!("{method} {}: reading body failed: {}", url.path(), error_chain(&e)))?
            .to_vec();
        if self.verbose {
            eprintln!("< {status} ({} bytes)", body.len());
        }
        Ok(Resp {
            status,
            headers,
            body,
            method: method.clone(),
            url: final_url,
        })
    }

    fn auth_for(&self, key: &str) -> Option<String> {
        let auth = self.auth.borrow();
        auth.get(key).or_else(|| auth.get("*")).cloned()
    }

    /// Obtains credentials for a 401 challenge. Returns false when none can
    /// be had (no credentials, unknown scheme, token endpoint failure).
    fn authenticate(&self, resp: &Resp, key: &str) -> bool {
        let Some((user, pass)) = &self.creds else {
            return false;
        };
        let Some(challenge) = resp.header("www-authenticate") else {
            return false;
        };
        let (scheme, params) = parse_challenge(&challenge);
        match scheme.as_str() {
            "basic" => {
                let value = basic_auth_value(user, pass);
                self.auth.borrow_mut().insert("*".into(), value);
                true
            }
            "bearer" => {
                let Some(realm) = params.get("realm") else {
                    return false;
                };
                let Ok(mut token_url) = Url::parse(realm) else {
                    return false;
                };
                {
                    let mut q = token_url.query_pairs_mut();
                    if let Some(s) = params.get("service") {
                        q.append_pair("service", s);
                    }
                    if let Some(s) = params.get("scope") {
                        q.append_pair("scope", s);
                    }
                    if !key.is_empty() {
                        q.append_pair("scope", &format!("repository:{key}:pull,push,delete"));
                    }
                    for (k, v) in resp.url.query_pairs() {
                        if k == "from" {
                            q.append_pair("scope", &format!("repository:{v}:pull"));
                        }
                    }
                }
                let r = self.http.get(token_url).basic_auth(user, Some(pass)).send();
                let Ok(r) = r else { return false };
                if !r.status().is_success() {
                    return false;
                }
                let Ok(v) = r.json::<Value>() else { return false };
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str());
                match token {
                    Some(t) => {
                        self.auth.borrow_mut().insert(key.to_string(), format!("Bearer {t}"));
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Sends a request, answering one authentication challenge if needed.
    fn send(&self, method: Method, url: Url, headers: &[(&str, String)], body: ReqBody) -> Result<Resp, String> {
        let key = repo_of_path(url.path());
        let auth = self.auth_for(&key);
        let resp = self.raw(&method, &url, headers, &body, auth.as_deref())?;
        if resp.status == 401 && self.authenticate(&resp, &key) {
            let auth = self.auth_for(&key);
            return self.raw(&method, &url, headers, &body, auth.as_deref());
        }
        Ok(resp)
    }

    fn req(&self, method: Method, path: &str, headers: &[(&str, String)], body: ReqBody) -> Result<Resp, String> {
        let url = self.url(path)?;
        self.send(method, url, headers, body)
    }

    fn get(&self, path: &str) -> Result<Resp, String> {
        self.req(Method::GET, path, &[], ReqBody::Empty)
    }

    fn head(&self, path: &str) -> Result<Resp, String> {
        self.req(Method::HEAD, path, &[], ReqBody::Empty)
    }

    fn delete(&self, path: &str) -> Result<Resp, String> {
        self.req(Method::DELETE, path, &[], ReqBody::Empty)
    }

    fn get_manifest(&self, repo: &str, reference: &str) -> Result<Resp, String> {
        self.req(
            Method::GET,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", ACCEPT_ALL.to_string())],
            ReqBody::Empty,
        )
    }

    fn head_manifest(&self, repo: &str, reference: &str) -> Result<Resp, String> {
        self.req(
            Method::HEAD,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", ACCEPT_ALL.to_string())],
            ReqBody::Empty,
        )
    }

    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Resp, String> {
        self.req(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type.to_string())],
            ReqBody::Bytes(bytes.to_vec()),
        )
    }
}

fn basic_auth_value(user: &str, pass: &str) -> String {
    // Minimal base64 to avoid another dependency.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    format!("Basic {out}")
}

/// An error with its chain of causes ("connection refused" lives in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = c.source();
    }
    out
}

fn with_query(url: &Url, key: &str, value: &str) -> Url {
    let mut u = url.clone();
    u.query_pairs_mut().append_pair(key, value);
    u
}

// ---------------------------------------------------------------------------
// Assertions on responses
// ---------------------------------------------------------------------------

fn expect_status(r: &Resp, allowed: &[u16]) -> Result<(), String> {
    if allowed.contains(&r.status) {
        return Ok(());
    }
    let want = allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" or ");
    Err(format!("expected HTTP {want}, got: {}", r.describe()))
}

/// Status must be allowed and the body a JSON error document holding one of `codes`.
fn expect_error(r: &Resp, allowed: &[u16], codes: &[&str]) -> Result<(), String> {
    expect_status(r, allowed)?;
    let got = r.error_codes().ok_or_else(|| {
        format!(
            "expected a JSON error body with code {}, got: {}",
            codes.join(" or "),
            r.describe()
        )
    })?;
    ensure!(
        got.iter().any(|c| codes.contains(&c.as_str())),
        "expected error code {}, got {:?} ({})",
        codes.join(" or "),
        got,
        r.describe()
    );
    Ok(())
}

/// A 4xx body MAY be in any format; when it is JSON it MUST be the spec's
/// error document with codes from the spec's table.
fn expect_spec_error_format_if_json(r: &Resp) -> Result<(), String> {
    let Some(v) = r.json() else { return Ok(()) };
    let errs = v
        .get("errors")
        .and_then(|e| e.as_array())
        .ok_or_else(|| format!("JSON error body without an `errors` array: {}", r.describe()))?;
    for e in errs {
        let code = e
            .get("code")
            .and_then(|c| c.as_str())
            .ok_or_else(|| format!("error entry without a string `code`: {}", r.describe()))?;
        ensure!(
            SPEC_ERROR_CODES.contains(&code) || LEGACY_ERROR_CODES.contains(&code),
            "error code {code:?} is not one of the spec's codes ({})",
            r.describe()
        );
    }
    Ok(())
}

fn expect_header_eq(r: &Resp, name: &str, want: &str) -> Result<(), String> {
    match r.header(name) {
        Some(v) if v == want => Ok(()),
        Some(v) => Err(format!("{name} is {v:?}, expected {want:?} ({})", r.describe())),
        None => Err(format!("{name} header missing ({})", r.describe())),
    }
}

fn expect_body_eq(r: &Resp, want: &[u8]) -> Result<(), String> {
    if r.body == want {
        return Ok(());
    }
    Err(format!(
        "body differs from what was pushed: got {} bytes (sha256 {}), expected {} bytes (sha256 {})",
        r.body.len(),
        sha256_digest(&r.body),
        want.len(),
        sha256_digest(want)
    ))
}

fn expect_content_type(r: &Resp, want: &str) -> Result<(), String> {
    match r.content_type() {
        Some(ct) if ct == want => Ok(()),
        Some(ct) => Err(format!("Content-Type is {ct:?}, expected {want:?}")),
        None => Err(format!("Content-Type missing, expected {want:?}")),
    }
}

fn location_of(reg: &Registry, r: &Resp) -> Result<Url, String> {
    let loc = r
        .header("location")
        .ok_or_else(|| format!("Location header missing ({})", r.describe()))?;
    ensure!(!loc.is_empty(), "Location header empty");
    reg.resolve(r, &loc)
}

/// Parses an upload `Range: 0-<end>` header, returning `end`.
fn upload_range_end(r: &Resp) -> Result<i64, String> {
    let v = r
        .header("range")
        .ok_or_else(|| format!("Range header missing ({})", r.describe()))?;
    let (a, b) = v
        .split_once('-')
        .ok_or_else(|| format!("Range header {v:?} is not <start>-<end>"))?;
    ensure!(a == "0", "Range header {v:?} does not start at 0");
    b.parse::<i64>()
        .map_err(|_| format!("Range header {v:?} has a non-numeric end"))
}

// ---------------------------------------------------------------------------
// Test context, content builders and clean-up
// ---------------------------------------------------------------------------

enum Cleanup {
    Manifest(String, String),
    Blob(String, String),
}

struct Env {
    reg: Registry,
    ns: String,
    cross: String,
    strict: bool,
    verbose: bool,
    cleanup: RefCell<Vec<Cleanup>>,
}

/// An image pushed for a workflow's own use.
struct Image {
    config: Vec<u8>,
    config_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
    manifest: Vec<u8>,
    digest: String,
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": sha256_digest(bytes),
        "size": bytes.len(),
    })
}

fn oci_config(layer_digests: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "rbee.conformance.nonce": uuid::Uuid::new_v4().to_string() } },
        "rootfs": { "type": "layers", "diff_ids": layer_digests },
    }))
    .unwrap()
}

/// An OCI image manifest. `extra` fields (artifactType, subject, annotations)
/// are merged in.
fn oci_manifest(config: Value, layers: Vec<Value>, extra: Value) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("schemaVersion".into(), json!(2));
    m.insert("mediaType".into(), json!(OCI_MANIFEST));
    m.insert("config".into(), config);
    m.insert("layers".into(), Value::Array(layers));
    if let Value::Object(e) = extra {
        for (k, v) in e {
            m.insert(k, v);
        }
    }
    serde_json::to_vec(&Value::Object(m)).unwrap()
}

impl Env {
    fn note(&self, msg: &str) {
        if self.verbose {
            eprintln!("note: {msg}");
        }
    }

    fn remember_blob(&self, repo: &str, digest: &str) {
        self.cleanup
            .borrow_mut()
            .push(Cleanup::Blob(repo.to_string(), digest.to_string()));
    }

    fn remember_manifest(&self, repo: &str, digest: &str) {
        self.cleanup
            .borrow_mut()
            .push(Cleanup::Manifest(repo.to_string(), digest.to_string()));
    }

    /// POST then PUT (the upload method every registry must support).
    fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<String, String> {
        let digest = sha256_digest(bytes);
        let r = self
            .reg
            .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], ReqBody::Empty)?;
        expect_status(&r, &[202])?;
        let loc = location_of(&self.reg, &r)?;
        let r = self.reg.send(
            Method::PUT,
            with_query(&loc, "digest", &digest),
            &[("Content-Type", "application/octet-stream".into())],
            ReqBody::Bytes(bytes.to_vec()),
        )?;
        expect_status(&r, &[201]).map_err(|e| format!("blob push failed: {e}"))?;
        self.remember_blob(repo, &digest);
        Ok(digest)
    }

    fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String, String> {
        let digest = sha256_digest(bytes);
        let r = self.reg.put_manifest(repo, reference, media_type, bytes)?;
        expect_status(&r, &[201]).map_err(|e| format!("manifest push failed: {e}"))?;
        self.remember_manifest(repo, &digest);
        Ok(digest)
    }

    /// Pushes a config blob, one random layer and an OCI image manifest
    /// under `reference` (a tag or the manifest's digest when None).
    fn push_image(&self, repo: &str, tag: Option<&str>, layer_size: usize) -> Result<Image, String> {
        let layer = random_bytes(layer_size);
        let layer_digest = self.push_blob(repo, &layer)?;
        let config = oci_config(&[&layer_digest]);
        let config_digest = self.push_blob(repo, &config)?;
        let manifest = oci_manifest(
            descriptor(OCI_CONFIG, &config),
            vec![descriptor(OCI_LAYER, &layer)],
            json!({}),
        );
        let digest = sha256_digest(&manifest);
        let reference = tag.map(String::from).unwrap_or_else(|| digest.clone());
        self.push_manifest(repo, &reference, OCI_MANIFEST, &manifest)?;
        Ok(Image {
            config,
            config_digest,
            layer,
            layer_digest,
            manifest,
            digest,
        })
    }

    /// Cancels an upload session, best effort.
    fn cancel_upload(&self, loc: &Url) {
        match self.reg.send(Method::DELETE, loc.clone(), &[], ReqBody::Empty) {
            Ok(r) if r.status == 204 || r.status == 404 => {}
            Ok(r) => self.note(&format!("cancelling upload: {}", r.describe())),
            Err(e) => self.note(&format!("cancelling upload: {e}")),
        }
    }

    fn run_cleanup(&self) {
        let items = std::mem::take(&mut *self.cleanup.borrow_mut());
        let mut failed = 0;
        // Manifests first (newest first, so indexes go before their children),
        // then blobs.
        for item in items.iter().rev() {
            if let Cleanup::Manifest(repo, d) = item {
                match self.reg.delete(&format!("/v2/{repo}/manifests/{d}")) {
                    Ok(r) if r.status == 202 || r.status == 404 => {}
                    _ => failed += 1,
                }
            }
        }
        for item in items.iter().rev() {
            if let Cleanup::Blob(repo, d) = item {
                match self.reg.delete(&format!("/v2/{repo}/blobs/{d}")) {
                    Ok(r) if r.status == 202 || r.status == 404 => {}
                    _ => failed += 1,
                }
            }
        }
        if failed > 0 {
            self.note(&format!("clean-up: {failed} deletions failed"));
        }
    }
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
    v11_failed: usize,
}

impl Report {
    fn record(&mut self, workflow: &str, name: &str, result: Result<(), String>) {
        let mut out = std::io::stdout().lock();
        match result {
            Ok(()) => {
                self.passed += 1;
                let _ = writeln!(out, "PASS {workflow}: {name}");
            }
            Err(why) => {
                self.failed += 1;
                if name.contains(V11) {
                    self.v11_failed += 1;
                }
                let _ = writeln!(out, "FAIL {workflow}: {name}: {}", one_line(&why, 600));
            }
        }
        let _ = out.flush();
    }
}

// ---------------------------------------------------------------------------
// Workflows
// ---------------------------------------------------------------------------

/// Returns false when the registry could not be reached at all.
fn wf_base(env: &Env, rep: &mut Report) -> bool {
    let wf = "base";
    let mut reachable = false;
    check!(
        rep,
        wf,
        "GET /v2/ returns 200 (401 only with a WWW-Authenticate challenge that the given credentials satisfy)",
        {
            let url = env.reg.url("/v2/")?;
            let r = env.reg.raw(&Method::GET, &url, &[], &ReqBody::Empty, None)?;
            reachable = true;
            match r.status {
                200 => Ok(()),
                401 => {
                    ensure!(
                        r.header("www-authenticate").is_some(),
                        "401 without a WWW-Authenticate header"
                    );
                    ensure!(
                        env.reg.creds.is_some(),
                        "registry requires authentication (401) but no --username/--password was given"
                    );
                    let r = env.reg.get("/v2/")?;
                    expect_status(&r, &[200]).map_err(|e| format!("after authenticating: {e}"))
                }
                _ => expect_status(&r, &[200]),
            }
        }
    );
    reachable
}

fn wf_pull(env: &Env, rep: &mut Report) {
    let wf = "pull";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let tag = format!("pull-{}", short_id());
    let mut img: Option<Image> = None;

    check!(
        rep,
        wf,
        "setup: push a config blob, a layer blob and a tagged OCI image manifest",
        {
            img = Some(env.push_image(ns, Some(&tag), 64 * 1024 + 123)?);
            Ok(())
        }
    );
    let img = &img;

    check!(rep, wf, "HEAD existing blob returns 200", {
        let i = need(img, "setup")?;
        let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
        expect_status(&r, &[200])
    });

    check!(
        rep,
        wf,
        "HEAD existing blob has Content-Length equal to the blob size",
        {
            let i = need(img, "setup")?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[200])?;
            let len = r.content_length().ok_or("Content-Length header missing")?;
            ensure!(
                len == i.layer.len() as u64,
                "Content-Length {len}, expected {}",
                i.layer.len()
            );
            ensure!(
                r.body.is_empty(),
                "HEAD response carried a body of {} bytes",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "HEAD existing blob has Docker-Content-Digest equal to the digest",
        {
            let i = need(img, "setup")?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[200])?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.layer_digest)
        }
    );

    check!(
        rep,
        wf,
        "GET existing blob returns 200 and a body whose sha256 equals the digest",
        {
            let i = need(img, "setup")?;
            let r = reg.get(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[200])?;
            ensure!(
                sha256_digest(&r.body) == i.layer_digest,
                "body digest {} != requested {}",
                sha256_digest(&r.body),
                i.layer_digest
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "GET existing blob has Content-Length and Docker-Content-Digest matching the blob",
        {
            let i = need(img, "setup")?;
            let r = reg.get(&format!("/v2/{ns}/blobs/{}", i.config_digest))?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &i.config)?;
            let len = r.content_length().ok_or("Content-Length header missing")?;
            ensure!(
                len == i.config.len() as u64,
                "Content-Length {len}, expected {}",
                i.config.len()
            );
            expect_header_eq(&r, "Docker-Content-Digest", &i.config_digest)
        }
    );

    check!(
        rep,
        wf,
        "GET blob with Range bytes=100-1123 returns 206, Content-Range and exactly those bytes",
        {
            let i = need(img, "setup")?;
            let r = reg.req(
                Method::GET,
                &format!("/v2/{ns}/blobs/{}", i.layer_digest),
                &[("Range", "bytes=100-1123".into())],
                ReqBody::Empty,
            )?;
            expect_status(&r, &[206])?;
            let want_cr = format!("bytes 100-1123/{}", i.layer.len());
            expect_header_eq(&r, "Content-Range", &want_cr)?;
            ensure!(
                r.body == i.layer[100..1124],
                "got {} bytes that are not bytes 100..=1123 of the blob",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "GET blob with an open-ended Range bytes=<n>- returns 206 and the tail of the blob",
        {
            let i = need(img, "setup")?;
            let start = i.layer.len() - 77;
            let r = reg.req(
                Method::GET,
                &format!("/v2/{ns}/blobs/{}", i.layer_digest),
                &[("Range", format!("bytes={start}-"))],
                ReqBody::Empty,
            )?;
            expect_status(&r, &[206])?;
            let want_cr = format!("bytes {start}-{}/{}", i.layer.len() - 1, i.layer.len());
            expect_header_eq(&r, "Content-Range", &want_cr)?;
            ensure!(
                r.body == i.layer[start..],
                "got {} bytes that are not the last 77 bytes",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(rep, wf, "HEAD unknown blob returns 404", {
        let r = reg.head(&format!("/v2/{ns}/blobs/{}", unknown_digest()))?;
        expect_status(&r, &[404])
    });

    check!(rep, wf, "GET unknown blob returns 404 with error code BLOB_UNKNOWN", {
        let r = reg.get(&format!("/v2/{ns}/blobs/{}", unknown_digest()))?;
        expect_error(&r, &[404], &["BLOB_UNKNOWN"])
    });

    check!(
        rep,
        wf,
        "GET manifest by tag returns 200, the pushed bytes and Content-Type of the OCI image manifest",
        {
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &tag)?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &i.manifest)?;
            expect_content_type(&r, OCI_MANIFEST)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest by tag has Docker-Content-Digest equal to the manifest digest",
        {
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &tag)?;
            expect_status(&r, &[200])?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.digest)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest by digest returns 200, bytes whose sha256 equals the digest, and the OCI Content-Type",
        {
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &i.digest)?;
            expect_status(&r, &[200])?;
            ensure!(
                sha256_digest(&r.body) == i.digest,
                "body digest {} != requested {}",
                sha256_digest(&r.body),
                i.digest
            );
            expect_content_type(&r, OCI_MANIFEST)?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.digest)
        }
    );

    check!(
        rep,
        wf,
        "HEAD manifest by tag returns 200 with Docker-Content-Digest and Content-Length of the manifest",
        {
            let i = need(img, "setup")?;
            let r = reg.head_manifest(ns, &tag)?;
            expect_status(&r, &[200])?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.digest)?;
            let len = r.content_length().ok_or("Content-Length header missing")?;
            ensure!(
                len == i.manifest.len() as u64,
                "Content-Length {len}, expected {}",
                i.manifest.len()
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "HEAD manifest by digest returns 200 with the OCI Content-Type and no body",
        {
            let i = need(img, "setup")?;
            let r = reg.head_manifest(ns, &i.digest)?;
            expect_status(&r, &[200])?;
            expect_content_type(&r, OCI_MANIFEST)?;
            ensure!(
                r.body.is_empty(),
                "HEAD response carried a body of {} bytes",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(rep, wf, "HEAD manifest of an unknown tag returns 404", {
        let r = reg.head_manifest(ns, &format!("missing-{}", short_id()))?;
        expect_status(&r, &[404])
    });

    check!(
        rep,
        wf,
        "GET manifest of an unknown tag returns 404 with error code MANIFEST_UNKNOWN",
        {
            let r = reg.get_manifest(ns, &format!("missing-{}", short_id()))?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(rep, wf, "HEAD manifest of an unknown digest returns 404", {
        let r = reg.head_manifest(ns, &unknown_digest())?;
        expect_status(&r, &[404])
    });

    check!(
        rep,
        wf,
        "GET manifest of an unknown digest returns 404 with error code MANIFEST_UNKNOWN",
        {
            let r = reg.get_manifest(ns, &unknown_digest())?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "GET manifest in a repository that does not exist returns 404 (NAME_UNKNOWN or MANIFEST_UNKNOWN)",
        {
            let repo = format!("{ns}-missing-{}", short_id());
            let r = reg.get_manifest(&repo, "latest")?;
            expect_error(&r, &[404], &["NAME_UNKNOWN", "MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "GET an existing blob through a repository that does not hold it returns 404",
        {
            let i = need(img, "setup")?;
            let repo = format!("{ns}-missing-{}", short_id());
            let r = reg.get(&format!("/v2/{repo}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[404])?;
            expect_spec_error_format_if_json(&r)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest with an invalid repository name (uppercase) returns 400 or 404 with spec error codes",
        {
            let r = reg.get_manifest(&format!("Conformance/INVALID-{}", short_id()), "latest")?;
            expect_status(&r, &[400, 404])?;
            expect_spec_error_format_if_json(&r)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest with a malformed reference (sha256:totallywrong) returns 400 or 404 with spec error codes",
        {
            let r = reg.get_manifest(ns, "sha256:totallywrong")?;
            expect_status(&r, &[400, 404]).map_err(|e| {
            if r.status >= 500 {
                format!("{e} (a server error for an invalid reference; CNCF distribution 2.8 is known to answer 500 here)")
            } else {
                e
            }
        })?;
            expect_spec_error_format_if_json(&r)
        }
    );
}

fn wf_push(env: &Env, rep: &mut Report) {
    let wf = "push";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let cross = env.cross.as_str();
    let uploads = format!("/v2/{ns}/blobs/uploads/");
    let octet = || ("Content-Type", "application/octet-stream".to_string());

    // --- POST then PUT ------------------------------------------------------
    let blob_a = random_bytes(3000);
    let digest_a = sha256_digest(&blob_a);
    let mut loc_a: Option<Url> = None;
    let mut blob_loc_a: Option<Url> = None;

    check!(rep, wf, "POST /blobs/uploads/ returns 202 with a Location", {
        let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
        expect_status(&r, &[202])?;
        loc_a = Some(location_of(reg, &r)?);
        Ok(())
    });

    check!(
        rep,
        wf,
        "PUT <location>?digest= with the whole blob returns 201 with a Location",
        {
            let loc = need(&loc_a, "POST")?;
            let r = reg.send(
                Method::PUT,
                with_query(loc, "digest", &digest_a),
                &[octet()],
                ReqBody::Bytes(blob_a.clone()),
            )?;
            expect_status(&r, &[201])?;
            env.remember_blob(ns, &digest_a);
            blob_loc_a = Some(location_of(reg, &r)?);
            if let Some(d) = r.header("docker-content-digest") {
                ensure!(d == digest_a, "Docker-Content-Digest {d} != {digest_a}");
            }
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "the Location returned by the blob PUT is pullable and serves the blob",
        {
            let loc = need(&blob_loc_a, "PUT")?;
            let r = reg.send(Method::GET, loc.clone(), &[], ReqBody::Empty)?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &blob_a)
        }
    );

    // --- single POST ---------------------------------------------------------
    let blob_b = random_bytes(2048);
    let digest_b = sha256_digest(&blob_b);
    check!(rep, wf, "single POST ?digest= with the blob returns 201 with a Location (spec-allowed fallback without --strict: 202 then PUT)", {
        let r = reg.req(
            Method::POST,
            &format!("{uploads}?digest={digest_b}"),
            &[octet()],
            ReqBody::Bytes(blob_b.clone()),
        )?;
        match r.status {
            201 => {
                env.remember_blob(ns, &digest_b);
                location_of(reg, &r)?;
            }
            202 if !env.strict => {
                env.note("single-POST upload not supported (202); completing with PUT as the spec allows");
                let loc = location_of(reg, &r)?;
                let r2 = reg.send(
                    Method::PUT,
                    with_query(&loc, "digest", &digest_b),
                    &[octet()],
                    ReqBody::Bytes(blob_b.clone()),
                )?;
                expect_status(&r2, &[201]).map_err(|e| format!("after 202 fallback: {e}"))?;
                env.remember_blob(ns, &digest_b);
            }
            202 => {
                return Err(format!(
                    "answered 202 (single-POST upload unsupported; the spec permits this, --strict does not): {}",
                    r.describe()
                ))
            }
            _ => expect_status(&r, &[201, 202])?,
        }
        let h = reg.head(&format!("/v2/{ns}/blobs/{digest_b}"))?;
        expect_status(&h, &[200]).map_err(|e| format!("blob not present afterwards: {e}"))
    });

    // --- chunked ---------------------------------------------------------------
    let mut loc_c: Option<Url> = None;
    let mut min_chunk = 0usize;

    check!(
        rep,
        wf,
        "chunked: POST with Content-Length 0 returns 202 with a Location",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            loc_c = Some(location_of(reg, &r)?);
            if let Some(v) = r.header("oci-chunk-min-length") {
                min_chunk = v
                    .parse()
                    .map_err(|_| format!("OCI-Chunk-Min-Length {v:?} is not an integer"))?;
            }
            Ok(())
        }
    );
    // Non-final chunks SHOULD be at least OCI-Chunk-Min-Length (v1.1) bytes.
    let chunk_size = min_chunk.clamp(64 * 1024, 64 * 1024 * 1024);
    if min_chunk > 0 {
        env.note(&format!(
            "OCI-Chunk-Min-Length {min_chunk}; using chunks of {chunk_size} bytes"
        ));
    }
    let blob_c = random_bytes(chunk_size * 2 + 999);
    let digest_c = sha256_digest(&blob_c);

    check!(
        rep,
        wf,
        "chunked: first PATCH with Content-Range 0-<n> returns 202, a Location and Range 0-<n>",
        {
            let loc = need(&loc_c, "POST")?.clone();
            let r = reg.send(
                Method::PATCH,
                loc,
                &[octet(), ("Content-Range", format!("0-{}", chunk_size - 1))],
                ReqBody::Bytes(blob_c[..chunk_size].to_vec()),
            )?;
            expect_status(&r, &[202])?;
            let new_loc = location_of(reg, &r)?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == chunk_size as i64 - 1,
                "Range end {end}, expected {}",
                chunk_size - 1
            );
            loc_c = Some(new_loc);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "chunked: GET upload status returns 204 with a Location and Range 0-<end of accepted data>",
        {
            let loc = need(&loc_c, "first PATCH")?.clone();
            let r = reg.send(Method::GET, loc, &[], ReqBody::Empty)?;
            expect_status(&r, &[204])?;
            let new_loc = location_of(reg, &r)?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == chunk_size as i64 - 1,
                "Range end {end}, expected {}",
                chunk_size - 1
            );
            loc_c = Some(new_loc);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "chunked: second PATCH continuing at the reported offset returns 202 and Range 0-<2n>",
        {
            let loc = need(&loc_c, "status")?.clone();
            let r = reg.send(
                Method::PATCH,
                loc,
                &[
                    octet(),
                    ("Content-Range", format!("{}-{}", chunk_size, 2 * chunk_size - 1)),
                ],
                ReqBody::Bytes(blob_c[chunk_size..2 * chunk_size].to_vec()),
            )?;
            expect_status(&r, &[202])?;
            let new_loc = location_of(reg, &r)?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == 2 * chunk_size as i64 - 1,
                "Range end {end}, expected {}",
                2 * chunk_size - 1
            );
            loc_c = Some(new_loc);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "chunked: closing PUT ?digest= carrying the final chunk returns 201 with a Location",
        {
            let loc = need(&loc_c, "second PATCH")?;
            let r = reg.send(
                Method::PUT,
                with_query(loc, "digest", &digest_c),
                &[
                    octet(),
                    ("Content-Range", format!("{}-{}", 2 * chunk_size, blob_c.len() - 1)),
                ],
                ReqBody::Bytes(blob_c[2 * chunk_size..].to_vec()),
            )?;
            expect_status(&r, &[201])?;
            env.remember_blob(ns, &digest_c);
            location_of(reg, &r)?;
            expect_header_eq(&r, "Docker-Content-Digest", &digest_c)
        }
    );

    check!(rep, wf, "chunked: the assembled blob is served with the exact bytes", {
        need(&loc_c, "chunked upload")?;
        let r = reg.get(&format!("/v2/{ns}/blobs/{digest_c}"))?;
        expect_status(&r, &[200])?;
        expect_body_eq(&r, &blob_c)
    });

    check!(
        rep,
        wf,
        "chunked: out-of-order PATCH (gap after the last byte) returns 416 and the upload keeps its offset",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let c = chunk_size;
            let data = random_bytes(2 * c + 10);
            let r = reg.send(
                Method::PATCH,
                loc,
                &[octet(), ("Content-Range", format!("0-{}", c - 1))],
                ReqBody::Bytes(data[..c].to_vec()),
            )?;
            expect_status(&r, &[202]).map_err(|e| format!("first chunk: {e}"))?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(
                Method::PATCH,
                loc.clone(),
                &[octet(), ("Content-Range", format!("{}-{}", c + 10, 2 * c + 9))],
                ReqBody::Bytes(data[c + 10..].to_vec()),
            )?;
            if r.status != 416 {
                env.cancel_upload(&location_of(reg, &r).unwrap_or(loc));
                let hint = if r.status == 202 {
                    " (the chunk was accepted at the wrong offset: Content-Range is not checked; CNCF distribution 2.x behaves so)"
                } else {
                    ""
                };
                return Err(format!("expected HTTP 416, got: {}{hint}", r.describe()));
            }
            let s = reg.send(Method::GET, loc.clone(), &[], ReqBody::Empty)?;
            env.cancel_upload(&location_of(reg, &s).unwrap_or(loc));
            expect_status(&s, &[204]).map_err(|e| format!("status after 416: {e}"))?;
            let end = upload_range_end(&s)?;
            ensure!(
                end == c as i64 - 1,
                "after the 416 the upload reports Range end {end}, expected {}",
                c - 1
            );
            Ok(())
        }
    );

    // --- streamed PATCH ------------------------------------------------------
    let blob_s = random_bytes(100_000);
    let digest_s = sha256_digest(&blob_s);
    check!(
        rep,
        wf,
        "streamed: PATCH without Content-Range (chunked transfer encoding) returns 202 with Range 0-<size-1>",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(Method::PATCH, loc, &[octet()], ReqBody::Stream(blob_s.clone()))?;
            expect_status(&r, &[202])?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == blob_s.len() as i64 - 1,
                "Range end {end}, expected {}",
                blob_s.len() - 1
            );
            let loc = location_of(reg, &r)?;
            let r = reg.send(Method::PUT, with_query(&loc, "digest", &digest_s), &[], ReqBody::Empty)?;
            expect_status(&r, &[201]).map_err(|e| format!("closing PUT without body: {e}"))?;
            env.remember_blob(ns, &digest_s);
            let g = reg.get(&format!("/v2/{ns}/blobs/{digest_s}"))?;
            expect_status(&g, &[200])?;
            expect_body_eq(&g, &blob_s)
        }
    );

    // --- wrong digest ----------------------------------------------------------
    let blob_w = random_bytes(1500);
    let real_w = sha256_digest(&blob_w);
    let claimed_w = unknown_digest();
    let mut wrong_rejected = false;
    check!(
        rep,
        wf,
        "PUT with a digest that does not match the content returns 400 with error code DIGEST_INVALID",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(
                Method::PUT,
                with_query(&loc, "digest", &claimed_w),
                &[octet()],
                ReqBody::Bytes(blob_w.clone()),
            )?;
            if r.status == 201 {
                env.remember_blob(ns, &claimed_w);
            } else {
                env.cancel_upload(&loc);
            }
            expect_error(&r, &[400], &["DIGEST_INVALID"])?;
            wrong_rejected = true;
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "after a digest mismatch neither the claimed nor the real digest is stored",
        {
            ensure!(
                wrong_rejected,
                "not run: prerequisite failed (digest mismatch rejection)"
            );
            let r = reg.head(&format!("/v2/{ns}/blobs/{claimed_w}"))?;
            expect_status(&r, &[404]).map_err(|e| format!("claimed digest: {e}"))?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{real_w}"))?;
            expect_status(&r, &[404]).map_err(|e| format!("real digest: {e}"))
        }
    );

    check!(rep, wf, "PUT with a malformed digest (sha256:xyz) returns 400", {
        let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
        expect_status(&r, &[202])?;
        let loc = location_of(reg, &r)?;
        let r = reg.send(
            Method::PUT,
            with_query(&loc, "digest", "sha256:xyz"),
            &[octet()],
            ReqBody::Bytes(b"abc".to_vec()),
        )?;
        env.cancel_upload(&loc);
        expect_status(&r, &[400])?;
        expect_spec_error_format_if_json(&r)
    });

    // --- cancel and unknown uploads -------------------------------------------
    check!(
        rep,
        wf,
        "DELETE of an upload session returns 204, after which its status is 404 BLOB_UPLOAD_UNKNOWN",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(
                Method::PATCH,
                loc,
                &[octet(), ("Content-Range", "0-99".into())],
                ReqBody::Bytes(random_bytes(100)),
            )?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(Method::DELETE, loc.clone(), &[], ReqBody::Empty)?;
            expect_status(&r, &[204])?;
            let r = reg.send(Method::GET, loc, &[], ReqBody::Empty)?;
            expect_error(&r, &[404], &["BLOB_UPLOAD_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "GET status of an upload session that never existed returns 404 (BLOB_UPLOAD_UNKNOWN or BLOB_UPLOAD_INVALID)",
        {
            let r = reg.get(&format!("{uploads}{}", uuid::Uuid::new_v4()))?;
            expect_error(&r, &[404], &["BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"])
        }
    );

    // --- cross-repository mount --------------------------------------------
    let mut mounted = false;
    check!(
        rep,
        wf,
        "mount: POST ?mount=<digest>&from=<repo> of an existing blob returns 201 with a Location",
        {
            ensure!(blob_loc_a.is_some(), "not run: prerequisite failed (blob push)");
            let r = reg.req(
                Method::POST,
                &format!("/v2/{cross}/blobs/uploads/?mount={digest_a}&from={ns}"),
                &[],
                ReqBody::Empty,
            )?;
            if r.status == 202 {
                if let Ok(loc) = location_of(reg, &r) {
                    env.cancel_upload(&loc);
                }
            }
            expect_status(&r, &[201])?;
            env.remember_blob(cross, &digest_a);
            mounted = true;
            location_of(reg, &r)?;
            if let Some(d) = r.header("docker-content-digest") {
                ensure!(d == digest_a, "Docker-Content-Digest {d} != {digest_a}");
            }
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "mount: the mounted blob is served from the target repository",
        {
            ensure!(mounted, "not run: prerequisite failed (mount)");
            let r = reg.get(&format!("/v2/{cross}/blobs/{digest_a}"))?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &blob_a)
        }
    );

    check!(
        rep,
        wf,
        "mount: POST ?mount= of a blob the source does not have returns 202 with a Location (upload session)",
        {
            let r = reg.req(
                Method::POST,
                &format!("/v2/{cross}/blobs/uploads/?mount={}&from={ns}", unknown_digest()),
                &[],
                ReqBody::Empty,
            )?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            env.cancel_upload(&loc);
            Ok(())
        }
    );

    // --- manifests -----------------------------------------------------------
    let mut img: Option<Image> = None;
    check!(rep, wf, "setup: push config and layer blobs for the manifest checks", {
        let layer = random_bytes(5000);
        let layer_digest = env.push_blob(ns, &layer)?;
        let config = oci_config(&[&layer_digest]);
        let config_digest = env.push_blob(ns, &config)?;
        img = Some(Image {
            config,
            config_digest,
            layer,
            layer_digest,
            manifest: Vec::new(),
            digest: String::new(),
        });
        Ok(())
    });
    let img = &img;

    // A manifest written with unusual whitespace, so that a registry which
    // re-serialises it would be caught.
    let mut oci_m: Option<(Vec<u8>, Url)> = None;
    let oci_tag = format!("push-{}-oci", short_id());
    check!(
        rep,
        wf,
        "PUT OCI image manifest by tag returns 201 with Location and Docker-Content-Digest",
        {
            let i = need(img, "setup")?;
            let v: Value = serde_json::from_slice(&oci_manifest(
                descriptor(OCI_CONFIG, &i.config),
                vec![descriptor(OCI_LAYER, &i.layer)],
                json!({"annotations": {"rbee.conformance": "push"}}),
            ))
            .unwrap();
            let bytes = format!("{}\n", serde_json::to_string_pretty(&v).unwrap().replace("  ", "   ")).into_bytes();
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &oci_tag, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            let loc = location_of(reg, &r)?;
            oci_m = Some((bytes, loc));
            expect_header_eq(&r, "Docker-Content-Digest", &digest)
        }
    );

    check!(
        rep,
        wf,
        "the manifest Location is pullable and the manifest is stored byte-for-byte (whitespace kept)",
        {
            let (bytes, loc) = need(&oci_m, "manifest PUT")?;
            let r = reg.get_manifest(ns, &oci_tag)?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, bytes)?;
            let g = reg.send(
                Method::GET,
                loc.clone(),
                &[("Accept", ACCEPT_ALL.into())],
                ReqBody::Empty,
            )?;
            expect_status(&g, &[200]).map_err(|e| format!("GET Location: {e}"))?;
            expect_body_eq(&g, bytes)
        }
    );

    check!(
        rep,
        wf,
        "PUT manifest by digest returns 201 with Docker-Content-Digest equal to that digest",
        {
            let i = need(img, "setup")?;
            let bytes = oci_manifest(
                descriptor(OCI_CONFIG, &i.config),
                vec![descriptor(OCI_LAYER, &i.layer)],
                json!({"annotations": {"rbee.conformance.by": "digest"}}),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            location_of(reg, &r)?;
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            let g = reg.get_manifest(ns, &digest)?;
            expect_status(&g, &[200])?;
            expect_body_eq(&g, &bytes)
        }
    );

    check!(rep, wf, "PUT manifest by a digest that does not match the body is rejected with 400 (DIGEST_INVALID or MANIFEST_INVALID)", {
        let i = need(img, "setup")?;
        let bytes = oci_manifest(
            descriptor(OCI_CONFIG, &i.config),
            vec![descriptor(OCI_LAYER, &i.layer)],
            json!({"annotations": {"rbee.conformance.by": "wrong-digest"}}),
        );
        let wrong = unknown_digest();
        let r = reg.put_manifest(ns, &wrong, OCI_MANIFEST, &bytes)?;
        if r.status == 201 {
            env.remember_manifest(ns, &wrong);
            env.remember_manifest(ns, &sha256_digest(&bytes));
        }
        expect_error(&r, &[400], &["DIGEST_INVALID", "MANIFEST_INVALID"])
    });

    check!(
        rep,
        wf,
        "PUT OCI image manifest with an empty layers list returns 201",
        {
            let i = need(img, "setup")?;
            let bytes = oci_manifest(descriptor(OCI_CONFIG, &i.config), vec![], json!({}));
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &format!("push-{}-nolayers", short_id()), OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            Ok(())
        }
    );

    let mut index_children: Option<Vec<(Vec<u8>, String)>> = None;
    check!(
        rep,
        wf,
        "setup: push two platform image manifests by digest for the index",
        {
            let i = need(img, "setup")?;
            let mut v = Vec::new();
            for arch in ["amd64", "arm64"] {
                let bytes = oci_manifest(
                    descriptor(OCI_CONFIG, &i.config),
                    vec![descriptor(OCI_LAYER, &i.layer)],
                    json!({"annotations": {"rbee.conformance.arch": arch}}),
                );
                let d = env.push_manifest(ns, &sha256_digest(&bytes), OCI_MANIFEST, &bytes)?;
                v.push((bytes, d));
            }
            index_children = Some(v);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "PUT OCI image index returns 201; GET returns it with Content-Type application/vnd.oci.image.index.v1+json",
        {
            let children = need(&index_children, "index children")?;
            let manifests: Vec<Value> = children
                .iter()
                .zip(["amd64", "arm64"])
                .map(|((b, _), arch)| {
                    let mut d = descriptor(OCI_MANIFEST, b);
                    d["platform"] = json!({"architecture": arch, "os": "linux"});
                    d
                })
                .collect();
            let bytes = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": manifests,
            }))
            .unwrap();
            let digest = sha256_digest(&bytes);
            let tag = format!("push-{}-index", short_id());
            let r = reg.put_manifest(ns, &tag, OCI_INDEX, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            location_of(reg, &r)?;
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            let g = reg.get_manifest(ns, &tag)?;
            expect_status(&g, &[200])?;
            expect_content_type(&g, OCI_INDEX)?;
            expect_body_eq(&g, &bytes)
        }
    );

    let mut docker_m: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        "PUT Docker schema2 manifest returns 201; GET returns it with the Docker schema2 Content-Type",
        {
            let layer = random_bytes(3333);
            let layer_digest = env.push_blob(ns, &layer)?;
            let config = serde_json::to_vec(&json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"rbee.conformance.nonce": uuid::Uuid::new_v4().to_string()}},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }))
            .unwrap();
            env.push_blob(ns, &config)?;
            let bytes = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": descriptor(DOCKER_CONFIG, &config),
                "layers": [descriptor(DOCKER_LAYER, &layer)],
            }))
            .unwrap();
            let digest = sha256_digest(&bytes);
            let tag = format!("push-{}-docker", short_id());
            let r = reg.put_manifest(ns, &tag, DOCKER_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            docker_m = Some((bytes.clone(), digest));
            let g = reg.get_manifest(ns, &tag)?;
            expect_status(&g, &[200])?;
            expect_content_type(&g, DOCKER_MANIFEST)?;
            expect_body_eq(&g, &bytes)
        }
    );

    check!(
        rep,
        wf,
        "PUT Docker manifest list returns 201; GET returns it with the Docker manifest list Content-Type",
        {
            let (child, _) = need(&docker_m, "Docker schema2 manifest")?;
            let mut d = descriptor(DOCKER_MANIFEST, child);
            d["platform"] = json!({"architecture": "amd64", "os": "linux"});
            let bytes = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": DOCKER_LIST,
                "manifests": [d],
            }))
            .unwrap();
            let digest = sha256_digest(&bytes);
            let tag = format!("push-{}-dockerlist", short_id());
            let r = reg.put_manifest(ns, &tag, DOCKER_LIST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            let g = reg.get_manifest(ns, &tag)?;
            expect_status(&g, &[200])?;
            expect_content_type(&g, DOCKER_LIST)?;
            expect_body_eq(&g, &bytes)
        }
    );

    check!(rep, wf, "PUT manifest referencing an unknown blob is rejected with 400 MANIFEST_BLOB_UNKNOWN (accepting is spec-allowed without --strict)", {
        let i = need(img, "setup")?;
        let missing = random_bytes(700);
        let bytes = oci_manifest(
            descriptor(OCI_CONFIG, &i.config),
            vec![descriptor(OCI_LAYER, &missing)],
            json!({}),
        );
        let r = reg.put_manifest(ns, &format!("push-{}-unknownblob", short_id()), OCI_MANIFEST, &bytes)?;
        if r.status == 201 {
            env.remember_manifest(ns, &sha256_digest(&bytes));
            if !env.strict {
                env.note("registry accepts manifests that reference unknown blobs (spec: MAY reject)");
                return Ok(());
            }
            return Err("accepted (201) a manifest that references a blob the registry does not hold".into());
        }
        expect_error(&r, &[400], &["MANIFEST_BLOB_UNKNOWN"])
    });

    check!(
        rep,
        wf,
        "PUT of a body that is not a manifest (not JSON) returns 400 with error code MANIFEST_INVALID",
        {
            let r = reg.put_manifest(ns, &format!("push-{}-garbage", short_id()), OCI_MANIFEST, b"blablabla")?;
            if r.status == 201 {
                env.remember_manifest(ns, &sha256_digest(b"blablabla"));
            }
            expect_error(&r, &[400], &["MANIFEST_INVALID"])
        }
    );

    check!(
        rep,
        wf,
        "PUT of a 4,000,000-byte manifest is accepted (spec: registries should support at least 4 MB)",
        {
            let i = need(img, "setup")?;
            let bytes = padded_manifest(i, 4_000_000);
            let r = reg.put_manifest(ns, &format!("push-{}-4mb", short_id()), OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &sha256_digest(&bytes));
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "PUT of a 5 MiB manifest is rejected with 413 (without --strict also 400 MANIFEST_INVALID or SIZE_INVALID)",
        {
            let i = need(img, "setup")?;
            let bytes = padded_manifest(i, 5 * 1024 * 1024);
            let r = match reg.put_manifest(ns, &format!("push-{}-5mib", short_id()), OCI_MANIFEST, &bytes) {
                Ok(r) => r,
                Err(e) => return Err(format!("no HTTP answer to the oversized manifest: {e}")),
            };
            if r.status == 201 {
                env.remember_manifest(ns, &sha256_digest(&bytes));
                return Err(
                    "a 5 MiB manifest was accepted (201); the registry SHOULD enforce a size limit and answer 413"
                        .into(),
                );
            }
            if r.status == 413 {
                return expect_spec_error_format_if_json(&r);
            }
            if env.strict {
                return expect_status(&r, &[413]);
            }
            expect_error(&r, &[400], &["MANIFEST_INVALID", "SIZE_INVALID"])
        }
    );
}

/// An OCI image manifest padded with an annotation to exactly `size` bytes.
fn padded_manifest(i: &Image, size: usize) -> Vec<u8> {
    let build = |pad: usize| {
        oci_manifest(
            descriptor(OCI_CONFIG, &i.config),
            vec![descriptor(OCI_LAYER, &i.layer)],
            json!({"annotations": {"rbee.conformance.padding": "p".repeat(pad)}}),
        )
    };
    let base = build(0).len();
    let bytes = build(size.saturating_sub(base));
    debug_assert_eq!(bytes.len(), size.max(base));
    bytes
}

/// Fetches a tag list page. Returns (tags, Link next URL).
fn tags_page(reg: &Registry, path: &str) -> Result<(Resp, Vec<String>, Option<String>), String> {
    let r = reg.get(path)?;
    tags_parse(r)
}

fn tags_parse(r: Resp) -> Result<(Resp, Vec<String>, Option<String>), String> {
    expect_status(&r, &[200])?;
    let v = r.json().ok_or_else(|| format!("body is not JSON: {}", r.describe()))?;
    let tags = match v.get("tags") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(String::from).ok_or("non-string entry in tags"))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Null) => Vec::new(),
        _ => return Err(format!("no `tags` array in {}", r.describe())),
    };
    let next = r.all_headers("link").iter().find_map(|l| link_next(l));
    Ok((r, tags, next))
}

fn wf_discovery(env: &Env, rep: &mut Report) {
    let wf = "discovery";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let id = short_id();
    let my_tags: Vec<String> = (1..=5).map(|k| format!("disc-{id}-{k:02}")).collect();

    check!(
        rep,
        wf,
        "setup: push an image manifest under 5 tags, and one into the cross-mount repository",
        {
            let i = env.push_image(ns, Some(&my_tags[0]), 1000)?;
            for t in &my_tags[1..] {
                env.push_manifest(ns, t, OCI_MANIFEST, &i.manifest)?;
            }
            // So that the catalog holds at least two repositories.
            env.push_image(&env.cross, Some(&format!("disc-{id}")), 500)?;
            Ok(())
        }
    );

    // The full list, following Link headers should the registry paginate
    // unasked.
    let mut full: Option<Vec<String>> = None;
    check!(
        rep,
        wf,
        "GET /tags/list returns 200 with {\"name\": <repository>, \"tags\": [...]} holding every pushed tag",
        {
            let (r, mut tags, mut next) = tags_page(reg, &format!("/v2/{ns}/tags/list"))?;
            let v = r.json().unwrap_or(Value::Null);
            ensure!(
                v.get("name").and_then(|n| n.as_str()) == Some(ns),
                "`name` is {:?}, expected {ns:?}",
                v.get("name")
            );
            let mut pages = 0;
            while let Some(n) = next.take() {
                pages += 1;
                ensure!(pages < 200, "more than 200 pages of tags");
                let url = r.url.join(&n).map_err(|e| format!("bad Link {n:?}: {e}"))?;
                let (_, more, nn) = tags_parse(reg.send(Method::GET, url, &[], ReqBody::Empty)?)?;
                tags.extend(more);
                next = nn;
            }
            for t in &my_tags {
                ensure!(tags.contains(t), "tag {t} missing from {tags:?}");
            }
            full = Some(tags);
            Ok(())
        }
    );

    check!(rep, wf, "tags are listed in lexical order", {
        let f = need(&full, "tags list")?;
        ensure!(
            is_lexically_sorted(f),
            "not sorted (CNCF distribution 2.x lists tags in storage order): {:?}",
            f.iter().take(20).collect::<Vec<_>>()
        );
        Ok(())
    });

    let mut link_first: Option<Option<String>> = None;
    check!(rep, wf, "tags/list?n=2 returns the first 2 tags of the list", {
        let f = need(&full, "tags list")?;
        let (_, tags, next) = tags_page(reg, &format!("/v2/{ns}/tags/list?n=2"))?;
        link_first = Some(next.clone());
        let want: Vec<String> = f.iter().take(2).cloned().collect();
        if tags.len() < want.len() && next.is_some() {
            // v1.1: fewer results are allowed when a Link header is given.
            ensure!(want.starts_with(&tags), "got {tags:?}, not a prefix of {want:?}");
            return Ok(());
        }
        ensure!(
            tags.len() <= 2,
            "n ignored: got {} tags for n=2 (CNCF distribution 2.x ignores n on tags/list)",
            tags.len()
        );
        ensure!(tags == want, "got {tags:?}, expected {want:?}");
        Ok(())
    });

    check!(rep, wf, &format!("{V11} a truncated tag page has a Link rel=\"next\" header that leads to the following tags (required with --strict)"), {
        let f = need(&full, "tags list")?;
        let next = need(&link_first, "n=2 page")?;
        let Some(next) = next else {
            ensure!(f.len() > 2 || !env.strict, "fewer than 3 tags, cannot test");
            ensure!(!env.strict, "no Link header on /tags/list?n=2 although more tags exist");
            env.note("no Link header on a truncated tag list (spec: MAY)");
            return Ok(());
        };
        let url = reg.url(&format!("/v2/{ns}/tags/list"))?.join(next).map_err(|e| format!("bad Link target {next:?}: {e}"))?;
        let (_, tags, _) = tags_parse(reg.send(Method::GET, url, &[], ReqBody::Empty)?)?;
        ensure!(!tags.is_empty(), "the Link target returned no tags");
        let idx = f.iter().position(|t| *t == tags[0]).ok_or(format!("{} not in full list", tags[0]))?;
        ensure!((1..=2).contains(&idx), "the next page starts with {:?}, expected the tag after the first page", tags[0]);
        ensure!(f[idx..].starts_with(&tags), "the next page {tags:?} does not continue the list");
        Ok(())
    });

    check!(
        rep,
        wf,
        "tags/list?n=2&last=<tag> returns the 2 tags that follow <tag>",
        {
            need(&full, "tags list")?;
            let (_, tags, next) = tags_page(reg, &format!("/v2/{ns}/tags/list?n=2&last={}", my_tags[1]))?;
            let want = vec![my_tags[2].clone(), my_tags[3].clone()];
            if tags.len() < 2 && next.is_some() {
                ensure!(want.starts_with(&tags), "got {tags:?}, not a prefix of {want:?}");
                return Ok(());
            }
            ensure!(
                !tags.contains(&my_tags[1]),
                "the `last` tag itself is listed: last ignored (CNCF distribution 2.x ignores n/last on tags/list)"
            );
            ensure!(tags == want, "got {tags:?}, expected {want:?}");
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "tags/list?last=<tag> (no n) returns only the tags after <tag>",
        {
            let f = need(&full, "tags list")?;
            let last = &my_tags[2];
            let (_, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list?last={last}"))?;
            let idx = f.iter().position(|t| t == last).unwrap();
            ensure!(
                !tags.contains(last),
                "the `last` tag itself is listed: last ignored (CNCF distribution 2.x ignores last on tags/list)"
            );
            ensure!(!tags.is_empty(), "empty list, expected at least {:?}", f.get(idx + 1));
            ensure!(
                f[idx + 1..].starts_with(&tags),
                "got {:?}, expected a prefix of {:?}",
                tags.iter().take(10).collect::<Vec<_>>(),
                f[idx + 1..].iter().take(10).collect::<Vec<_>>()
            );
            Ok(())
        }
    );

    check!(rep, wf, "tags/list?n=0 returns an empty list and no Link header", {
        need(&full, "tags list")?;
        let (r, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list?n=0"))?;
        ensure!(
            tags.is_empty(),
            "got {} tags, expected none (CNCF distribution 2.x ignores n on tags/list)",
            tags.len()
        );
        ensure!(
            r.header("link").is_none(),
            "Link header present: {:?}",
            r.header("link")
        );
        Ok(())
    });

    check!(
        rep,
        wf,
        "tags/list of a repository that does not exist returns 404 (NAME_UNKNOWN)",
        {
            let r = reg.get(&format!("/v2/{ns}-missing-{}/tags/list", short_id()))?;
            expect_error(&r, &[404], &["NAME_UNKNOWN"])
        }
    );

    // --- _catalog (not part of the spec; rbee-registry implements it) ---------
    let mut catalog: Option<Vec<String>> = None;
    check!(rep, wf, "_catalog (extension, not in the spec) returns 200 {\"repositories\": [...]} in lexical order with the test repositories", {
        let mut repos = Vec::new();
        let mut url = reg.url("/v2/_catalog")?;
        for _ in 0..200 {
            let r = reg.send(Method::GET, url.clone(), &[], ReqBody::Empty)?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or_else(|| format!("body is not JSON: {}", r.describe()))?;
            let page = v
                .get("repositories")
                .and_then(|a| a.as_array())
                .ok_or_else(|| format!("no `repositories` array: {}", r.describe()))?;
            repos.extend(page.iter().filter_map(|x| x.as_str().map(String::from)));
            match r.all_headers("link").iter().find_map(|l| link_next(l)) {
                Some(n) => url = r.url.join(&n).map_err(|e| format!("bad Link {n:?}: {e}"))?,
                None => break,
            }
        }
        ensure!(repos.iter().any(|x| x == ns), "{ns} missing from the catalog");
        ensure!(repos.iter().any(|x| x == &env.cross), "{} missing from the catalog", env.cross);
        ensure!(is_lexically_sorted(&repos), "repositories not in lexical order");
        catalog = Some(repos);
        Ok(())
    });

    check!(
        rep,
        wf,
        "_catalog?n=1 returns exactly one repository and a Link rel=\"next\" header leading to the next one",
        {
            let all = need(&catalog, "catalog")?;
            let r = reg.get("/v2/_catalog?n=1")?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or("body is not JSON")?;
            let page: Vec<String> = v["repositories"]
                .as_array()
                .ok_or("no `repositories` array")?
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect();
            ensure!(
                page.len() == 1 && page[0] == all[0],
                "got {page:?}, expected [{:?}]",
                all[0]
            );
            let next = r
                .all_headers("link")
                .iter()
                .find_map(|l| link_next(l))
                .ok_or("no Link rel=\"next\" header")?;
            let url = r.url.join(&next).map_err(|e| format!("bad Link {next:?}: {e}"))?;
            let r2 = reg.send(Method::GET, url, &[], ReqBody::Empty)?;
            expect_status(&r2, &[200])?;
            let v2 = r2.json().ok_or("Link target body is not JSON")?;
            let first2 = v2["repositories"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|x| x.as_str());
            ensure!(
                first2 == Some(all[1].as_str()),
                "Link target starts with {first2:?}, expected {:?}",
                all[1]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "_catalog?n=1&last=<repository> returns the repository that follows it",
        {
            let all = need(&catalog, "catalog")?;
            let r = reg.get(&format!("/v2/_catalog?n=1&last={}", all[0]))?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or("body is not JSON")?;
            let page: Vec<&str> = v["repositories"]
                .as_array()
                .ok_or("no `repositories` array")?
                .iter()
                .filter_map(|x| x.as_str())
                .collect();
            ensure!(page == vec![all[1].as_str()], "got {page:?}, expected [{:?}]", all[1]);
            Ok(())
        }
    );

    wf_referrers(env, rep);
}

/// Referrers API (distribution-spec v1.1), part of content discovery.
fn wf_referrers(env: &Env, rep: &mut Report) {
    let wf = "discovery";
    let reg = &env.reg;
    let ns = env.ns.as_str();

    struct Refs {
        subject_digest: String,
        a1: (Vec<u8>, String),
        a2: (Vec<u8>, String),
        a3: (Vec<u8>, String),
    }
    let mut subject: Option<Image> = None;
    let mut empty_ok = false;
    let mut sbom_layer: Option<Vec<u8>> = None;
    let mut sig_config: Option<Vec<u8>> = None;

    check!(
        rep,
        wf,
        "setup: push a subject image, the empty config blob and the artifact blobs",
        {
            subject = Some(env.push_image(ns, Some(&format!("ref-{}-subject", short_id())), 2000)?);
            env.push_blob(ns, b"{}")?;
            empty_ok = true;
            let layer = random_bytes(600);
            env.push_blob(ns, &layer)?;
            sbom_layer = Some(layer);
            let cfg = serde_json::to_vec(&json!({"nonce": uuid::Uuid::new_v4().to_string()})).unwrap();
            env.push_blob(ns, &cfg)?;
            sig_config = Some(cfg);
            Ok(())
        }
    );

    let empty_desc = || {
        let mut d = descriptor(OCI_EMPTY, b"{}");
        d["data"] = json!("e30=");
        d
    };

    // A1: artifact manifest with artifactType, empty config, subject.
    let mut a1: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        &format!(
            "{V11} PUT image manifest with `subject` and `artifactType` returns 201 and OCI-Subject: <subject digest>"
        ),
        {
            let s = need(&subject, "setup")?;
            let layer = need(&sbom_layer, "setup")?;
            ensure!(empty_ok, "setup failed");
            let bytes = oci_manifest(
                empty_desc(),
                vec![descriptor("application/vnd.rbee.conformance.sbom.layer.v1+json", layer)],
                json!({
                    "artifactType": ART_SBOM,
                    "subject": descriptor(OCI_MANIFEST, &s.manifest),
                    "annotations": {
                        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                        "rbee.conformance.kind": "sbom",
                    },
                }),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            a1 = Some((bytes, digest));
            expect_header_eq(&r, "OCI-Subject", &s.digest)
        }
    );

    // A2: no artifactType; the config media type stands in for it.
    let mut a2: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        &format!("{V11} PUT image manifest with `subject` and no artifactType returns 201 and OCI-Subject"),
        {
            let s = need(&subject, "setup")?;
            let cfg = need(&sig_config, "setup")?;
            let bytes = oci_manifest(
                descriptor(ART_SIG_CONFIG, cfg),
                vec![],
                json!({
                    "subject": descriptor(OCI_MANIFEST, &s.manifest),
                    "annotations": {"rbee.conformance.kind": "signature"},
                }),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            a2 = Some((bytes, digest));
            expect_header_eq(&r, "OCI-Subject", &s.digest)
        }
    );

    // A3: an index with a subject and no artifactType.
    let mut a3: Option<(Vec<u8>, String)> = None;
    check!(rep, wf, &format!("{V11} PUT image index with `subject` returns 201"), {
        let s = need(&subject, "setup")?;
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
            "subject": descriptor(OCI_MANIFEST, &s.manifest),
            "annotations": {"rbee.conformance.kind": "index"},
        }))
        .unwrap();
        let digest = sha256_digest(&bytes);
        let r = reg.put_manifest(ns, &digest, OCI_INDEX, &bytes)?;
        expect_status(&r, &[201])?;
        env.remember_manifest(ns, &digest);
        a3 = Some((bytes, digest));
        Ok(())
    });

    // A4: subject that does not exist (must be accepted).
    let dangling_subject = unknown_digest();
    let mut a4: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        &format!("{V11} PUT manifest whose `subject` does not exist in the repository is accepted (201)"),
        {
            ensure!(empty_ok, "not run: prerequisite failed (setup)");
            let bytes = oci_manifest(
                empty_desc(),
                vec![empty_desc()],
                json!({
                    "artifactType": ART_OTHER,
                    "subject": {"mediaType": OCI_MANIFEST, "digest": dangling_subject, "size": 1234},
                }),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            a4 = Some((bytes, digest));
            Ok(())
        }
    );

    let refs = match (&subject, &a1, &a2, &a3) {
        (Some(s), Some(x1), Some(x2), Some(x3)) => Some(Refs {
            subject_digest: s.digest.clone(),
            a1: x1.clone(),
            a2: x2.clone(),
            a3: x3.clone(),
        }),
        _ => None,
    };

    let mut listing: Option<Vec<Value>> = None;
    check!(
        rep,
        wf,
        &format!("{V11} GET /referrers/<digest> returns 200 and an OCI image index (Content-Type and mediaType)"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let r = reg.get(&format!("/v2/{ns}/referrers/{}", rf.subject_digest))?;
            expect_status(&r, &[200])?;
            expect_content_type(&r, OCI_INDEX)?;
            let v = r.json().ok_or_else(|| format!("body is not JSON: {}", r.describe()))?;
            ensure!(
                v["schemaVersion"] == json!(2),
                "schemaVersion is {}",
                v["schemaVersion"]
            );
            ensure!(v["mediaType"] == json!(OCI_INDEX), "mediaType is {}", v["mediaType"]);
            let m = v["manifests"].as_array().ok_or("no `manifests` array")?;
            listing = Some(m.clone());
            Ok(())
        }
    );

    let find =
        |list: &[Value], digest: &str| -> Option<Value> { list.iter().find(|d| d["digest"] == json!(digest)).cloned() };

    check!(
        rep,
        wf,
        &format!(
            "{V11} the referrers list holds exactly the manifests whose subject is the digest, with mediaType and size"
        ),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let mut got: Vec<String> = list
                .iter()
                .filter_map(|d| d["digest"].as_str().map(String::from))
                .collect();
            got.sort();
            let mut want = vec![rf.a1.1.clone(), rf.a2.1.clone(), rf.a3.1.clone()];
            want.sort();
            ensure!(got == want, "listed {got:?}, expected {want:?}");
            for (bytes, digest, mt) in [
                (&rf.a1.0, &rf.a1.1, OCI_MANIFEST),
                (&rf.a2.0, &rf.a2.1, OCI_MANIFEST),
                (&rf.a3.0, &rf.a3.1, OCI_INDEX),
            ] {
                let d = find(list, digest).unwrap();
                ensure!(
                    d["mediaType"] == json!(mt),
                    "{digest}: mediaType {}, expected {mt}",
                    d["mediaType"]
                );
                ensure!(
                    d["size"] == json!(bytes.len()),
                    "{digest}: size {}, expected {}",
                    d["size"],
                    bytes.len()
                );
            }
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} a referrer descriptor carries the manifest's artifactType and annotations"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let d = find(list, &rf.a1.1).ok_or("artifact not listed")?;
            ensure!(
                d["artifactType"] == json!(ART_SBOM),
                "artifactType {}, expected {ART_SBOM}",
                d["artifactType"]
            );
            let want = json!({
                "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                "rbee.conformance.kind": "sbom",
            });
            ensure!(
                d["annotations"] == want,
                "annotations {}, expected {want}",
                d["annotations"]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} a referrer without artifactType is listed with the config mediaType as artifactType"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let d = find(list, &rf.a2.1).ok_or("artifact not listed")?;
            ensure!(
                d["artifactType"] == json!(ART_SIG_CONFIG),
                "artifactType {}, expected {ART_SIG_CONFIG}",
                d["artifactType"]
            );
            ensure!(
                d["annotations"]["rbee.conformance.kind"] == json!("signature"),
                "annotations {}",
                d["annotations"]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} an index referrer without artifactType is listed without artifactType, with its annotations"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let d = find(list, &rf.a3.1).ok_or("index not listed")?;
            ensure!(
                d.get("artifactType").is_none(),
                "artifactType present: {}",
                d["artifactType"]
            );
            ensure!(
                d["annotations"]["rbee.conformance.kind"] == json!("index"),
                "annotations {}",
                d["annotations"]
            );
            Ok(())
        }
    );

    check!(rep, wf, &format!("{V11} ?artifactType= filters the referrers and sets OCI-Filters-Applied: artifactType (unfiltered list without the header allowed without --strict)"), {
        let rf = need(&refs, "referrer pushes")?;
        // The media type holds a '+', so it must be percent-encoded.
        let url = with_query(
            &reg.url(&format!("/v2/{ns}/referrers/{}", rf.subject_digest))?,
            "artifactType",
            ART_SBOM,
        );
        let r = reg.send(Method::GET, url, &[], ReqBody::Empty)?;
        expect_status(&r, &[200])?;
        expect_content_type(&r, OCI_INDEX)?;
        let v = r.json().ok_or("body is not JSON")?;
        let got: Vec<&str> = v["manifests"]
            .as_array()
            .ok_or("no `manifests` array")?
            .iter()
            .filter_map(|d| d["digest"].as_str())
            .collect();
        let applied = r
            .header("oci-filters-applied")
            .map(|h| h.split(',').any(|f| f.trim() == "artifactType"))
            .unwrap_or(false);
        if applied {
            ensure!(got == vec![rf.a1.1.as_str()], "filtered list {got:?}, expected only {}", rf.a1.1);
            return Ok(());
        }
        ensure!(!env.strict, "OCI-Filters-Applied: artifactType missing (got {:?})", r.header("oci-filters-applied"));
        ensure!(got.len() == 3, "no OCI-Filters-Applied header, yet the list was changed: {got:?}");
        env.note("referrers artifactType filter not applied (spec: SHOULD)");
        Ok(())
    });

    check!(
        rep,
        wf,
        &format!("{V11} referrers of a subject that was never pushed list the manifests that refer to it"),
        {
            let (_, d4) = need(&a4, "dangling-subject push")?;
            let r = reg.get(&format!("/v2/{ns}/referrers/{dangling_subject}"))?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or("body is not JSON")?;
            let got: Vec<&str> = v["manifests"]
                .as_array()
                .ok_or("no `manifests` array")?
                .iter()
                .filter_map(|d| d["digest"].as_str())
                .collect();
            ensure!(got == vec![d4.as_str()], "listed {got:?}, expected [{d4}]");
            let d = &v["manifests"][0];
            ensure!(
                d["artifactType"] == json!(ART_OTHER),
                "artifactType {}",
                d["artifactType"]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} referrers of an unknown digest return 200 with an empty OCI index"),
        {
            let r = reg.get(&format!("/v2/{ns}/referrers/{}", unknown_digest()))?;
            expect_status(&r, &[200])?;
            expect_content_type(&r, OCI_INDEX)?;
            let v = r.json().ok_or("body is not JSON")?;
            ensure!(v["mediaType"] == json!(OCI_INDEX), "mediaType is {}", v["mediaType"]);
            ensure!(
                v["manifests"] == json!([]),
                "manifests is {}, expected []",
                v["manifests"]
            );
            Ok(())
        }
    );

    check!(rep, wf, &format!("{V11} referrers of a malformed digest return 400"), {
        let r = reg.get(&format!("/v2/{ns}/referrers/sha256:not-a-digest"))?;
        expect_status(&r, &[400])?;
        expect_spec_error_format_if_json(&r)
    });
}

fn wf_management(env: &Env, rep: &mut Report) {
    let wf = "management";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let id = short_id();
    let tag_a = format!("mgmt-{id}-a");
    let tag_b = format!("mgmt-{id}-b");
    let tag_c = format!("mgmt-{id}-c");

    let mut img: Option<Image> = None;
    check!(rep, wf, "setup: push an image manifest under 2 tags", {
        let i = env.push_image(ns, Some(&tag_a), 1200)?;
        env.push_manifest(ns, &tag_b, OCI_MANIFEST, &i.manifest)?;
        img = Some(i);
        Ok(())
    });
    let img = &img;

    let mut tag_only: Option<Image> = None;
    let mut tag_deleted = false;
    check!(rep, wf, "DELETE of a tag returns 202 and the tag then 404s, the manifest staying (400/405 = tag deletion disabled, allowed without --strict)", {
        let i = env.push_image(ns, Some(&tag_c), 800)?;
        let r = reg.delete(&format!("/v2/{ns}/manifests/{tag_c}"))?;
        tag_only = Some(i);
        if (r.status == 400 || r.status == 405) && !env.strict {
            env.note(&format!("tag deletion disabled ({})", r.status));
            return Ok(());
        }
        expect_status(&r, &[202])?;
        tag_deleted = true;
        let g = reg.get_manifest(ns, &tag_c)?;
        expect_status(&g, &[404]).map_err(|e| format!("deleted tag still resolves: {e}"))?;
        let d = &tag_only.as_ref().unwrap().digest;
        let g = reg.get_manifest(ns, d)?;
        expect_status(&g, &[200]).map_err(|e| format!("manifest gone with its tag: {e}"))
    });

    check!(rep, wf, "a deleted tag is no longer in the tag list", {
        need(&tag_only, "tag delete")?;
        if !tag_deleted {
            ensure!(!env.strict, "tag deletion disabled");
            let (_, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list"))?;
            ensure!(
                tags.contains(&tag_c),
                "tag deletion reported as disabled, but the tag vanished"
            );
            return Ok(());
        }
        let (_, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list"))?;
        ensure!(!tags.contains(&tag_c), "{tag_c} still listed");
        Ok(())
    });

    let mut manifest_deleted = false;
    check!(rep, wf, "DELETE manifest by digest returns 202", {
        let i = need(img, "setup")?;
        let r = reg.delete(&format!("/v2/{ns}/manifests/{}", i.digest))?;
        expect_status(&r, &[202])?;
        manifest_deleted = true;
        Ok(())
    });

    check!(
        rep,
        wf,
        "after deleting a manifest, GET by digest returns 404 MANIFEST_UNKNOWN",
        {
            ensure!(manifest_deleted, "not run: prerequisite failed (manifest delete)");
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &i.digest)?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "after deleting a manifest, every tag that pointed to it returns 404",
        {
            ensure!(manifest_deleted, "not run: prerequisite failed (manifest delete)");
            for t in [&tag_a, &tag_b] {
                let r = reg.get_manifest(ns, t)?;
                expect_status(&r, &[404]).map_err(|e| format!("tag {t}: {e}"))?;
            }
            Ok(())
        }
    );

    check!(rep, wf, "DELETE of an already deleted manifest returns 404", {
        ensure!(manifest_deleted, "not run: prerequisite failed (manifest delete)");
        let i = need(img, "setup")?;
        let r = reg.delete(&format!("/v2/{ns}/manifests/{}", i.digest))?;
        expect_status(&r, &[404])?;
        expect_spec_error_format_if_json(&r)
    });

    let mut blob_deleted = false;
    check!(rep, wf, "DELETE blob returns 202", {
        let i = need(img, "setup")?;
        let r = reg.delete(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
        expect_status(&r, &[202])?;
        blob_deleted = true;
        Ok(())
    });

    check!(
        rep,
        wf,
        "after deleting a blob, GET returns 404 BLOB_UNKNOWN and HEAD returns 404",
        {
            ensure!(blob_deleted, "not run: prerequisite failed (blob delete)");
            let i = need(img, "setup")?;
            let r = reg.get(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_error(&r, &[404], &["BLOB_UNKNOWN"])?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[404]).map_err(|e| format!("HEAD: {e}"))
        }
    );

    check!(rep, wf, "DELETE of an unknown blob returns 404 BLOB_UNKNOWN", {
        let r = reg.delete(&format!("/v2/{ns}/blobs/{}", unknown_digest()))?;
        expect_error(&r, &[404], &["BLOB_UNKNOWN"])
    });

    check!(
        rep,
        wf,
        "DELETE of an unknown manifest digest returns 404 MANIFEST_UNKNOWN",
        {
            let r = reg.delete(&format!("/v2/{ns}/manifests/{}", unknown_digest()))?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "DELETE of a manifest in a repository that does not exist returns 404",
        {
            let r = reg.delete(&format!(
                "/v2/{ns}-missing-{}/manifests/{}",
                short_id(),
                unknown_digest()
            ))?;
            expect_status(&r, &[404])?;
            expect_spec_error_format_if_json(&r)
        }
    );

    // Deleting a referrer drops it from the referrers list (v1.1).
    check!(
        rep,
        wf,
        &format!("{V11} deleting a referrer removes it from the referrers list of its subject"),
        {
            let subject = env.push_image(ns, None, 700)?;
            env.push_blob(ns, b"{}")?;
            let mut empty = descriptor(OCI_EMPTY, b"{}");
            empty["data"] = json!("e30=");
            let mut digests = Vec::new();
            for kind in ["keep", "drop"] {
                let bytes = oci_manifest(
                    empty.clone(),
                    vec![empty.clone()],
                    json!({
                        "artifactType": ART_OTHER,
                        "subject": descriptor(OCI_MANIFEST, &subject.manifest),
                        "annotations": {"rbee.conformance.kind": kind},
                    }),
                );
                digests.push(env.push_manifest(ns, &sha256_digest(&bytes), OCI_MANIFEST, &bytes)?);
            }
            let list = |reg: &Registry| -> Result<Vec<String>, String> {
                let r = reg.get(&format!("/v2/{ns}/referrers/{}", subject.digest))?;
                expect_status(&r, &[200])?;
                let v = r.json().ok_or("body is not JSON")?;
                let mut got: Vec<String> = v["manifests"]
                    .as_array()
                    .ok_or("no `manifests` array")?
                    .iter()
                    .filter_map(|d| d["digest"].as_str().map(String::from))
                    .collect();
                got.sort();
                Ok(got)
            };
            let mut both = digests.clone();
            both.sort();
            let before = list(reg)?;
            ensure!(before == both, "before delete: listed {before:?}, expected {both:?}");
            let r = reg.delete(&format!("/v2/{ns}/manifests/{}", digests[1]))?;
            expect_status(&r, &[202])?;
            let after = list(reg)?;
            ensure!(
                after == vec![digests[0].clone()],
                "after delete: listed {after:?}, expected [{}]",
                digests[0]
            );
            Ok(())
        }
    );
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn valid_repo_name(name: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
    fn component(c: &str) -> bool {
        let b = c.as_bytes();
        if b.is_empty() {
            return false;
        }
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        let mut i = 0;
        let mut first = true;
        while i < b.len() {
            if !first {
                // separator: '.', '_', '__' or one or more '-'
                match b[i] {
                    b'.' => i += 1,
                    b'_' => {
                        i += 1;
                        if i < b.len() && b[i] == b'_' {
                            i += 1;
                        }
                    }
                    b'-' => {
                        while i < b.len() && b[i] == b'-' {
                            i += 1;
                        }
                    }
                    _ => return false,
                }
            }
            let start = i;
            while i < b.len() && alnum(b[i]) {
                i += 1;
            }
            if i == start {
                return false;
            }
            first = false;
        }
        true
    }
    name.len() < 256 && name.split('/').all(component)
}

fn main() {
    let args = Args::parse();

    let mut base = match Url::parse(&args.base_url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
        _ => {
            eprintln!("error: BASE_URL must be an http(s) URL, got {:?}", args.base_url);
            std::process::exit(2);
        }
    };
    // The API is rooted at /v2/; keep only scheme, host and port.
    base.set_path("/");
    base.set_query(None);

    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| format!("conformance/test-{}", short_id()));
    let cross = args.cross_namespace.clone().unwrap_or_else(|| format!("{ns}-cross"));
    for n in [&ns, &cross] {
        if !valid_repo_name(n) {
            eprintln!("error: {n:?} is not a valid repository name");
            std::process::exit(2);
        }
    }
    if ns == cross {
        eprintln!("error: --namespace and --cross-namespace must differ");
        std::process::exit(2);
    }
    let creds = match (&args.username, &args.password) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        (None, None) => None,
        _ => {
            eprintln!("error: --username and --password go together");
            std::process::exit(2);
        }
    };

    let http = match HttpClient::builder()
        .timeout(Duration::from_secs(args.timeout))
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("rbee-conformance/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            std::process::exit(2);
        }
    };

    let env = Env {
        reg: Registry {
            http,
            base,
            creds,
            auth: RefCell::new(HashMap::new()),
            verbose: args.verbose,
        },
        ns,
        cross,
        strict: args.strict,
        verbose: args.verbose,
        cleanup: RefCell::new(Vec::new()),
    };
    eprintln!(
        "rbee-conformance: registry {} namespace {} cross-namespace {}{}",
        env.reg.base,
        env.ns,
        env.cross,
        if env.strict { " (strict)" } else { "" }
    );

    let mut rep = Report::default();
    if wf_base(&env, &mut rep) {
        wf_pull(&env, &mut rep);
        wf_push(&env, &mut rep);
        wf_discovery(&env, &mut rep);
        wf_management(&env, &mut rep);
    } else {
        eprintln!("rbee-conformance: the registry cannot be reached; no further checks run");
    }

    if !args.no_cleanup {
        env.run_cleanup();
    }

    println!("{} passed, {} failed", rep.passed, rep.failed);
    if rep.v11_failed > 0 {
        println!("v1.1-only failures: {}", rep.v11_failed);
    }
    std::process::exit(if rep.failed == 0 { 0 } else { 1 });
}
