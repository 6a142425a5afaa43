//! The principal behind a request: what the credential it presented proved.

use crate::oci::RepoName;

/// A repository pattern of a publisher token: a repository name where `*` matches any run of
/// characters within one path component and a trailing `/**` matches any depth below
/// (`workers/*`, `workers/llm-*`, `team/**`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPattern(String);

impl RepoPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > 255 {
            return Err(format!("repository pattern {text:?}: must be 1 to 255 characters"));
        }
        let valid = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/*".contains(c));
        if !valid || text.starts_with('/') || text.ends_with('/') || text.contains("//") {
            return Err(format!(
                "repository pattern {text:?}: use a repository name with `*` within a component or a trailing `/**`"
            ));
        }
        Ok(RepoPattern(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, repo: &RepoName) -> bool {
        let name = repo.as_str();
        if let Some(prefix) = self.0.strip_suffix("/**") {
            return glob_prefix(prefix, name);
        }
        let pattern: Vec<&str> = self.0.split('/').collect();
        let parts: Vec<&str> = name.split('/').collect();
        pattern.len() == parts.len() && pattern.iter().zip(&parts).all(|(p, n)| component_matches(p, n))
    }
}

/// `prefix/**` where `prefix` has globs: each of its components matches one of the name's
/// leading components and at least one component follows.
fn glob_prefix(prefix: &str, name: &str) -> bool {
    let pattern: Vec<&str> = prefix.split('/').collect();
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() > pattern.len() && pattern.iter().zip(&parts).all(|(p, n)| component_matches(p, n))
}

/// `*` matches any run of characters (none included) within one component.
fn component_matches(pattern: &str, text: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    if pieces.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Who a request acts as, after its credential was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credential.
    Anonymous,
    /// The admin token: everything, including license and publisher management.
    Admin,
    /// A publisher token (`rbee_pub_…`, for CI): push and pull on its patterns, delete only
    /// when created with it.
    Publisher {
        name: String,
        patterns: Vec<RepoPattern>,
        allow_delete: bool,
    },
    /// A license token (`rbee_lic_…`): pull on exactly the workers it licenses.
    License {
        license_id: String,
        holder: String,
        /// Worker ids (repository `workers/<id>`).
        workers: Vec<String>,
        /// Unix seconds.
        expires_at: i64,
    },
}

impl Principal {
    /// The token subject (`sub`) for this principal.
    pub fn subject(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::Admin => "admin".into(),
            Principal::Publisher { name, .. } => format!("publisher:{name}"),
            Principal::License { license_id, .. } => format!("license:{license_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, repo: &str) -> bool {
        RepoPattern::parse(pattern)
            .unwrap()
            .matches(&RepoName::parse(repo).unwrap())
    }

    #[test]
    fn patterns() {
        assert!(matches("workers/*", "workers/llm-worker-rbee-cpu"));
        assert!(!matches("workers/*", "workers/a/b"));
        assert!(matches("workers/llm-*", "workers/llm-worker-rbee-cpu"));
        assert!(!matches("workers/llm-*", "workers/sd-worker"));
        assert!(matches("team/**", "team/a/b"));
        assert!(!matches("team/**", "team"));
        assert!(!matches("team/**", "teams/a"));
        assert!(matches("a/*-x/**", "a/b-x/c"));
        assert!(matches("exact/name", "exact/name"));
        assert!(!matches("exact/name", "exact/name2"));
        assert!(RepoPattern::parse("/abs").is_err());
        assert!(RepoPattern::parse("UPPER").is_err());
    }
}
