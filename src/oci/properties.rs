//! Property tests (proptest) of every parser that reads client input: `/v2/` paths, names,
//! tags, references and digests, `Range` and `Content-Range`, manifests and indexes, and the
//! saved hash state. They run on stable with the unit tests (`PROPTEST_CASES` raises the
//! count), from generated inputs shaped by each grammar; the coverage-guided fuzzing of the
//! same parsers is in `fuzz/` (cargo-fuzz targets, built with nightly by `scripts/fuzz.sh`).
//! Failing inputs are kept in `proptest-regressions/oci/properties.txt` and replayed first.
//! Tar extraction has its own property in `client::unpack` (nothing escapes the destination)
//! and its own fuzz target.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

/// Text built from the characters the grammars care about, so cases hit the edges often.
fn path_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[a-z0-9._/:-]{0,80}|(blobs|uploads|manifests|tags|list|referrers|sha256:|/|a|\\.\\.|_|-){0,12}",
    )
    .unwrap()
}

fn valid_component() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9]{1,6}([._-][a-z0-9]{1,6}){0,2}").unwrap()
}

fn valid_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(valid_component(), 1..4).prop_map(|parts| parts.join("/"))
}

fn hex64() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[0-9a-f]{64}").unwrap()
}

/// Numbers with the boundaries a fuzzer's dictionary would try.
fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(i64::MAX as u64),
        any::<u64>()
    ]
}

/// Arbitrary JSON, biased towards manifest-shaped objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z:/.+0-9]{0,20}".prop_map(Value::from),
        hex64().prop_map(|hex| Value::from(format!("sha256:{hex}"))),
        Just(Value::from(media_types::OCI_MANIFEST)),
        Just(Value::from(media_types::OCI_INDEX)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            Just("schemaVersion".to_string()),
            Just("mediaType".to_string()),
            Just("config".to_string()),
            Just("layers".to_string()),
            Just("manifests".to_string()),
            Just("digest".to_string()),
            Just("size".to_string()),
            Just("subject".to_string()),
            Just("artifactType".to_string()),
            Just("annotations".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(key, inner, 0..6).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn v2_paths_never_panic_and_parsed_names_are_valid(rest in path_text()) {
        if let Ok(Some(path)) = parse_v2_path(&rest) {
            let name = match &path {
                V2Path::Blob { name, .. } | V2Path::Uploads { name } | V2Path::Upload { name, .. }
                | V2Path::Manifest { name, .. } | V2Path::InvalidManifestReference { name, .. }
                | V2Path::Tags { name } | V2Path::Referrers { name, .. } => Some(name),
                V2Path::ApiBase | V2Path::Catalog => None,
            };
            if let Some(name) = name {
                prop_assert!(RepoName::parse(name.as_str()).is_ok());
                prop_assert!(!name.as_str().contains(".."));
            }
        }
    }

    #[test]
    fn valid_paths_parse_to_what_they_name(name in valid_name(), hex in hex64(), tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}") {
        let digest: Digest = format!("sha256:{hex}").parse().unwrap();
        prop_assert_eq!(
            parse_v2_path(&format!("{name}/blobs/{digest}")).unwrap(),
            Some(V2Path::Blob { name: RepoName::parse(&name).unwrap(), digest: digest.clone() })
        );
        prop_assert_eq!(
            parse_v2_path(&format!("{name}/manifests/{tag}")).unwrap(),
            Some(V2Path::Manifest { name: RepoName::parse(&name).unwrap(), reference: Reference::Tag(Tag::parse(&tag).unwrap()) })
        );
        prop_assert_eq!(
            parse_v2_path(&format!("{name}/blobs/{digest}")).unwrap().map(|path| path.endpoint()),
            Some(Endpoint::Blob)
        );
    }

    #[test]
    fn names_tags_references_and_digests_never_panic_and_round_trip(text in "\\PC{0,300}") {
        if let Ok(name) = RepoName::parse(&text) {
            prop_assert_eq!(name.to_string(), text.clone());
        }
        if let Ok(tag) = Tag::parse(&text) {
            prop_assert_eq!(tag.to_string(), text.clone());
            prop_assert!(text.len() <= 128);
        }
        if let Ok(digest) = text.parse::<Digest>() {
            prop_assert_eq!(digest.to_string(), text.clone());
        }
        if let Ok(reference) = Reference::parse(&text) {
            prop_assert_eq!(reference.to_string(), text);
        }
    }

    #[test]
    fn content_range_never_panics_and_is_ordered(text in "(bytes[ =])?([0-9]{0,21}|18446744073709551615|0)-?([0-9]{0,21}|18446744073709551615)(/[0-9*]{0,5})?|\\PC{0,30}") {
        if let Ok(range) = parse_content_range(&text) {
            prop_assert!(range.start <= range.end);
            let _ = range.len();
        }
    }

    #[test]
    fn content_range_round_trips(start in edge_u64(), length in edge_u64()) {
        let end = start.saturating_add(length);
        let parsed = parse_content_range(&format!("{start}-{end}"));
        if end <= range::MAX_OFFSET {
            let range = parsed.unwrap();
            prop_assert_eq!(range, ByteRange { start, end });
            prop_assert_eq!(range.len(), end - start + 1);
        } else {
            prop_assert!(parsed.is_err());
        }
    }

    #[test]
    fn range_requests_stay_inside_the_blob(text in "bytes=[0-9]{0,21}-[0-9]{0,21}|bytes=-?[0-9]{0,21}|\\PC{0,30}", size in prop_oneof![edge_u64(), 0u64..1000]) {
        match resolve_range(&text, size) {
            RangeRequest::Partial(range) => {
                prop_assert!(range.start <= range.end);
                prop_assert!(range.end < size);
                prop_assert!(range.len() <= size);
            }
            RangeRequest::Whole | RangeRequest::Unsatisfiable => {}
        }
    }

    #[test]
    fn manifests_never_panic(value in json_value(), content_type in prop_oneof![Just(None), Just(Some(media_types::OCI_MANIFEST)), Just(Some(media_types::OCI_INDEX)), Just(Some("text/plain"))]) {
        let body = serde_json::to_vec(&value).unwrap();
        if let Ok(facts) = inspect_manifest(content_type, &body) {
            prop_assert!(media_types::is_supported_manifest(&facts.media_type));
        }
    }

    #[test]
    fn manifest_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = inspect_manifest(None, &body);
    }

    #[test]
    fn valid_manifests_list_their_blobs(hexes in proptest::collection::vec(hex64(), 1..6)) {
        let layers: Vec<Value> = hexes[1..].iter().map(|hex| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{hex}"), "size": 1
        })).collect();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": media_types::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", hexes[0]), "size": 2},
            "layers": layers,
        });
        let facts = inspect_manifest(Some(media_types::OCI_MANIFEST), &serde_json::to_vec(&manifest).unwrap()).unwrap();
        prop_assert_eq!(facts.blobs.len(), hexes.len());
    }

    #[test]
    fn saved_hash_state_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Some(hasher) = ResumableSha256::from_bytes(&bytes) {
            let _ = hasher.finish();
        }
    }
}
