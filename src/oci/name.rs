//! Repository names and tags, validated against the distribution spec's grammar.

use std::fmt;

use super::ParseError;

/// Longest repository name accepted (the spec recommends registries limit it; 255 is common).
pub const MAX_NAME_LEN: usize = 255;

/// A repository name such as `workers/llm-worker-rbee-cpu`, validated against
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.is_empty() || text.len() > MAX_NAME_LEN || !text.split('/').all(is_path_component) {
            return Err(ParseError::Name(text.to_string()));
        }
        Ok(RepoName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One `/`-separated component: alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut index = 0;
    while index < bytes.len() {
        if is_alnum(bytes[index]) {
            index += 1;
            continue;
        }
        let separator_start = index;
        while index < bytes.len() && !is_alnum(bytes[index]) {
            index += 1;
        }
        let separator = &component[separator_start..index];
        let allowed = separator == "." || separator == "_" || separator == "__" || separator.bytes().all(|b| b == b'-');
        if !allowed {
            return false;
        }
    }
    true
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let bytes = text.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 128
            && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
            && bytes[1..]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if !valid {
            return Err(ParseError::Tag(text.to_string()));
        }
        Ok(Tag(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for good in [
            "a",
            "library/ubuntu",
            "workers/llm-worker-rbee-cpu",
            "a.b/c_d/e__f/g---h",
            "0/1/2/3/4/5",
        ] {
            assert!(RepoName::parse(good).is_ok(), "{good} should be accepted");
        }
        for bad in [
            "",
            "Upper",
            "a/../b",
            "..",
            "a/./b",
            "/a",
            "a/",
            "a//b",
            "a___b",
            "a-",
            "-a",
            "a.-b",
            "a%2fb",
            "a b",
            &"a".repeat(256),
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn tags() {
        for good in ["latest", "0.1.0", "v1.0.0-rc.1", "_x", &"a".repeat(128)] {
            assert!(Tag::parse(good).is_ok(), "{good} should be accepted");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
