//! What replication needs of the Distribution client besides the common calls: for the
//! pull-through cache and the mirror, a manifest fetch that checks the bytes against the
//! digest asked for and the upstream's `Docker-Content-Digest` (also for a tag), a blob
//! download that reports the upstream's answer in typed form, and credentials from a Docker
//! `config.json`; for the mirror, the repository catalog and tag lists (every page), a
//! manifest's digest by `HEAD`, and the referrers of a manifest (the referrers API; `None`
//! when the upstream has none, so the caller falls back to the tag schema's `sha256-<hex>`
//! tags, which it copies as tags).

use std::path::Path;

use base64::Engine as _;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LINK};
use reqwest::StatusCode;

use super::{ClientError, Credentials, FetchedManifest, RegistryClient};
use crate::oci::media_types::OCI_INDEX;
use crate::oci::{media_types, Digest, Reference};

/// Every manifest media type the cache asks an upstream for.
pub const MANIFEST_ACCEPT: &[&str] = &[
    media_types::OCI_INDEX,
    media_types::OCI_MANIFEST,
    media_types::DOCKER_MANIFEST_LIST,
    media_types::DOCKER_MANIFEST,
];

/// What an upstream answered for a manifest or a blob.
#[derive(Debug)]
pub enum Upstream<T> {
    Found(T),
    /// `404`: the upstream does not have it.
    NotFound,
}

/// A blob download from an upstream: its declared size (when the upstream sent one) and
/// the response whose body streams the bytes.
#[derive(Debug)]
pub struct BlobDownload {
    pub size: Option<u64>,
    pub response: reqwest::Response,
}

/// The digest an upstream names in `Docker-Content-Digest`, when it sends a valid one.
fn declared_digest(response: &reqwest::Response) -> Option<Result<Digest, String>> {
    let value = response.headers().get("docker-content-digest")?;
    let text = value.to_str().unwrap_or("");
    Some(text.parse::<Digest>().map_err(|_| text.to_string()))
}

impl RegistryClient {
    /// Fetches a manifest by tag or digest and checks its bytes: against the digest asked
    /// for, and against `Docker-Content-Digest` when the upstream sends one (a tag's digest
    /// is otherwise the bytes' SHA-256). Larger than `limit` bytes is refused.
    pub async fn fetch_verified_manifest(
        &self,
        repository: &str,
        reference: &Reference,
        limit: usize,
    ) -> Result<Upstream<FetchedManifest>, ClientError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let accept = MANIFEST_ACCEPT.join(", ");
        let response = self.send(|| self.http.get(&url).header(ACCEPT, &accept)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Upstream::NotFound);
        }
        let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(ClientError::Protocol(format!(
                "manifest {repository}:{reference} is larger than {limit} bytes"
            )));
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string();
        let declared = declared_digest(&response);
        let mut response = response;
        let mut content = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|source| ClientError::Http {
            url: url.clone(),
            source,
        })? {
            if content.len() + chunk.len() > limit {
                return Err(ClientError::Protocol(format!(
                    "manifest {repository}:{reference} is larger than {limit} bytes"
                )));
            }
            content.extend_from_slice(&chunk);
        }
        let expected = match (reference, declared) {
            (_, Some(Err(text))) => {
                return Err(ClientError::Protocol(format!(
                    "manifest {repository}:{reference}: Docker-Content-Digest {text:?} is not a digest; refused, nothing stored"
                )))
            }
            (Reference::Digest(asked), Some(Ok(declared))) if *asked != declared => {
                return Err(ClientError::Protocol(format!(
                    "manifest {repository}:{reference}: the upstream declared digest {declared}; refused, nothing stored"
                )))
            }
            (Reference::Digest(asked), _) => Some(asked.clone()),
            (Reference::Tag(_), Some(Ok(declared))) => Some(declared),
            (Reference::Tag(_), None) => None,
        };
        let digest = match expected {
            Some(expected) => {
                let computed = expected.of_bytes_like(&content);
                if computed != expected {
                    return Err(ClientError::Protocol(format!(
                        "manifest {repository}:{reference}: the upstream's bytes hash to {computed}, not {expected}; refused, nothing stored"
                    )));
                }
                computed
            }
            None => Digest::sha256_of(&content),
        };
        Ok(Upstream::Found(FetchedManifest {
            media_type,
            digest,
            content,
        }))
    }

    /// Starts downloading a whole blob: `NotFound` on `404`, an error on any answer but `200`.
    /// The caller verifies the bytes against the digest as they stream.
    pub async fn open_blob(&self, repository: &str, digest: &Digest) -> Result<Upstream<BlobDownload>, ClientError> {
        let response = self.get_blob(repository, digest, 0).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Upstream::NotFound);
        }
        let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
        Ok(Upstream::Found(BlobDownload {
            size: response.content_length(),
            response,
        }))
    }
}

