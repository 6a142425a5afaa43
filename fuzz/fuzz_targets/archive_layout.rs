//! The archive import's parsers of outside input (`services::archive::layout`): tar entry
//! paths, `index.json` entries' annotations (which repository and tag an entry names),
//! image names, `--since` dates.
//!
//! The first byte selects the parser; the rest is its input. Invariants: a normalised path
//! is relative, has no `.`, `..` or empty component, and normalises to itself; an entry's
//! target is a valid repository (and tag) that the annotations or the fallback gave;
//! `split_image_name` gives names that parse; `parse_since` never panics and a date it
//! accepts re-reads from its RFC 3339 spelling to the same millisecond.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rbee_registry::oci::{RepoName, Tag};
use rbee_registry::services::archive::layout::{
    normalize_entry_path, parse_since, rfc3339, split_image_name, IndexEntry, CONTAINERD_NAME, REF_NAME, REPOSITORY,
};

fn check_path(raw: &[u8]) {
    if let Ok(path) = normalize_entry_path(raw) {
        assert!(!path.starts_with('/'), "{path:?}");
        assert!(
            path.split('/').all(|part| !part.is_empty() && part != "." && part != ".."),
            "{path:?}"
        );
        assert_eq!(normalize_entry_path(path.as_bytes()).as_deref(), Ok(path.as_str()));
    }
}

fn check_entry(text: &str) {
    // Three annotation values separated by newlines; a fourth line: the fallback.
    let mut lines = text.splitn(4, '\n');
    let mut annotations = BTreeMap::new();
    for key in [REF_NAME, CONTAINERD_NAME, REPOSITORY] {
        match lines.next() {
            Some(value) if !value.is_empty() => {
                annotations.insert(key.to_string(), value.to_string());
            }
            _ => {}
        }
    }
    let fallback = lines.next().and_then(|name| RepoName::parse(name).ok());
    let entry = IndexEntry {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
        size: 2,
        annotations: annotations.clone(),
    };
    if let Ok((repository, tag)) = entry.target(fallback.as_ref()) {
        assert!(RepoName::parse(repository.as_str()).is_ok());
        if let Some(tag) = &tag {
            assert!(Tag::parse(tag.as_str()).is_ok());
        }
        if let Some(ours) = annotations.get(REPOSITORY) {
            assert_eq!(repository.as_str(), ours);
        }
        if annotations.is_empty() {
            assert_eq!(Some(&repository), fallback.as_ref());
            assert!(tag.is_none());
        }
    }
}

fn check_name(text: &str) {
    if let Ok((repository, tag)) = split_image_name(text) {
        assert!(RepoName::parse(repository.as_str()).is_ok());
        assert!(tag.is_none_or(|tag| Tag::parse(tag.as_str()).is_ok()));
    }
}

fn check_since(text: &str) {
    if let Ok(millis) = parse_since(text) {
        let spelled = rfc3339(millis);
        if spelled.contains('T') {
            assert_eq!(parse_since(&spelled), Ok(millis), "{text:?} → {spelled:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 4 {
        0 => check_path(rest),
        1 => check_entry(&text),
        2 => check_name(&text),
        _ => check_since(&text),
    }
});
