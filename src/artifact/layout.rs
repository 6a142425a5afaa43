//! How a worker version is laid out in OCI terms: building the manifests `publish` pushes,
//! and checking that stored manifests form a valid worker version (spec/worker-artifact.md,
//! "What makes an index a valid worker version").

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{
    annotations, Platform, IMAGE_CONFIG_MEDIA_TYPE, METADATA_MEDIA_TYPE, PACKAGE_MEDIA_TYPE, PKGBUILD_ARTIFACT_TYPE,
    WORKER_ARTIFACT_TYPE,
};
use crate::oci::media_types::{OCI_EMPTY_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::oci::Digest;

/// Why manifests do not form a valid worker version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerLayoutError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("a worker version is an OCI image index ({OCI_INDEX}), not {0}")]
    NotAnIndex(String),
    #[error("artifactType is {0:?}; a worker version's is {WORKER_ARTIFACT_TYPE}")]
    WrongArtifactType(String),
    #[error("the index has no platforms: manifests[] is empty")]
    NoPlatforms,
    #[error("manifests[{0}] has no platform (os and architecture)")]
    EntryWithoutPlatform(usize),
    #[error("manifests[{0}] has platform {1}; os, architecture and variant are lowercase letters, digits and '_'")]
    MalformedPlatform(usize, String),
    #[error("manifests[{0}] has digest {1:?}, which is not a digest")]
    EntryDigest(usize, String),
    #[error("manifests[{0}] is a {1}; platform entries are image manifests ({OCI_MANIFEST})")]
    EntryNotAManifest(usize, String),
    #[error("platform {0} appears twice")]
    DuplicatePlatform(String),
    #[error("{platform}: {problem}")]
    Platform { platform: String, problem: String },
}

/// One platform entry of a worker index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub platform: Platform,
    pub digest: Digest,
    pub size: u64,
}

/// What the registry and installer need from a worker index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIndexFacts {
    pub entries: Vec<IndexEntry>,
}

/// A layer or config descriptor's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFacts {
    pub digest: Digest,
    pub size: u64,
    pub title: Option<String>,
}

/// What the registry and installer need from a platform manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifestFacts {
    pub config: BlobFacts,
    pub package: BlobFacts,
    pub metadata: BlobFacts,
}

/// Checks an index as a worker version: the index media type, the worker artifactType (or
/// none, for indexes made by tools that cannot set it), at least one entry, each an image
/// manifest with a platform, no platform twice.
pub fn check_worker_index(bytes: &[u8]) -> Result<WorkerIndexFacts, WorkerLayoutError> {
    let index: Value = serde_json::from_slice(bytes).map_err(|error| WorkerLayoutError::NotJson(error.to_string()))?;
    let media_type = index["mediaType"].as_str().unwrap_or("");
    if media_type != OCI_INDEX {
        return Err(WorkerLayoutError::NotAnIndex(media_type.to_string()));
    }
    if let Some(artifact_type) = index["artifactType"].as_str() {
        if artifact_type != WORKER_ARTIFACT_TYPE {
            return Err(WorkerLayoutError::WrongArtifactType(artifact_type.to_string()));
        }
    }
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        return Err(WorkerLayoutError::NoPlatforms);
    }
    let mut facts = Vec::with_capacity(entries.len());
    for (position, entry) in entries.iter().enumerate() {
        let entry_type = entry["mediaType"].as_str().unwrap_or("");
        if entry_type != OCI_MANIFEST {
            return Err(WorkerLayoutError::EntryNotAManifest(position, entry_type.to_string()));
        }
        let platform = &entry["platform"];
        let (Some(os), Some(architecture)) = (platform["os"].as_str(), platform["architecture"].as_str()) else {
            return Err(WorkerLayoutError::EntryWithoutPlatform(position));
        };
        let platform = Platform::new(os, architecture, platform["variant"].as_str());
        // The catalog stores the OCI spelling and parses it back (a platform that does not
        // would silently vanish from it), and two that spell alike would collide.
        if !platform.is_well_formed() {
            return Err(WorkerLayoutError::MalformedPlatform(position, format!("{platform:?}")));
        }
        if facts.iter().any(|known: &IndexEntry| known.platform == platform) {
            return Err(WorkerLayoutError::DuplicatePlatform(platform.to_string()));
        }
        // The installer reads indexes from any registry: the digest names a manifest to fetch.
        let text = entry["digest"].as_str().unwrap_or("");
        let Ok(digest) = text.parse::<Digest>() else {
            return Err(WorkerLayoutError::EntryDigest(position, text.to_string()));
        };
        facts.push(IndexEntry {
            platform,
            digest,
            size: entry["size"].as_u64().unwrap_or(0),
        });
    }
    Ok(WorkerIndexFacts { entries: facts })
}