/// A descriptor from a referrers answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerDescriptor {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
}

/// The path and query of a `Link: <…>; rel="next"` header, if any.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get(LINK)?.to_str().ok()?;
    let start = value.find('<')? + 1;
    let end = value[start..].find('>')? + start;
    value[end..].contains("next").then(|| value[start..end].to_string())
}

impl RegistryClient {
    /// GETs a JSON list, page after page (`Link: rel="next"`), collecting the strings of
    /// `field`. `Ok(None)` when the first page answers `404` (or `401`/`403` for `_catalog`,
    /// which many registries refuse).
    async fn paged_strings(
        &self,
        first: String,
        field: &str,
        missing: &[StatusCode],
    ) -> Result<Option<Vec<String>>, ClientError> {
        let mut url = first;
        let mut values = Vec::new();
        let mut pages = 0;
        loop {
            let response = self.send(|| self.http.get(&url)).await?;
            if pages == 0 && missing.contains(&response.status()) {
                return Ok(None);
            }
            let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
            let next = next_link(response.headers());
            let body: serde_json::Value = response.json().await.map_err(|source| ClientError::Http {
                url: url.clone(),
                source,
            })?;
            values.extend(
                body[field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|value| value.as_str().map(str::to_string)),
            );
            pages += 1;
            match next {
                // A relative link (the spec's form) or an absolute one on the same registry.
                Some(next) if pages < 10_000 => {
                    url = match self.base.join(&next) {
                        Ok(joined) => joined.to_string(),
                        Err(_) => return Err(ClientError::Protocol(format!("invalid Link {next:?}"))),
                    }
                }
                _ => return Ok(Some(values)),
            }
        }
    }

    /// The upstream's repositories (`GET /v2/_catalog`, every page); `None` when it has no
    /// catalog or does not show it to these credentials.
    pub async fn list_catalog(&self) -> Result<Option<Vec<String>>, ClientError> {
        let missing = [StatusCode::NOT_FOUND, StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
        self.paged_strings(self.url("/v2/_catalog?n=1000"), "repositories", &missing)
            .await
    }

    /// Every tag of a repository (every page); empty when the repository is unknown.
    pub async fn list_all_tags(&self, repository: &str) -> Result<Vec<String>, ClientError> {
        let first = self.url(&format!("/v2/{repository}/tags/list?n=1000"));
        Ok(self
            .paged_strings(first, "tags", &[StatusCode::NOT_FOUND])
            .await?
            .unwrap_or_default())
    }

    /// The digest the upstream announces for a manifest (`HEAD`, `Docker-Content-Digest`);
    /// `Ok(None)` when it is unknown, `Err` when the answer names no digest.
    pub async fn head_manifest(&self, repository: &str, reference: &Reference) -> Result<Option<Digest>, ClientError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let accept = MANIFEST_ACCEPT.join(", ");
        let response = self.send(|| self.http.head(&url).header(ACCEPT, &accept)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = Self::expect(response, "HEAD", &[StatusCode::OK]).await?;
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<Digest>().ok());
        match (digest, reference) {
            (Some(digest), _) => Ok(Some(digest)),
            (None, Reference::Digest(digest)) => Ok(Some(digest.clone())),
            (None, Reference::Tag(_)) => Ok(None),
        }
    }

    /// A manifest by tag or digest, checked like [`RegistryClient::fetch_verified_manifest`]
    /// (at most 4 MiB); an upstream without it is an error.
    pub async fn fetch_manifest_verified(
        &self,
        repository: &str,
        reference: &Reference,
    ) -> Result<FetchedManifest, ClientError> {
        match self
            .fetch_verified_manifest(repository, reference, 4 * 1024 * 1024)
            .await?
        {
            Upstream::Found(manifest) => Ok(manifest),
            Upstream::NotFound => Err(ClientError::Protocol(format!(
                "{repository}:{reference}: the upstream has no such manifest"
            ))),
        }
    }

