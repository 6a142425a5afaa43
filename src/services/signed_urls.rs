//! The registry's self-signed download URLs: `/v1/blobs/<digest>?repository=…&expires=…
//! &signature=…`, handed out by the download endpoint where the blob store does not presign
//! (the filesystem, or S3 without redirects). The signature is an HMAC of the method,
//! repository, digest and expiry under a key stored once in the database
//! (`url_signing_keys`), so every process on the database accepts every process's URLs. Such
//! a URL needs no other credential until it expires, and nothing after; changing any part of
//! it breaks the signature.

use std::time::Duration;

use super::workers::WorkerError;
use super::{PublicUrl, Registry, RegistryError};
use crate::auth::secrets::{random_bytes, url_signature, url_signature_valid};
use crate::db::{now_millis, policies};
use crate::oci::{Digest, RepoName};

/// The query of a self-signed download URL, as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct SignedUrlQuery {
    pub repository: Option<String>,
    pub expires: Option<String>,
    pub signature: Option<String>,
}

fn message(repository: &RepoName, digest: &Digest, expires: i64) -> String {
    format!("GET\n{repository}\n{digest}\n{expires}")
}

impl Registry {
    /// The URL-signing key shared through the database (created by the first process).
    async fn url_signing_key(&self) -> Result<Vec<u8>, RegistryError> {
        let stored = match policies::url_signing_secret(self.db.reader()).await? {
            Some(stored) => stored,
            None => {
                let candidate = hex::encode(random_bytes(32));
                policies::insert_url_signing_secret(self.db.writer(), &candidate, now_millis()).await?;
                policies::url_signing_secret(self.db.writer())
                    .await?
                    .ok_or_else(|| RegistryError::Corrupt("the URL-signing key was not stored".into()))?
            }
        };
        hex::decode(stored).map_err(|_| RegistryError::Corrupt("the URL-signing key is not hex".into()))
    }

    /// A URL under `base` that serves `digest` of `repository` without credentials for
    /// `lifetime`.
    pub async fn signed_blob_url(
        &self,
        base: &PublicUrl,
        repository: &RepoName,
        digest: &Digest,
        lifetime: Duration,
    ) -> Result<String, RegistryError> {
        // Rounded up to the next second, so the URL works for at least `lifetime`.
        let expires = (now_millis() + lifetime.as_millis() as i64 + 999) / 1000;
        let signature = url_signature(&self.url_signing_key().await?, &message(repository, digest, expires));
        Ok(base.join(&format!(
            "/v1/blobs/{digest}?repository={repository}&expires={expires}&signature={signature}"
        )))
    }

    /// The repository a self-signed URL for `digest` may be served from, when the URL is
    /// intact and unexpired.
    pub async fn check_signed_blob_url(
        &self,
        digest: &str,
        query: &SignedUrlQuery,
    ) -> Result<(RepoName, Digest), WorkerError> {
        let refused = WorkerError::DownloadUrlRefused { expired: false };
        let (Some(repository), Some(expires), Some(signature)) = (&query.repository, &query.expires, &query.signature)
        else {
            return Err(refused);
        };
        let (Ok(repository), Ok(digest), Ok(expires)) = (
            RepoName::parse(repository),
            digest.parse::<Digest>(),
            expires.parse::<i64>(),
        ) else {
            return Err(refused);
        };
        let key = self.url_signing_key().await?;
        if !url_signature_valid(&key, &message(&repository, &digest, expires), signature) {
            return Err(refused);
        }
        if expires.saturating_mul(1000) <= now_millis() {
            return Err(WorkerError::DownloadUrlRefused { expired: true });
        }
        Ok((repository, digest))
    }
}