/// Checks the platform manifest an index entry points to: worker artifactType, a standard
/// image config, exactly one package layer and one metadata layer.
pub fn check_platform_manifest(platform: &Platform, bytes: &[u8]) -> Result<PlatformManifestFacts, WorkerLayoutError> {
    let problem = |problem: String| WorkerLayoutError::Platform {
        platform: platform.to_string(),
        problem,
    };
    let manifest: Value =
        serde_json::from_slice(bytes).map_err(|error| problem(format!("manifest is not JSON: {error}")))?;
    let artifact_type = manifest["artifactType"].as_str().unwrap_or("");
    if artifact_type != WORKER_ARTIFACT_TYPE {
        return Err(problem(format!(
            "manifest artifactType is {artifact_type:?}, not {WORKER_ARTIFACT_TYPE}"
        )));
    }
    let config = &manifest["config"];
    if config["mediaType"].as_str() != Some(IMAGE_CONFIG_MEDIA_TYPE) {
        return Err(problem(format!("config must be an {IMAGE_CONFIG_MEDIA_TYPE}")));
    }
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let find = |media_type: &str| -> Result<&Value, WorkerLayoutError> {
        let matching: Vec<&Value> = layers.iter().filter(|l| l["mediaType"] == media_type).collect();
        match matching.as_slice() {
            [layer] => Ok(*layer),
            [] => Err(problem(format!("manifest has no {media_type} layer"))),
            _ => Err(problem(format!("manifest has more than one {media_type} layer"))),
        }
    };
    let (package, metadata) = (find(PACKAGE_MEDIA_TYPE)?, find(METADATA_MEDIA_TYPE)?);
    // The installer names its download file after the package digest and fetches the
    // others by digest, from whatever registry it was pointed at.
    let facts_of = |what: &str, descriptor: &Value| {
        blob_facts(descriptor).map_err(|text| problem(format!("the {what} digest {text:?} is not a digest")))
    };
    let facts = PlatformManifestFacts {
        config: facts_of("config", config)?,
        package: facts_of("package", package)?,
        metadata: facts_of("metadata", metadata)?,
    };
    Ok(facts)
}

/// Checks that an image config names the platform its index entry claims.
pub fn check_image_config(platform: &Platform, bytes: &[u8]) -> Result<(), WorkerLayoutError> {
    let config: Value = serde_json::from_slice(bytes).map_err(|error| WorkerLayoutError::Platform {
        platform: platform.to_string(),
        problem: format!("image config is not JSON: {error}"),
    })?;
    let claimed = Platform::new(
        config["os"].as_str().unwrap_or(""),
        config["architecture"].as_str().unwrap_or(""),
        config["variant"].as_str(),
    );
    if claimed.os != platform.os || claimed.architecture != platform.architecture {
        return Err(WorkerLayoutError::Platform {
            platform: platform.to_string(),
            problem: format!("image config says {claimed}"),
        });
    }
    Ok(())
}

/// A descriptor's facts, or the digest's text when it is no digest.
fn blob_facts(descriptor: &Value) -> Result<BlobFacts, String> {
    let text = descriptor["digest"].as_str().unwrap_or("");
    Ok(BlobFacts {
        digest: text.parse().map_err(|_| text.to_string())?,
        size: descriptor["size"].as_u64().unwrap_or(0),
        title: descriptor["annotations"][annotations::TITLE]
            .as_str()
            .map(str::to_string),
    })
}

/// A blob already pushed (or about to be): its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

impl Blob {
    fn descriptor(&self, annotations: BTreeMap<&str, String>) -> Value {
        let mut descriptor = json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size});
        if !annotations.is_empty() {
            descriptor["annotations"] = json!(annotations);
        }
        descriptor
    }
}

/// The image config of a platform: the standard OCI config with only the platform fields.
pub fn image_config(platform: &Platform) -> Vec<u8> {
    let mut config = json!({"architecture": platform.architecture, "os": platform.os});
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    serde_json::to_vec(&config).expect("JSON serializes")
}

/// The package's file name, as `oras pull` writes it: `<id>-<version>-<platform>.tar.gz`.
pub fn package_title(worker_id: &str, version: &str, platform: &Platform) -> String {
    let platform_name = platform
        .legacy_name()
        .unwrap_or_else(|| platform.to_string().replace('/', "-"));
    format!("{worker_id}-{version}-{platform_name}.tar.gz")
}

/// What one platform manifest is built from.
pub struct PlatformParts<'a> {
    pub worker_id: &'a str,
    pub version: &'a str,
    pub platform: &'a Platform,
    pub created: &'a str,
    pub config: &'a Blob,
    pub package: &'a Blob,
    pub metadata: &'a Blob,
}

