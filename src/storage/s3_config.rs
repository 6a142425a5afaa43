//! `S3Config`: where an S3-compatible bucket is and how to reach it. A plain value owned by
//! the storage layer; `config` assembles it from flags, environment and file.

use std::time::Duration;

/// An S3-compatible bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL; `None` means AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Key prefix inside the bucket, so several registries (or tests) can share one.
    pub prefix: Option<String>,
    pub access_key_id: Option<String>,
    /// Never shown by `Debug`.
    pub secret_access_key: Option<String>,
    /// Allow `http://` endpoints (loopback or a private network).
    pub allow_http: bool,
    /// `bucket.host` addressing instead of path style (`host/bucket`).
    pub virtual_hosted_style: bool,
    /// When set, blob downloads are answered with `307` to a presigned URL valid this long.
    pub redirect_downloads: Option<Duration>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("redirect_downloads", &self.redirect_downloads)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let config = S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: "b".into(),
            prefix: None,
            access_key_id: Some("id".into()),
            secret_access_key: Some("very-secret-value".into()),
            allow_http: false,
            virtual_hosted_style: false,
            redirect_downloads: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
