//! The HTTP layer: a blocking client that answers `401` challenges (Basic, or the Bearer token
//! flow), and `Resp`, a response read whole with the request it answers.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;

use reqwest::blocking::{Body, Client as HttpClient};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::media::ACCEPT_ALL;

pub fn one_line(s: &str, max: usize) -> String {
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

#[derive(Clone)]
pub enum ReqBody {
    Empty,
    Bytes(Vec<u8>),
    /// Sent with chunked transfer encoding (no Content-Length).
    Stream(Vec<u8>),
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub method: Method,
    pub url: Url,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
    }

    pub fn all_headers(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .collect()
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `code`s of a spec error document, or None when the body is not one.
    pub fn error_codes(&self) -> Option<Vec<String>> {
        let v = self.json()?;
        let errs = v.get("errors")?.as_array()?;
        Some(
            errs.iter()
                .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(String::from))
                .collect(),
        )
    }

    pub fn describe(&self) -> String {
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

    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|c| media_type_only(&c))
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

/// The registry under test, as a client of its API.
pub struct Registry {
    http: HttpClient,
    pub base: Url,
    pub creds: Option<(String, String)>,
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
    pub fn new(http: HttpClient, base: Url, creds: Option<(String, String)>, verbose: bool) -> Registry {
        Registry {
            http,
            base,
            creds,
            auth: RefCell::new(HashMap::new()),
            verbose,
        }
    }

    pub fn url(&self, path_and_query: &str) -> Result<Url, String> {
        self.base
            .join(path_and_query)
            .map_err(|e| format!("bad URL {path_and_query}: {e}"))
    }

    /// Resolves a `Location` header value (absolute or relative).
    pub fn resolve(&self, resp: &Resp, location: &str) -> Result<Url, String> {
        resp.url
            .join(location)
            .map_err(|e| format!("unusable Location {location:?}: {e}"))
    }

    pub fn raw(
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
    pub fn send(&self, method: Method, url: Url, headers: &[(&str, String)], body: ReqBody) -> Result<Resp, String> {
        let key = repo_of_path(url.path());
        let auth = self.auth_for(&key);
        let resp = self.raw(&method, &url, headers, &body, auth.as_deref())?;
        if resp.status == 401 && self.authenticate(&resp, &key) {
            let auth = self.auth_for(&key);
            return self.raw(&method, &url, headers, &body, auth.as_deref());
        }
        Ok(resp)
    }

    pub fn req(&self, method: Method, path: &str, headers: &[(&str, String)], body: ReqBody) -> Result<Resp, String> {
        let url = self.url(path)?;
        self.send(method, url, headers, body)
    }

    pub fn get(&self, path: &str) -> Result<Resp, String> {
        self.req(Method::GET, path, &[], ReqBody::Empty)
    }

    pub fn head(&self, path: &str) -> Result<Resp, String> {
        self.req(Method::HEAD, path, &[], ReqBody::Empty)
    }

    pub fn delete(&self, path: &str) -> Result<Resp, String> {
        self.req(Method::DELETE, path, &[], ReqBody::Empty)
    }

    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Resp, String> {
        self.req(
            Method::GET,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", ACCEPT_ALL.to_string())],
            ReqBody::Empty,
        )
    }

    pub fn head_manifest(&self, repo: &str, reference: &str) -> Result<Resp, String> {
        self.req(
            Method::HEAD,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", ACCEPT_ALL.to_string())],
            ReqBody::Empty,
        )
    }

    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Resp, String> {
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

pub fn with_query(url: &Url, key: &str, value: &str) -> Url {
    let mut u = url.clone();
    u.query_pairs_mut().append_pair(key, value);
    u
}
