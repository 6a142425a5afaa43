//! A small OCI Distribution client: what `publish`, `install` and `mirror` need
//! to talk to any registry — blobs pushed streaming from disk, manifests by tag or digest,
//! tag lists, blob downloads with `Range` — with Basic or Bearer credentials and the Docker
//! token flow (`401` + `WWW-Authenticate: Bearer realm=…`).
//!
//! The client never holds a blob whole in memory except small ones it builds itself
//! (configs, manifests, metadata, PKGBUILDs).

pub mod download;
pub mod install;
pub mod progress;
pub mod publish;
pub mod unpack;
pub mod upstream;

use std::path::Path;
use std::sync::Mutex;

use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use url::Url;

use crate::oci::{Digest, Reference};

/// Errors of the Distribution client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid registry address {0:?}")]
    Address(String),
    #[error("request to {url} failed: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        method: String,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("the registry's answer is invalid: {0}")]
    Protocol(String),
    #[error("could not get a token from {realm}: {reason}")]
    Token { realm: String, reason: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Credentials for a registry.
#[derive(Clone)]
pub enum Credentials {
    /// Username and password (or a token used as password): sent as Basic, or traded for a
    /// bearer token when the registry asks for one.
    Basic { username: String, password: String },
    /// A bearer token used as is.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Bearer(_) => write!(f, "Bearer(***)"),
        }
    }
}

/// A manifest fetched from a registry, its digest checked when it was asked for by digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub media_type: String,
    pub digest: Digest,
    pub content: Vec<u8>,
}

/// A client of one registry.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: Url,
    credentials: Option<Credentials>,
    /// The bearer token last obtained through the token flow.
    token: Mutex<Option<String>>,
}

impl RegistryClient {
    /// `registry` is a URL (`http://127.0.0.1:8787`) or a host (`registry.example.com`,
    /// spoken to over HTTPS unless it is a loopback address).
    pub fn new(registry: &str, credentials: Option<Credentials>) -> Result<Self, ClientError> {
        let text = if registry.contains("://") {
            registry.to_string()
        } else {
            let host = registry.split(':').next().unwrap_or("");
            let scheme = if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{registry}")
        };
        let base = Url::parse(&text).map_err(|_| ClientError::Address(registry.to_string()))?;
        if base.host_str().is_none() {
            return Err(ClientError::Address(registry.to_string()));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("rbee-registry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::Http {
                url: text.clone(),
                source,
            })?;
        Ok(RegistryClient {
            http,
            base,
            credentials,
            token: Mutex::new(None),
        })
    }

