//! The HTTP layer: a blocking client that answers `401` challenges (Basic, or the Bearer token
//! flow), and `Resp`, a response read whole with the request it answers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Cursor;

use reqwest::blocking::{Body, Client as HttpClient};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::auth::{basic_auth_value, parse_challenges, token_scopes, Challenge};
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

    /// Obtains credentials for a 401 challenge: Basic credentials for a `Basic` challenge;
    /// for a `Bearer` challenge a token from its realm (with the Basic credentials, or
    /// anonymously without any) for the scopes the request needs. A token the registry
    /// called invalid (`error="invalid_token"`: expired, revoked) is dropped first.
    /// Returns false when nothing can be had (no usable challenge, token endpoint failure).
    fn authenticate(&self, resp: &Resp, key: &str) -> bool {
        let challenges = parse_challenges(resp.all_headers("www-authenticate").iter().map(String::as_str));
        let bearer = challenges.iter().find(|c| c.scheme == "bearer");
        let basic = challenges.iter().find(|c| c.scheme == "basic");
        match (bearer, basic, &self.creds) {
            (Some(challenge), _, creds) => {
                if challenge.params.get("error").map(String::as_str) == Some("invalid_token") {
                    self.auth.borrow_mut().remove(key);
                }
                match self.fetch_token(challenge, resp, key, creds.as_ref()) {
                    Ok(token) => {
                        self.auth
                            .borrow_mut()
                            .insert(key.to_string(), format!("Bearer {token}"));
                        true
                    }
                    Err(why) => {
                        if self.verbose {
                            eprintln!(
                                "note: no token for {:?}: {why}",
                                if key.is_empty() { "/v2/" } else { key }
                            );
                        }
                        false
                    }
                }
            }
            (None, Some(_), Some((user, pass))) => {
                self.auth.borrow_mut().insert("*".into(), basic_auth_value(user, pass));
                true
            }
            _ => false,
        }
    }

    /// The Docker token flow: `GET <realm>?service=…&scope=…` (each scope its own
    /// parameter), answered with `{token}` or `{access_token}`.
    fn fetch_token(
        &self,
        challenge: &Challenge,
        resp: &Resp,
        key: &str,
        creds: Option<&(String, String)>,
    ) -> Result<String, String> {
        let realm = challenge.params.get("realm").ok_or("the challenge has no realm")?;
        let mut token_url = Url::parse(realm).map_err(|e| format!("realm {realm:?} is not a URL: {e}"))?;
        let from = resp
            .url
            .query_pairs()
            .find(|(k, _)| k == "from")
            .map(|(_, v)| v.into_owned());
        {
            let mut query = token_url.query_pairs_mut();
            if let Some(service) = challenge.params.get("service") {
                query.append_pair("service", service);
            }
            for scope in token_scopes(challenge, key, from.as_deref()) {
                query.append_pair("scope", &scope);
            }
        }
        let mut request = self.http.get(token_url);
        if let Some((user, pass)) = creds {
            request = request.header("Authorization", basic_auth_value(user, pass));
        }
        let answer = request.send().map_err(|e| error_chain(&e))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(format!("the token endpoint answered {status}"));
        }
        let body: Value = answer
            .json()
            .map_err(|e| format!("the token answer is not JSON: {e}"))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
            .map(str::to_string)
            .ok_or_else(|| "the token answer has no token".to_string())
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