/// The image manifest of one platform.
pub fn platform_manifest(parts: &PlatformParts<'_>) -> Vec<u8> {
    let platform_name = parts
        .platform
        .legacy_name()
        .unwrap_or_else(|| parts.platform.to_string());
    let package = parts.package.descriptor(BTreeMap::from([
        (
            annotations::TITLE,
            package_title(parts.worker_id, parts.version, parts.platform),
        ),
        (annotations::WORKER_PLATFORM, platform_name.clone()),
    ]));
    let metadata = parts
        .metadata
        .descriptor(BTreeMap::from([(annotations::TITLE, "metadata.json".to_string())]));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": WORKER_ARTIFACT_TYPE,
        "config": parts.config.descriptor(BTreeMap::new()),
        "layers": [package, metadata],
        "annotations": {
            annotations::CREATED: parts.created,
            annotations::VERSION: parts.version,
            annotations::WORKER_ID: parts.worker_id,
            annotations::WORKER_PLATFORM: platform_name,
        }
    });
    serde_json::to_vec(&manifest).expect("JSON serializes")
}

/// One entry of the index `publish` builds.
pub struct IndexPart<'a> {
    pub platform: &'a Platform,
    pub manifest_digest: &'a Digest,
    pub manifest_size: u64,
    pub package: &'a Blob,
}

