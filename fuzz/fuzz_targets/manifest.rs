//! What a manifest `PUT` parses: `inspect_manifest` (the `Content-Type` header and the body),
//! then, for an index, the worker-version check `check_worker_index` the registry runs on
//! indexes pushed under a version tag of `workers/<id>`.
//!
//! The first byte picks the `Content-Type`; the rest is the body. Invariants: whatever
//! inspection accepts is a JSON object with `schemaVersion` 2, of a supported media type that
//! agrees with the header and the body's `mediaType`, and parses as that OCI type; the
//! digests it reports are the descriptors' digests, re-serialised unchanged; every
//! descriptor's size is an int64, as the image spec defines it; an index
//! references no blobs and a manifest at least its config. A worker index that passes has
//! at least one entry, each a manifest the index references, with a platform whose OCI
//! spelling parses back to it (the catalog re-parses the stored spelling) and no spelling twice
//! (it is part of a primary key).
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbee_registry::artifact::{check_worker_index, Platform};
use rbee_registry::oci::media_types::{self, is_index, is_supported_manifest};
use rbee_registry::oci::{inspect_manifest, Digest};
use serde_json::Value;

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some(media_types::OCI_MANIFEST),
    Some(media_types::OCI_INDEX),
    Some(media_types::DOCKER_MANIFEST),
    Some(media_types::DOCKER_MANIFEST_LIST),
    Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
    Some("application/json"),
    Some(""),
];

fn digest_of(text: &str) -> Digest {
    text.parse()
        .unwrap_or_else(|e| panic!("reported digest {text:?} does not parse: {e}"))
}

fn check(content_type: Option<&str>, body: &[u8]) {
    let Ok(facts) = inspect_manifest(content_type, body) else {
        return;
    };
    let value: Value = serde_json::from_slice(body).expect("accepted a body that is not JSON");
    let object = value.as_object().expect("accepted a body that is not an object");
    assert_eq!(object.get("schemaVersion").and_then(Value::as_u64), Some(2));
    assert!(is_supported_manifest(&facts.media_type), "{}", facts.media_type);
    if let Some(declared) = object.get("mediaType") {
        assert_eq!(declared.as_str(), Some(facts.media_type.as_str()));
    }
    let header = content_type.map(|t| t.split(';').next().unwrap_or("").trim());
    if let Some(header) = header.filter(|h| is_supported_manifest(h)) {
        assert_eq!(
            header, facts.media_type,
            "Content-Type and the stored media type differ"
        );
    }
    if is_index(&facts.media_type) {
        let index: ImageIndex = serde_json::from_slice(body).expect("accepted index does not parse as one");
        assert!(facts.blobs.is_empty());
        let listed: Vec<Digest> = index
            .manifests()
            .iter()
            .map(|d| digest_of(&d.digest().to_string()))
            .collect();
        assert_eq!(facts.manifests, listed);
        check_sizes(index.manifests().iter().chain(index.subject()));
        check_worker(body, &facts.manifests);
    } else {
        let manifest: ImageManifest = serde_json::from_slice(body).expect("accepted manifest does not parse as one");
        assert!(facts.manifests.is_empty());
        assert_eq!(
            facts.blobs.first(),
            Some(&digest_of(&manifest.config().digest().to_string()))
        );
        assert!(facts.blobs.len() <= manifest.layers().len() + 1);
        let config = std::iter::once(manifest.config());
        check_sizes(config.chain(manifest.layers()).chain(manifest.subject()));
    }
    for digest in facts.blobs.iter().chain(&facts.manifests).chain(&facts.subject) {
        assert_eq!(&digest_of(&digest.to_string()), digest);
    }
}

fn check_sizes<'a>(descriptors: impl Iterator<Item = &'a Descriptor>) {
    for descriptor in descriptors {
        assert!(
            i64::try_from(descriptor.size()).is_ok(),
            "accepted size {} of {}, which is no int64",
            descriptor.size(),
            descriptor.digest()
        );
    }
}

fn check_worker(body: &[u8], referenced: &[Digest]) {
    let Ok(worker) = check_worker_index(body) else {
        return;
    };
    assert!(!worker.entries.is_empty());
    let mut spellings = BTreeSet::new();
    for entry in &worker.entries {
        assert!(
            referenced.contains(&entry.digest),
            "{} is not in the index",
            entry.digest
        );
        let spelling = entry.platform.to_string();
        assert_eq!(
            Platform::parse(&spelling).as_ref(),
            Ok(&entry.platform),
            "platform {:?} is stored as {spelling:?}, which does not parse back",
            entry.platform
        );
        assert!(spellings.insert(spelling.clone()), "platform {spelling:?} twice");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    check(CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()], body);
});
