//! Static files of the pages, compiled into the binary. Each is served at a path carrying
//! a hash of its bytes (`/static/style.css?v=…`), with an ETag and a long cache lifetime:
//! a new build changes the link, so browsers never keep a stale copy.

use std::sync::LazyLock;

use sha2::{Digest as _, Sha256};

/// One static file: its name under `/static/`, content type and bytes.
#[derive(Debug)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// A strong ETag (quoted), from the bytes' SHA-256.
    pub etag: String,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, bytes: &'static [u8]) -> Self {
        let hash = hex::encode(&Sha256::digest(bytes)[..12]);
        Asset {
            name,
            content_type,
            bytes,
            etag: format!("\"{hash}\""),
        }
    }

    /// The link pages use: the path with the hash as a version, so the link changes with
    /// the bytes.
    pub fn href(&self) -> String {
        format!("/static/{}?v={}", self.name, self.etag.trim_matches('"'))
    }
}

/// The stylesheet (light and dark through `prefers-color-scheme`).
pub static STYLESHEET: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("style.css", "text/css; charset=utf-8", include_bytes!("style.css")));

/// The worker page's copy buttons (the commands stay selectable text without it).
pub static COPY_SCRIPT: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("copy.js", "text/javascript; charset=utf-8", include_bytes!("copy.js")));

/// The site icon (also answered at `/favicon.ico`, where browsers look by default).
pub static ICON: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("icon.svg", "image/svg+xml", include_bytes!("icon.svg")));

/// The static file called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Asset> {
    [&*STYLESHEET, &*COPY_SCRIPT, &*ICON]
        .into_iter()
        .find(|asset| asset.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_found_by_name_only() {
        assert_eq!(find("style.css").unwrap().content_type, "text/css; charset=utf-8");
        assert!(find("../Cargo.toml").is_none());
        assert!(STYLESHEET.href().starts_with("/static/style.css?v="));
        assert_eq!(STYLESHEET.etag.len(), 26);
    }
}
