//! The worker format's own parsers (`src/artifact/`): `metadata.json` (with the design's
//! defaults and size strings), platform names, version tags, the platform manifest and image
//! config checks, and the Git catalog's master index (`git::index`).
//!
//! Invariants: accepted metadata serialises (as the registry stores it in
//! `worker_versions.metadata`) to JSON that parses back, through the same checks, to an equal
//! record with the same identity; a parsed platform's OCI spelling and its legacy name parse
//! back to it; a version tag re-serialises unchanged; a platform manifest that passes names a
//! package and a metadata layer of the right media types with valid digests; a worker index
//! that passes has valid entry digests and platforms whose OCI spelling parses back, once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

use rbee_registry::artifact::{
    self, check_image_config, check_platform_manifest, check_worker_index, Platform, WorkerMetadata,
    METADATA_MEDIA_TYPE, PACKAGE_MEDIA_TYPE,
};
use rbee_registry::artifact::metadata::defaults::parse_size;
use rbee_registry::git::index::MasterIndex;
use serde_json::Value;

fn check_metadata(bytes: &[u8]) {
    let Ok(metadata) = WorkerMetadata::parse(bytes) else {
        return;
    };
    let stored = serde_json::to_string(&metadata).expect("metadata serialises");
    let again = WorkerMetadata::parse(stored.as_bytes())
        .unwrap_or_else(|errors| panic!("stored metadata {stored} is refused: {errors:?}"));
    assert_eq!(again, metadata, "stored metadata {stored} reads back differently");
    assert!(metadata.check_identity(&metadata.id, &metadata.version).is_ok());
}

/// An accepted master index names valid worker ids, each once, and its bytes read back to it.
fn check_catalog_index(bytes: &[u8]) {
    let Ok(index) = MasterIndex::parse(bytes) else {
        return;
    };
    let mut seen = BTreeSet::new();
    for name in &index.workers {
        assert!(artifact::is_valid_worker_id(name), "{name:?}");
        assert!(seen.insert(name), "{name:?} twice");
    }
    assert_eq!(MasterIndex::parse(&index.to_bytes()), Ok(index));
}

/// A size string's byte count, written as plain bytes, reads back the same.
fn check_size(text: &str) {
    if let Some(bytes) = parse_size(text) {
        assert_eq!(parse_size(&bytes.to_string()), Some(bytes), "{text:?}");
        assert_eq!(parse_size(&format!("{bytes}B")), Some(bytes), "{text:?}");
    }
}

fn check_platform(text: &str) {
    let Ok(platform) = Platform::parse(text) else {
        return;
    };
    let spelling = platform.to_string();
    assert_eq!(
        Platform::parse(&spelling),
        Ok(platform.clone()),
        "{text:?} -> {spelling:?}"
    );
    if let Some(legacy) = platform.legacy_name() {
        let plain = Platform::new(&platform.os, &platform.architecture, None);
        assert_eq!(Platform::parse(&legacy), Ok(plain), "{text:?} -> legacy {legacy:?}");
    }
    assert!(platform.satisfies(&platform));
}

fn check_version(text: &str) {
    if let Some(version) = artifact::parse_version(text) {
        let again = artifact::parse_version(&version.to_string());
        assert_eq!(again.as_ref(), Some(&version), "{text:?}");
    }
}

fn check_manifest(bytes: &[u8]) {
    let platform = Platform::new("linux", "amd64", None);
    if let Ok(facts) = check_platform_manifest(&platform, bytes) {
        let manifest: Value = serde_json::from_slice(bytes).expect("accepted manifest is JSON");
        let layers = manifest["layers"].as_array().expect("accepted manifest has layers");
        for (media_type, blob) in [
            (PACKAGE_MEDIA_TYPE, &facts.package),
            (METADATA_MEDIA_TYPE, &facts.metadata),
        ] {
            let matching: Vec<&Value> = layers.iter().filter(|l| l["mediaType"] == media_type).collect();
            assert_eq!(matching.len(), 1, "{media_type}");
            // The digest is typed (it parsed); it must be the layer's own, unchanged.
            assert_eq!(
                matching[0]["digest"].as_str(),
                Some(blob.digest.to_string().as_str()),
                "{media_type} layer reported with another digest"
            );
        }
    }
    let _ = check_image_config(&platform, bytes);
}

/// The installer runs `check_worker_index` on whatever a registry serves (the registry runs
/// `inspect_manifest` first; the installer does not), and uses the entries' digests in URLs.
fn check_index(bytes: &[u8]) {
    let Ok(index) = check_worker_index(bytes) else {
        return;
    };
    assert!(!index.entries.is_empty());
    let json: Value = serde_json::from_slice(bytes).expect("accepted index is JSON");
    let mut spellings = BTreeSet::new();
    for (position, entry) in index.entries.iter().enumerate() {
        // The digest is typed (it parsed); it must be the entry's own, unchanged.
        assert_eq!(
            json["manifests"][position]["digest"].as_str(),
            Some(entry.digest.to_string().as_str()),
            "entry {position} reported with another digest"
        );
        let spelling = entry.platform.to_string();
        assert_eq!(Platform::parse(&spelling).as_ref(), Ok(&entry.platform), "{spelling:?}");
        assert!(spellings.insert(spelling.clone()), "platform {spelling:?} twice");
    }
}

fuzz_target!(|data: &[u8]| {
    check_metadata(data);
    check_manifest(data);
    check_index(data);
    check_catalog_index(data);
    if let Ok(text) = std::str::from_utf8(data) {
        check_size(text);
        check_platform(text);
        check_version(text);
    }
});
