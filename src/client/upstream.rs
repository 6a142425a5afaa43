//! What the pull-through cache needs of the Distribution client besides the common calls:
//! a manifest fetch that checks the upstream's `Docker-Content-Digest` against the bytes
//! (also for a tag), a blob download that reports the upstream's answer in typed form, and
//! credentials from a Docker `config.json`.

use std::path::Path;

use base64::Engine as _;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

use super::{ClientError, Credentials, FetchedManifest, RegistryClient};
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
                    "manifest {repository}:{reference}: Docker-Content-Digest {text:?} is not a digest"
                )))
            }
            (Reference::Digest(asked), Some(Ok(declared))) if *asked != declared => {
                return Err(ClientError::Protocol(format!(
                    "manifest {repository}:{reference}: the upstream declared digest {declared}"
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
                        "manifest {repository}:{reference}: the upstream's bytes hash to {computed}, not {expected}"
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
