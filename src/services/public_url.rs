//! `PublicUrl`: the base URL clients reach the registry at. Every absolute URL the registry
//! hands out (a worker download's `download_url`) starts with it; it is configured
//! (`public_url`) or, from a trusted proxy, taken from its forwarded headers, never from a
//! client's `Host` alone.

use std::fmt;
use std::net::SocketAddr;

/// An `http` or `https` URL without user, query or fragment, kept without a trailing `/`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicUrl(url::Url);

/// Why a text is not a public base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid public URL {text:?}: {reason}")]
pub struct PublicUrlError {
    pub text: String,
    pub reason: &'static str,
}

impl PublicUrl {
    /// Parses `https://registry.example.com` (a path prefix such as `/registry` is kept).
    pub fn parse(text: &str) -> Result<Self, PublicUrlError> {
        let error = |reason| PublicUrlError {
            text: text.to_string(),
            reason,
        };
        let url = url::Url::parse(text).map_err(|_| error("not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(error("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(error("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(error("no user or password allowed"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(error("no query or fragment allowed"));
        }
        Ok(PublicUrl(url))
    }

    /// `scheme://authority` as a trusted proxy forwarded it.
    pub fn from_parts(scheme: &str, authority: &str) -> Result<Self, PublicUrlError> {
        PublicUrl::parse(&format!("{scheme}://{authority}"))
    }

    /// `http://<address>`: the default, the address the server listens on.
    pub fn for_address(address: SocketAddr) -> Self {
        PublicUrl::parse(&format!("http://{address}")).expect("a socket address is a valid authority")
    }

    /// The absolute URL of `path` (which starts with `/`) under this base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.as_str())
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }

    /// The base without a trailing `/`.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicUrl({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bases_and_joins_paths() {
        for (text, joined) in [
            (
                "https://registry.example.com",
                "https://registry.example.com/v2/a/blobs/x",
            ),
            (
                "https://registry.example.com/",
                "https://registry.example.com/v2/a/blobs/x",
            ),
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787/v2/a/blobs/x"),
            (
                "https://example.com/registry/",
                "https://example.com/registry/v2/a/blobs/x",
            ),
        ] {
            assert_eq!(PublicUrl::parse(text).unwrap().join("/v2/a/blobs/x"), joined, "{text}");
        }
        assert_eq!(
            PublicUrl::for_address(SocketAddr::from(([0, 0, 0, 0], 80))).as_str(),
            "http://0.0.0.0"
        );
    }

    #[test]
    fn refuses_what_is_not_a_base() {
        for text in [
            "registry.example.com",
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/?a=b",
            "https://example.com/#x",
            "http://a b",
            "http://",
        ] {
            assert!(PublicUrl::parse(text).is_err(), "{text}");
        }
        assert!(PublicUrl::from_parts("https", "evil.example/x?").is_err());
    }
}