    /// Also trusts the CA certificates of the PEM file at `path` (a registry serving HTTPS
    /// with a private CA), besides the built-in roots.
    pub fn trusting_ca_file(mut self, path: &std::path::Path) -> Result<Self, ClientError> {
        let pem = std::fs::read(path)
            .map_err(|error| std::io::Error::new(error.kind(), format!("CA file {}: {error}", path.display())))?;
        let http_error = |source| ClientError::Http {
            url: self.base.to_string(),
            source,
        };
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(http_error)?;
        if certificates.is_empty() {
            return Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("CA file {}: holds no PEM certificate", path.display()),
            )));
        }
        let mut builder = reqwest::Client::builder().user_agent(concat!("rbee-registry/", env!("CARGO_PKG_VERSION")));
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
        self.http = builder.build().map_err(http_error)?;
        Ok(self)
    }

    /// The registry's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        if let Some(token) = self.token.lock().expect("token lock").clone() {
            return request.bearer_auth(token);
        }
        match &self.credentials {
            Some(Credentials::Bearer(token)) => request.bearer_auth(token),
            Some(Credentials::Basic { username, password }) => request.basic_auth(username, Some(password)),
            None => request,
        }
    }

    /// Sends a request built by `build` (called again for the retry), answering a Bearer
    /// challenge once by fetching a token.
    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<Response, ClientError> {
        let response = self.send_once(self.authorize(build())).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_bearer_challenge);
        let Some(challenge) = challenge else {
            return Ok(response);
        };
        let token = self.fetch_token(&challenge).await?;
        *self.token.lock().expect("token lock") = Some(token.clone());
        // The retry carries the token just fetched (another request may have replaced the
        // cached one meanwhile, for another repository's scope).
        self.send_once(build().bearer_auth(token)).await
    }

    async fn send_once(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let request = request.build().map_err(|source| ClientError::Http {
            url: self.base.to_string(),
            source,
        })?;
        let url = request.url().to_string();
        self.http
            .execute(request)
            .await
            .map_err(|source| ClientError::Http { url, source })
    }

    async fn fetch_token(&self, challenge: &BearerChallenge) -> Result<String, ClientError> {
        let mut url = Url::parse(&challenge.realm).map_err(|_| ClientError::Token {
            realm: challenge.realm.clone(),
            reason: "the realm is not a URL".into(),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            if let Some(scope) = &challenge.scope {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url);
        if let Some(Credentials::Basic { username, password }) = &self.credentials {
            request = request.basic_auth(username, Some(password));
        }
        let token_error = |reason: String| ClientError::Token {
            realm: challenge.realm.clone(),
            reason,
        };
        let response = request.send().await.map_err(|e| token_error(e.to_string()))?;
        if !response.status().is_success() {
            return Err(token_error(format!("answered {}", response.status())));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| token_error(e.to_string()))?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| token_error("the answer has no token".into()))
    }

    async fn expect(response: Response, method: &str, ok: &[StatusCode]) -> Result<Response, ClientError> {
        if ok.contains(&response.status()) {
            return Ok(response);
        }
        let url = response.url().to_string();
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(ClientError::Status {
            method: method.to_string(),
            url,
            status,
            body: body.chars().take(2000).collect(),
        })
    }

    /// Where to buy a license for `worker_id`: its catalog record's `pricing.purchase_url`
    /// (`GET /v1/workers/:id`, public), or `None` when the registry does not say.
    pub async fn purchase_url(&self, worker_id: &str) -> Option<String> {
        let response = self
            .http
            .get(self.url(&format!("/v1/workers/{worker_id}")))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: serde_json::Value = response.json().await.ok()?;
        body["metadata"]["pricing"]["purchase_url"].as_str().map(str::to_string)
    }

    /// Whether the client has credentials to present.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// Whether the repository has the blob.
    pub async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, ClientError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self.send(|| self.http.head(&url)).await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Self::expect(response, "HEAD", &[]).await.map(|_| false),
        }
    }

    /// Starts an upload; returns the URL to `PUT` the content to.
    async fn start_upload(&self, repository: &str) -> Result<Url, ClientError> {
        let url = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let response = self.send(|| self.http.post(&url).header(CONTENT_LENGTH, "0")).await?;
        let response = Self::expect(response, "POST", &[StatusCode::ACCEPTED]).await?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| ClientError::Protocol("upload start without a Location header".into()))?;
        let location = self
            .base_url()
            .join(location)
            .map_err(|_| ClientError::Protocol(format!("invalid upload Location {location:?}")))?;
        Ok(location)
    }

    fn with_digest(mut location: Url, digest: &Digest) -> Url {
        location.query_pairs_mut().append_pair("digest", &digest.to_string());
        location
    }

    /// Pushes a small blob held in memory (skipped when the repository has it).
    pub async fn push_blob_bytes(&self, repository: &str, content: &[u8]) -> Result<Digest, ClientError> {
        let digest = Digest::sha256_of(content);
        if self.has_blob(repository, &digest).await? {
            return Ok(digest);
        }
        let location = Self::with_digest(self.start_upload(repository).await?, &digest);
        let content = content.to_vec();
        let response = self
            .send(|| {
                self.http
                    .put(location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(content.clone())
            })
            .await?;
        Self::expect(response, "PUT", &[StatusCode::CREATED]).await?;
        Ok(digest)
    }

    /// Pushes a file as a blob whose digest and size are known, streaming it from disk
    /// (skipped when the repository has it).
    pub async fn push_blob_file(
        &self,
        repository: &str,
        path: &Path,
        digest: &Digest,
        size: u64,
    ) -> Result<(), ClientError> {
        if self.has_blob(repository, digest).await? {
            return Ok(());
        }
        let location = Self::with_digest(self.start_upload(repository).await?, digest);
        // The session was authorized by the POST; the streaming PUT is sent once.
        let file = tokio::fs::File::open(path).await?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
        let request = self
            .authorize(self.http.put(location))
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        let response = self.send_once(request).await?;
        Self::expect(response, "PUT", &[StatusCode::CREATED]).await?;
        Ok(())
    }

    /// Pushes a manifest under a tag or its digest; returns its digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &Reference,
        media_type: &str,
        content: &[u8],
    ) -> Result<Digest, ClientError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let content = content.to_vec();
        let response = self
            .send(|| {
                self.http
                    .put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(content.clone())
            })
            .await?;
        Self::expect(response, "PUT", &[StatusCode::CREATED]).await?;
        Ok(Digest::sha256_of(&content))
    }

    /// Fetches a manifest by tag or digest, accepting `accept` media types.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<FetchedManifest, ClientError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let accept = accept.join(", ");
        let response = self.send(|| self.http.get(&url).header(ACCEPT, &accept)).await?;
        let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string();
        let content = response.bytes().await.map_err(|source| ClientError::Http {
            url: url.clone(),
            source,
        })?;
        if content.len() > 4 * 1024 * 1024 {
            return Err(ClientError::Protocol(format!(
                "manifest {reference} is larger than 4 MiB"
            )));
        }
        let digest = match reference {
            Reference::Digest(expected) => expected.of_bytes_like(&content),
            Reference::Tag(_) => Digest::sha256_of(&content),
        };
        if matches!(reference, Reference::Digest(expected) if *expected != digest) {
            return Err(ClientError::Protocol(format!(
                "manifest {reference} has digest {digest}; the registry served other content"
            )));
        }
        Ok(FetchedManifest {
            media_type,
            digest,
            content: content.to_vec(),
        })
    }

    /// A small blob, whole, checked against its digest.
    pub async fn get_small_blob(&self, repository: &str, digest: &Digest, limit: u64) -> Result<Vec<u8>, ClientError> {
        let response = self.get_blob(repository, digest, 0).await?;
        let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
        if response.content_length().is_some_and(|length| length > limit) {
            return Err(ClientError::Protocol(format!(
                "blob {digest} is larger than {limit} bytes"
            )));
        }
        let content = response.bytes().await.map_err(|source| ClientError::Http {
            url: digest.to_string(),
            source,
        })?;
        if digest.of_bytes_like(&content) != *digest {
            return Err(ClientError::Protocol(format!(
                "blob {digest} does not hash to its digest"
            )));
        }
        Ok(content.to_vec())
    }

    /// Starts downloading a blob from byte `offset` (a `Range` request when above zero).
    /// The caller checks whether the answer is `206` (resumed) or `200` (whole).
    pub async fn get_blob(&self, repository: &str, digest: &Digest, offset: u64) -> Result<Response, ClientError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let mut headers = HeaderMap::new();
        if offset > 0 {
            headers.insert(
                RANGE,
                HeaderValue::from_str(&format!("bytes={offset}-")).expect("a range is a header value"),
            );
        }
        self.send(|| self.http.request(Method::GET, &url).headers(headers.clone()))
            .await
    }

    /// Tags of a repository (first page of up to 10,000).
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, ClientError> {
        let url = self.url(&format!("/v2/{repository}/tags/list?n=10000"));
        let response = self.send(|| self.http.get(&url)).await?;
        let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|source| ClientError::Http { url, source })?;
        Ok(body["tags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }
}

/// The parameters of a `WWW-Authenticate: Bearer …` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"`.
pub fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let rest = header
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| header.trim().strip_prefix("bearer "))?;
    let mut values = std::collections::HashMap::new();
    let mut remaining = rest.trim();
    while !remaining.is_empty() {
        let (key, after) = remaining.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        values.insert(key, value.to_string());
        remaining = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(BearerChallenge {
        realm: values.remove("realm")?,
        service: values.remove("service"),
        scope: values.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let challenge = parse_bearer_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:workers/a:pull,push""#,
        )
        .unwrap();
        assert_eq!(challenge.realm, "https://auth.example.com/token");
        assert_eq!(challenge.service.as_deref(), Some("registry.example.com"));
        assert_eq!(challenge.scope.as_deref(), Some("repository:workers/a:pull,push"));
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
        assert!(parse_bearer_challenge(r#"Bearer service="x""#).is_none());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            RegistryClient::new("127.0.0.1:8787", None).unwrap().base_url().scheme(),
            "http"
        );
        assert_eq!(
            RegistryClient::new("registry.example.com", None)
                .unwrap()
                .base_url()
                .scheme(),
            "https"
        );
        assert_eq!(
            RegistryClient::new("http://h:1/", None).unwrap().base_url().as_str(),
            "http://h:1/"
        );
        assert!(RegistryClient::new("http://", None).is_err());
    }
}
