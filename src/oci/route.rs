//! Parsing of `/v2/…` paths into typed distribution-spec endpoints.
//!
//! Repository names contain `/`, so the router hands the whole remainder of the path here
//! and it is parsed once, from the end, into a [`V2Path`].

use super::{Digest, ParseError, RepoName, Tag};

/// What a manifest request names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.contains(':') {
            Ok(Reference::Digest(text.parse()?))
        } else {
            Ok(Reference::Tag(Tag::parse(text)?))
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Tag(tag) => tag.fmt(f),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

/// A parsed path below `/v2/`. The spec's endpoint ids are noted on each variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Path {
    /// `/v2/` (end-1).
    ApiBase,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/blobs/<digest>` (end-2, end-10).
    Blob { name: RepoName, digest: Digest },
    /// `/v2/<name>/blobs/uploads/` (end-4a, end-4b, end-11).
    Uploads { name: RepoName },
    /// `/v2/<name>/blobs/uploads/<id>` (end-5, end-6, end-13).
    Upload { name: RepoName, session_id: String },
    /// `/v2/<name>/manifests/<reference>` (end-3, end-7, end-9).
    Manifest { name: RepoName, reference: Reference },
    /// `/v2/<name>/manifests/<reference>` whose reference is neither a tag nor a digest, as
    /// spelled, with why it is neither. No manifest can be stored under it, so reads and
    /// deletes of it are of an unknown manifest (as distribution answers them); a push under
    /// it is refused with `error`.
    InvalidManifestReference {
        name: RepoName,
        reference: String,
        error: ParseError,
    },
    /// `/v2/<name>/tags/list` (end-8a, end-8b).
    Tags { name: RepoName },
    /// `/v2/<name>/referrers/<digest>` (end-12a, end-12b).
    Referrers { name: RepoName, digest: Digest },
}

/// Which distribution endpoint a [`V2Path`] addresses, without its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ApiBase,
    Catalog,
    Blob,
    Uploads,
    Upload,
    Manifest,
    Tags,
    Referrers,
}

impl Endpoint {
    /// A fixed name for the endpoint (metrics labels, log fields): derived from the parsed
    /// path, so the `/v2` grammar has one parser.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::ApiBase => "base",
            Endpoint::Catalog => "catalog",
            Endpoint::Blob => "blob",
            Endpoint::Uploads => "uploads",
            Endpoint::Upload => "upload",
            Endpoint::Manifest => "manifest",
            Endpoint::Tags => "tags",
            Endpoint::Referrers => "referrers",
        }
    }
}

impl V2Path {
    pub fn endpoint(&self) -> Endpoint {
        match self {
            V2Path::ApiBase => Endpoint::ApiBase,
            V2Path::Catalog => Endpoint::Catalog,
            V2Path::Blob { .. } => Endpoint::Blob,
            V2Path::Uploads { .. } => Endpoint::Uploads,
            V2Path::Upload { .. } => Endpoint::Upload,
            V2Path::Manifest { .. } | V2Path::InvalidManifestReference { .. } => Endpoint::Manifest,
            V2Path::Tags { .. } => Endpoint::Tags,
            V2Path::Referrers { .. } => Endpoint::Referrers,
        }
    }
}

/// Parses the part of the path after `/v2/` (without the leading slash).
///
/// Returns `Ok(None)` for a path that is no distribution endpoint at all, and an error when
/// the shape is right but a name, digest or upload id is invalid. An invalid manifest
/// reference is no error here but [`V2Path::InvalidManifestReference`]: what it answers
/// depends on the method.
pub fn parse_v2_path(rest: &str) -> Result<Option<V2Path>, ParseError> {
    if rest.is_empty() {
        return Ok(Some(V2Path::ApiBase));
    }
    if rest == "_catalog" {
        return Ok(Some(V2Path::Catalog));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let count = segments.len();
    let name_of = |end: usize| -> Result<RepoName, ParseError> {
        if end == 0 {
            return Err(ParseError::Name(String::new()));
        }
        RepoName::parse(&segments[..end].join("/"))
    };
    // `<name>/blobs/uploads/<id>`, or `<name>/blobs/uploads/` (the trailing slash gives an empty id).
    if count >= 4 && segments[count - 3] == "blobs" && segments[count - 2] == "uploads" {
        let name = name_of(count - 3)?;
        let session_id = segments[count - 1];
        if session_id.is_empty() {
            return Ok(Some(V2Path::Uploads { name }));
        }
        if !is_session_id(session_id) {
            return Err(ParseError::UploadId(session_id.to_string()));
        }
        return Ok(Some(V2Path::Upload {
            name,
            session_id: session_id.to_string(),
        }));
    }
    if count >= 3 && segments[count - 2] == "blobs" && segments[count - 1] == "uploads" {
        return Ok(Some(V2Path::Uploads {
            name: name_of(count - 2)?,
        }));
    }
    if count >= 3 && segments[count - 2] == "tags" && segments[count - 1] == "list" {
        return Ok(Some(V2Path::Tags {
            name: name_of(count - 2)?,
        }));
    }
    if count >= 3 {
        let last = segments[count - 1];
        match segments[count - 2] {
            "blobs" => {
                let name = name_of(count - 2)?;
                return Ok(Some(V2Path::Blob {
                    name,
                    digest: last.parse()?,
                }));
            }
            "manifests" => {
                let name = name_of(count - 2)?;
                return Ok(Some(match Reference::parse(last) {
                    Ok(reference) => V2Path::Manifest { name, reference },
                    Err(error) => V2Path::InvalidManifestReference {
                        name,
                        reference: last.to_string(),
                        error,
                    },
                }));
            }
            "referrers" => {
                let name = name_of(count - 2)?;
                return Ok(Some(V2Path::Referrers {
                    name,
                    digest: last.parse()?,
                }));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Upload session ids are ones this registry made: lowercase hex and dashes (UUIDs).
fn is_session_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> String {
        format!("sha256:{}", "ab".repeat(32))
    }

    #[test]
    fn table_of_paths() {
        let d = digest();
        let name = |s: &str| RepoName::parse(s).unwrap();
        let cases: Vec<(String, V2Path)> = vec![
            ("".into(), V2Path::ApiBase),
            ("_catalog".into(), V2Path::Catalog),
            (
                format!("a/blobs/{d}"),
                V2Path::Blob {
                    name: name("a"),
                    digest: d.parse().unwrap(),
                },
            ),
            (
                format!("workers/llm-worker-rbee-cpu/blobs/{d}"),
                V2Path::Blob {
                    name: name("workers/llm-worker-rbee-cpu"),
                    digest: d.parse().unwrap(),
                },
            ),
            ("a/b/blobs/uploads/".into(), V2Path::Uploads { name: name("a/b") }),
            ("a/b/blobs/uploads".into(), V2Path::Uploads { name: name("a/b") }),
            (
                "a/blobs/uploads/0f-12".into(),
                V2Path::Upload {
                    name: name("a"),
                    session_id: "0f-12".into(),
                },
            ),
            (
                "a/b/c/manifests/latest".into(),
                V2Path::Manifest {
                    name: name("a/b/c"),
                    reference: Reference::Tag(Tag::parse("latest").unwrap()),
                },
            ),
            (
                format!("a/manifests/{d}"),
                V2Path::Manifest {
                    name: name("a"),
                    reference: Reference::Digest(d.parse().unwrap()),
                },
            ),
            ("x/tags/list".into(), V2Path::Tags { name: name("x") }),
            (
                format!("x/referrers/{d}"),
                V2Path::Referrers {
                    name: name("x"),
                    digest: d.parse().unwrap(),
                },
            ),
            // A repository may itself be called `blobs` or `tags`.
            ("blobs/tags/list".into(), V2Path::Tags { name: name("blobs") }),
            (
                "tags/manifests/v1".into(),
                V2Path::Manifest {
                    name: name("tags"),
                    reference: Reference::Tag(Tag::parse("v1").unwrap()),
                },
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(parse_v2_path(&path).unwrap(), Some(expected), "path {path}");
        }
    }

    #[test]
    fn endpoint_names_are_distinct() {
        let all = [
            Endpoint::ApiBase,
            Endpoint::Catalog,
            Endpoint::Blob,
            Endpoint::Uploads,
            Endpoint::Upload,
            Endpoint::Manifest,
            Endpoint::Tags,
            Endpoint::Referrers,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|endpoint| endpoint.name()).collect();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn invalid_paths() {
        let d = digest();
        for path in [
            format!("../blobs/{d}"),
            format!("a/../b/blobs/{d}"),
            format!("Upper/blobs/{d}"),
            "a/blobs/sha256:zz".to_string(),
            "Upper/manifests/.tag".to_string(),
            "a/blobs/uploads/UPPER".to_string(),
            format!("/blobs/{d}"),
        ] {
            assert!(parse_v2_path(&path).is_err(), "{path} should be an error");
        }
        for path in ["a", "a/b", "a/unknown/x", "a/tags", "a/blobs/uploads/../../x"] {
            assert_eq!(parse_v2_path(path).unwrap(), None, "{path} is no endpoint");
        }
    }

    #[test]
    fn manifest_references_that_are_neither_tag_nor_digest() {
        let too_long = "t".repeat(129);
        for (reference, tag_shaped) in [
            (".INVALID_MANIFEST_NAME", true),
            ("-tag", true),
            ("", true),
            (too_long.as_str(), true),
            ("bad:tag", false),
            ("sha256:totallywrong", false),
        ] {
            let parsed = parse_v2_path(&format!("a/b/manifests/{reference}")).unwrap();
            let Some(V2Path::InvalidManifestReference {
                name,
                reference: spelled,
                error,
            }) = parsed
            else {
                panic!("{reference:?} parsed as {parsed:?}");
            };
            assert_eq!(name.as_str(), "a/b");
            assert_eq!(spelled, reference);
            assert_eq!(
                matches!(error, ParseError::Tag(_)),
                tag_shaped,
                "{reference:?}: {error}"
            );
            assert_eq!(
                matches!(error, ParseError::Digest(_)),
                !tag_shaped,
                "{reference:?}: {error}"
            );
        }
    }
}
