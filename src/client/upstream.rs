//! What a mirror reads from an upstream registry besides manifests and blobs: the
//! repository catalog and tag lists (every page), a manifest's digest by `HEAD`, a manifest
//! fetched by tag whose bytes must hash to the digest the upstream announces, and the
//! referrers of a manifest (the referrers API; `None` when the upstream has none, so the
//! caller falls back to the tag schema's `sha256-<hex>` tags, which it copies as tags).

use reqwest::header::{ACCEPT, CONTENT_TYPE, LINK};
use reqwest::StatusCode;

use super::{ClientError, FetchedManifest, RegistryClient};
use crate::oci::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::oci::{Digest, Reference};

/// Every manifest media type a mirror copies.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST];

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
        let accept = MANIFEST_TYPES.join(", ");
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

    /// A manifest by tag or digest. By digest the bytes must hash to it; by tag they must
    /// hash to the `Docker-Content-Digest` the upstream sends (when it sends one). Anything
    /// else is refused: the upstream served other content than it named.
    pub async fn fetch_manifest_verified(
        &self,
        repository: &str,
        reference: &Reference,
    ) -> Result<FetchedManifest, ClientError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let accept = MANIFEST_TYPES.join(", ");
        let response = self.send(|| self.http.get(&url).header(ACCEPT, &accept)).await?;
        let response = Self::expect(response, "GET", &[StatusCode::OK]).await?;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
                .map(str::to_string)
        };
        let media_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
        let announced = header("docker-content-digest");
        let expected = match reference {
            Reference::Digest(digest) => Some(digest.clone()),
            Reference::Tag(_) => match announced {
                Some(text) => Some(text.parse::<Digest>().map_err(|_| {
                    ClientError::Protocol(format!(
                        "{repository}:{reference}: Docker-Content-Digest {text:?} is not a digest"
                    ))
                })?),
                None => None,
            },
        };
        let content = response.bytes().await.map_err(|source| ClientError::Http {
            url: url.clone(),
            source,
        })?;
        if content.len() > 4 * 1024 * 1024 {
            return Err(ClientError::Protocol(format!(
                "{repository}:{reference}: manifest larger than 4 MiB"
            )));
        }
        let digest = match &expected {
            Some(expected) => expected.of_bytes_like(&content),
            None => Digest::sha256_of(&content),
        };
        if let Some(expected) = expected {
            if expected != digest {
                return Err(ClientError::Protocol(format!(
                    "{repository}@{expected}: the upstream served a manifest whose bytes hash to {digest}, not to the digest it named; refused, nothing stored"
                )));
            }
        }
        Ok(FetchedManifest {
            media_type,
            digest,
            content: content.to_vec(),
        })
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

#[cfg(test)]
mod tests {
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