/// The index of a worker version. Each entry carries the package's digest and size as
/// annotations, so a client learns them from the index alone.
pub fn worker_index(worker_id: &str, version: &str, created: &str, entries: &[IndexPart<'_>]) -> Vec<u8> {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut platform = json!({"os": entry.platform.os, "architecture": entry.platform.architecture});
            if let Some(variant) = &entry.platform.variant {
                platform["variant"] = json!(variant);
            }
            let platform_name = entry
                .platform
                .legacy_name()
                .unwrap_or_else(|| entry.platform.to_string());
            json!({
                "mediaType": OCI_MANIFEST,
                "artifactType": WORKER_ARTIFACT_TYPE,
                "digest": entry.manifest_digest,
                "size": entry.manifest_size,
                "platform": platform,
                "annotations": {
                    annotations::WORKER_PLATFORM: platform_name,
                    annotations::PACKAGE_DIGEST: entry.package.digest,
                    annotations::PACKAGE_SIZE: entry.package.size.to_string(),
                }
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": WORKER_ARTIFACT_TYPE,
        "manifests": manifests,
        "annotations": {
            annotations::CREATED: created,
            annotations::VERSION: version,
            annotations::WORKER_ID: worker_id,
        }
    });
    serde_json::to_vec(&index).expect("JSON serializes")
}

/// The empty config (`{}`) of artifact manifests without a config of their own.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// The referrer manifest that attaches a PKGBUILD to a version's index.
pub fn pkgbuild_manifest(subject: &Blob, empty_config: &Blob, pkgbuild: &Blob, created: &str) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": PKGBUILD_ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY_CONFIG, "digest": empty_config.digest, "size": empty_config.size},
        "layers": [pkgbuild.descriptor(BTreeMap::from([(annotations::TITLE, "PKGBUILD".to_string())]))],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {annotations::CREATED: created}
    });
    serde_json::to_vec(&manifest).expect("JSON serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::inspect_manifest;

    fn blob(media_type: &str, c: char, size: u64) -> Blob {
        Blob {
            media_type: media_type.into(),
            digest: format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap(),
            size,
        }
    }

    #[test]
    fn built_manifests_pass_the_checks_they_are_held_to() {
        let platform = Platform::parse("linux-aarch64").unwrap();
        let config = blob(IMAGE_CONFIG_MEDIA_TYPE, 'a', 40);
        let package = blob(PACKAGE_MEDIA_TYPE, 'b', 1000);
        let metadata = blob(METADATA_MEDIA_TYPE, 'c', 300);
        let manifest = platform_manifest(&PlatformParts {
            worker_id: "w",
            version: "1.0.0",
            platform: &platform,
            created: "2025-01-01T00:00:00Z",
            config: &config,
            package: &package,
            metadata: &metadata,
        });
        inspect_manifest(Some(OCI_MANIFEST), &manifest).unwrap();
        let facts = check_platform_manifest(&platform, &manifest).unwrap();
        assert_eq!(facts.package.digest, package.digest);
        assert_eq!(facts.package.title.as_deref(), Some("w-1.0.0-linux-aarch64.tar.gz"));
        check_image_config(&platform, &image_config(&platform)).unwrap();
        assert!(check_image_config(&Platform::parse("linux/amd64").unwrap(), &image_config(&platform)).is_err());

        let manifest_digest = Digest::sha256_of(&manifest);
        let index = worker_index(
            "w",
            "1.0.0",
            "2025-01-01T00:00:00Z",
            &[IndexPart {
                platform: &platform,
                manifest_digest: &manifest_digest,
                manifest_size: manifest.len() as u64,
                package: &package,
            }],
        );
        inspect_manifest(Some(OCI_INDEX), &index).unwrap();
        let facts = check_worker_index(&index).unwrap();
        assert_eq!(facts.entries[0].platform, platform);
        assert_eq!(facts.entries[0].digest, manifest_digest);
    }

    #[test]
    fn invalid_indexes_are_named() {
        let empty =
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": WORKER_ARTIFACT_TYPE, "manifests": []});
        assert_eq!(
            check_worker_index(empty.to_string().as_bytes()),
            Err(WorkerLayoutError::NoPlatforms)
        );
        let entry = json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "a".repeat(64)), "size": 1});
        let no_platform = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]});
        assert_eq!(
            check_worker_index(no_platform.to_string().as_bytes()),
            Err(WorkerLayoutError::EntryWithoutPlatform(0))
        );
        let other =
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/x", "manifests": []});
        assert!(matches!(
            check_worker_index(other.to_string().as_bytes()),
            Err(WorkerLayoutError::WrongArtifactType(_))
        ));
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST});
        assert!(matches!(
            check_worker_index(manifest.to_string().as_bytes()),
            Err(WorkerLayoutError::NotAnIndex(_))
        ));
    }

    fn index_with(entries: Value) -> Vec<u8> {
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
            .to_string()
            .into_bytes()
    }

    /// Found by the `manifest` fuzz target (fuzz/corpus/manifest/regression-platform-*): a
    /// platform whose OCI spelling does not parse back was accepted, so it vanished from the
    /// catalog (which re-parses the stored spelling), and two platforms spelling alike
    /// (`linux/arm64` + `x`, `linux` + `arm64/x`) collided on the table's primary key.
    #[test]
    fn index_platforms_must_spell_back_to_themselves() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let entry =
            |platform: Value| json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "platform": platform});
        for platform in [
            json!({"os": "linux", "architecture": "amd6+"}),
            json!({"os": "Linux", "architecture": "amd64"}),
            json!({"os": "linux", "architecture": "amd64", "variant": ""}),
            json!({"os": "linux/arm64", "architecture": "x"}),
            json!({"os": "", "architecture": "amd64"}),
        ] {
            let result = check_worker_index(&index_with(json!([entry(platform.clone())])));
            assert!(
                matches!(result, Err(WorkerLayoutError::MalformedPlatform(0, _))),
                "{platform}: {result:?}"
            );
        }
        let alike = index_with(json!([
            entry(json!({"os": "linux", "architecture": "arm64/x"})),
            entry(json!({"os": "linux/arm64", "architecture": "x"})),
        ]));
        assert!(check_worker_index(&alike).is_err());
        let good = index_with(json!([
            entry(json!({"os": "linux", "architecture": "arm64", "variant": "v8"})),
            entry(json!({"os": "linux", "architecture": "amd64"})),
        ]));
        let facts = check_worker_index(&good).unwrap();
        for entry in facts.entries {
            assert_eq!(Platform::parse(&entry.platform.to_string()).unwrap(), entry.platform);
        }
    }

    /// The `worker_metadata` fuzz target found an index entry digest accepted unchecked
    /// (fuzz/corpus/worker_metadata/regression-index-entry-digest); the platform manifest's
    /// digests had the same gap. The installer runs these checks on what any registry serves
    /// and used the digests as they were, the package digest's hex part even as a file name
    /// (`sha256:../../x` named a file outside the prefix).
    #[test]
    fn digests_in_worker_manifests_must_be_digests() {
        let platform = Platform::parse("linux/amd64").unwrap();
        let entry = json!({"mediaType": OCI_MANIFEST, "digest": "sha256:../../x", "size": 1,
                           "platform": {"os": "linux", "architecture": "amd64"}});
        assert_eq!(
            check_worker_index(&index_with(json!([entry]))),
            Err(WorkerLayoutError::EntryDigest(0, "sha256:../../x".into()))
        );
        let good = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        for (config, package, metadata) in [
            (good('a'), "sha256:../../../tmp/owned".to_string(), good('c')),
            (good('a'), good('b'), String::new()),
            ("sha256:A".to_string(), good('b'), good('c')),
        ] {
            let manifest = json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": WORKER_ARTIFACT_TYPE,
                "config": {"mediaType": IMAGE_CONFIG_MEDIA_TYPE, "digest": config, "size": 2},
                "layers": [
                    {"mediaType": PACKAGE_MEDIA_TYPE, "digest": package, "size": 3},
                    {"mediaType": METADATA_MEDIA_TYPE, "digest": metadata, "size": 4}
                ]
            });
            let result = check_platform_manifest(&platform, manifest.to_string().as_bytes());
            assert!(
                matches!(&result, Err(WorkerLayoutError::Platform { problem, .. }) if problem.contains("is not a digest")),
                "{manifest}: {result:?}"
            );
        }
    }
}
