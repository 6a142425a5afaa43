//! Repository names, tags, digests, references and the `/v2/*` path parser.
//!
//! Invariants: each hand-written parser accepts exactly what the distribution spec's regular
//! expression accepts (the `regex` crate is the oracle); whatever parses re-serialises to the
//! same text; a parsed `/v2/` path renders back to the path it came from, and
//! `V2Path::endpoint` (the metrics label) names the endpoint the path renders as;
//! a valid name and `/manifests/` followed by a segment that is neither tag nor digest is an
//! invalid manifest reference, not an error.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rbee_registry::oci::name::MAX_NAME_LEN;
use rbee_registry::oci::{parse_v2_path, Digest, Reference, RepoName, Tag, V2Path};
use regex::Regex;

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$").unwrap());
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").unwrap());
static DIGEST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$").unwrap());
static SESSION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-f0-9-]{1,64}$").unwrap());

fn name_ok(text: &str) -> bool {
    text.len() <= MAX_NAME_LEN && NAME.is_match(text)
}

fn check_name(text: &str) {
    match RepoName::parse(text) {
        Ok(name) => {
            assert!(name_ok(text), "RepoName accepted {text:?}, the spec's grammar does not");
            assert_eq!(name.as_str(), text);
            assert_eq!(name.to_string(), text);
        }
        Err(_) => assert!(
            !name_ok(text),
            "RepoName refused {text:?}, the spec's grammar accepts it"
        ),
    }
}

fn check_tag(text: &str) {
    match Tag::parse(text) {
        Ok(tag) => {
            assert!(TAG.is_match(text), "Tag accepted {text:?}");
            assert_eq!(tag.to_string(), text);
        }
        Err(_) => assert!(!TAG.is_match(text), "Tag refused {text:?}"),
    }
}

fn check_digest(text: &str) {
    match text.parse::<Digest>() {
        Ok(digest) => {
            assert!(DIGEST.is_match(text), "Digest accepted {text:?}");
            assert_eq!(digest.to_string(), text);
            assert_eq!(format!("{}:{}", digest.algorithm().name(), digest.hex()), text);
            assert_eq!(digest.hex().len(), digest.algorithm().hex_len());
        }
        Err(_) => assert!(!DIGEST.is_match(text), "Digest refused {text:?}"),
    }
}

fn check_reference(text: &str) {
    match Reference::parse(text) {
        Ok(reference) => {
            assert!(
                TAG.is_match(text) || DIGEST.is_match(text),
                "Reference accepted {text:?}"
            );
            assert_eq!(reference.to_string(), text);
        }
        Err(_) => assert!(
            !TAG.is_match(text) && !DIGEST.is_match(text),
            "Reference refused {text:?}"
        ),
    }
}

/// The path a parsed endpoint stands for, and its endpoint's label.
fn render(path: &V2Path) -> (String, &'static str) {
    match path {
        V2Path::ApiBase => (String::new(), "base"),
        V2Path::Catalog => ("_catalog".into(), "catalog"),
        V2Path::Blob { name, digest } => (format!("{name}/blobs/{digest}"), "blob"),
        V2Path::Uploads { name } => (format!("{name}/blobs/uploads/"), "uploads"),
        V2Path::Upload { name, session_id } => (format!("{name}/blobs/uploads/{session_id}"), "upload"),
        V2Path::Manifest { name, reference } => (format!("{name}/manifests/{reference}"), "manifest"),
        V2Path::InvalidManifestReference { name, reference, .. } => (format!("{name}/manifests/{reference}"), "manifest"),
        V2Path::Tags { name } => (format!("{name}/tags/list"), "tags"),
        V2Path::Referrers { name, digest } => (format!("{name}/referrers/{digest}"), "referrers"),
    }
}

fn check_path(rest: &str) {
    let parsed = parse_v2_path(rest);
    if let Ok(Some(path)) = &parsed {
        let (rendered, label) = render(path);
        // `<name>/blobs/uploads` without the trailing slash is the one second spelling.
        let same = rendered == rest || (label == "uploads" && rendered == format!("{rest}/"));
        assert!(same, "{rest:?} parsed as {path:?}, which is {rendered:?}");
        assert_eq!(path.endpoint().name(), label, "metrics label of {rest:?} ({path:?})");
    }
    // Completeness: a valid name followed by a valid endpoint suffix is that endpoint.
    let expect = |suffix: &str, valid: &dyn Fn(&str) -> bool, label: &str| {
        if let Some((name, last)) = rest.rsplit_once(suffix) {
            if name_ok(name) && valid(last) {
                let path = parsed.clone().unwrap_or_else(|e| panic!("{rest:?} refused: {e}"));
                let path = path.unwrap_or_else(|| panic!("{rest:?} is no endpoint"));
                assert_eq!(render(&path).1, label, "{rest:?} parsed as {path:?}");
            }
        }
    };
    expect("/blobs/uploads/", &|id| id.is_empty(), "uploads");
    expect("/blobs/uploads/", &|id| SESSION.is_match(id), "upload");
    expect("/blobs/", &|d| DIGEST.is_match(d), "blob");
    expect("/referrers/", &|d| DIGEST.is_match(d), "referrers");
    expect("/manifests/", &|r| TAG.is_match(r) || DIGEST.is_match(r), "manifest");
    // A valid name with any other last segment after `/manifests/` is an invalid reference,
    // spelled as given (reads of it are of an unknown manifest).
    if let Some((name, last)) = rest.rsplit_once("/manifests/") {
        if name_ok(name) && !last.contains('/') {
            let valid = TAG.is_match(last) || DIGEST.is_match(last);
            match &parsed {
                Ok(Some(V2Path::Manifest { .. })) => assert!(valid, "{rest:?} parsed as a valid reference"),
                Ok(Some(V2Path::InvalidManifestReference { reference, .. })) => {
                    assert!(!valid, "{rest:?} parsed as an invalid reference");
                    assert_eq!(reference, last);
                }
                other => panic!("{rest:?} parsed as {other:?}"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_name(text);
    check_tag(text);
    check_digest(text);
    check_reference(text);
    check_path(text);
});