    /// The referrers of `digest` (the referrers API). `Ok(None)` when the upstream does not
    /// implement it (`404`, or an answer that is not an index).
    pub async fn list_referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<ReferrerDescriptor>>, ClientError> {
        let url = self.url(&format!("/v2/{repository}/referrers/{digest}"));
        let response = self.send(|| self.http.get(&url).header(ACCEPT, OCI_INDEX)).await?;
        if matches!(
            response.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST
        ) {
            return Ok(None);
        }
        let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
        let body: serde_json::Value = match response.json().await {
            Ok(body) => body,
            Err(_) => return Ok(None),
        };
        let Some(entries) = body["manifests"].as_array() else {
            return Ok(None);
        };
        let mut referrers = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(digest) = entry["digest"].as_str().and_then(|text| text.parse::<Digest>().ok()) else {
                return Err(ClientError::Protocol(format!(
                    "{repository}: a referrer of {digest} has no valid digest"
                )));
            };
            referrers.push(ReferrerDescriptor {
                digest,
                media_type: entry["mediaType"].as_str().unwrap_or_default().to_string(),
                artifact_type: entry["artifactType"].as_str().map(str::to_string),
            });
        }
        Ok(Some(referrers))
    }
}

/// The credentials a Docker `config.json` holds for `host` (`auths.<host>.auth`, base64 of
/// `user:password`, or `username`/`password` fields). `None` when the file has none for it;
/// credential helpers (`credsStore`) are not consulted.
pub fn docker_config_credentials(path: &Path, host: &str) -> Result<Option<Credentials>, ClientError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ClientError::Io(std::io::Error::new(
                error.kind(),
                format!("Docker config {}: {error}", path.display()),
            )))
        }
    };
    let config: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|error| ClientError::Protocol(format!("Docker config {}: {error}", path.display())))?;
    let Some(auths) = config["auths"].as_object() else {
        return Ok(None);
    };
    let entry = auths.iter().find_map(|(key, entry)| {
        let key_host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        (key_host == host).then_some(entry)
    });
    let Some(entry) = entry else {
        return Ok(None);
    };
    if let (Some(username), Some(password)) = (entry["username"].as_str(), entry["password"].as_str()) {
        return Ok(Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    let Some(auth) = entry["auth"].as_str() else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ClientError::Protocol(format!("Docker config {}: {host}'s auth is not base64", path.display()))
        })?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| ClientError::Protocol(format!("Docker config {}: {host}'s auth has no ':'", path.display())))?;
    Ok(Some(Credentials::Basic {
        username: username.to_string(),
        password: password.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_entries() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(r#"{{"auths":{{"https://registry.example:5000/v2/":{{"auth":"{auth}"}},"other.example":{{"username":"bob","password":"pw"}}}}}}"#),
        )
        .unwrap();
        match docker_config_credentials(&path, "registry.example:5000").unwrap() {
            Some(Credentials::Basic { username, password }) => {
                assert_eq!((username.as_str(), password.as_str()), ("alice", "s3cret"))
            }
            other => panic!("unexpected {other:?}"),
        }
        match docker_config_credentials(&path, "other.example").unwrap() {
            Some(Credentials::Basic { username, .. }) => assert_eq!(username, "bob"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(docker_config_credentials(&path, "missing.example").unwrap().is_none());
        assert!(docker_config_credentials(&directory.path().join("none.json"), "x")
            .unwrap()
            .is_none());
    }
}

#[cfg(test)]
mod paging_tests {
    use super::*;

    #[test]
    fn next_links() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(next_link(&headers), None);
        headers.insert(LINK, "</v2/_catalog?last=b&n=2>; rel=\"next\"".parse().unwrap());
        assert_eq!(next_link(&headers).as_deref(), Some("/v2/_catalog?last=b&n=2"));
        headers.insert(LINK, "</v2/x>; rel=\"prev\"".parse().unwrap());
        assert_eq!(next_link(&headers), None);
    }
}
