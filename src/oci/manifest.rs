//! Checking pushed manifests and indexes, and extracting what they reference.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::media_types::{self, is_index, is_supported_manifest};
use super::{Digest, ParseError};

/// What the registry needs to know about a manifest it is about to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFacts {
    pub media_type: String,
    /// `artifactType`, or for image manifests without one the config's media type,
    /// as the referrers API reports it.
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub annotations: Option<BTreeMap<String, String>>,
    /// Blobs (config and layers) that must exist in the repository.
    pub blobs: Vec<Digest>,
    /// Manifests (index entries) that must exist in the repository.
    pub manifests: Vec<Digest>,
}

/// Parses and checks a manifest body. `content_type` is the request's `Content-Type`.
pub fn inspect_manifest(content_type: Option<&str>, body: &[u8]) -> Result<ManifestFacts, ParseError> {
    let invalid = |why: String| ParseError::Manifest(why);
    let declared: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| invalid(format!("not JSON: {error}")))?;
    let object = declared
        .as_object()
        .ok_or_else(|| invalid("a manifest is a JSON object".into()))?;
    let body_media_type = match object.get("mediaType") {
        None => None,
        Some(serde_json::Value::String(text)) => Some(text.as_str()),
        Some(_) => return Err(invalid("mediaType must be a string".into())),
    };
    let header_media_type = content_type
        .map(|value| value.split(';').next().unwrap_or("").trim())
        .filter(|value| is_supported_manifest(value));
    let media_type = match (header_media_type, body_media_type) {
        (Some(header), Some(body)) if header != body => {
            return Err(invalid(format!(
                "Content-Type {header} does not match the manifest's mediaType {body}"
            )))
        }
        (_, Some(body)) => body.to_string(),
        (Some(header), None) => header.to_string(),
        (None, None) if object.contains_key("manifests") => media_types::OCI_INDEX.to_string(),
        (None, None) => media_types::OCI_MANIFEST.to_string(),
    };
    if !is_supported_manifest(&media_type) {
        return Err(invalid(format!("unsupported manifest media type {media_type}")));
    }
    if object.get("schemaVersion").and_then(|v| v.as_u64()) != Some(2) {
        return Err(invalid("schemaVersion must be 2".into()));
    }

    if is_index(&media_type) {
        let index: ImageIndex =
            serde_json::from_slice(body).map_err(|error| invalid(format!("invalid index: {error}")))?;
        let manifests = index
            .manifests()
            .iter()
            .map(descriptor_digest)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ManifestFacts {
            media_type,
            artifact_type: index.artifact_type().as_ref().map(|t| t.to_string()),
            subject: index.subject().as_ref().map(descriptor_digest).transpose()?,
            annotations: sorted(index.annotations()),
            blobs: Vec::new(),
            manifests,
        })
    } else {
        let manifest: ImageManifest =
            serde_json::from_slice(body).map_err(|error| invalid(format!("invalid manifest: {error}")))?;
        let mut blobs = vec![descriptor_digest(manifest.config())?];
        for layer in manifest.layers() {
            // Foreign (non-distributable) layers live at their URLs, not in the registry.
            if layer.urls().as_ref().is_some_and(|urls| !urls.is_empty()) {
                check_size(layer)?;
                continue;
            }
            blobs.push(descriptor_digest(layer)?);
        }
        let artifact_type = manifest
            .artifact_type()
            .as_ref()
            .map(|t| t.to_string())
            .or_else(|| Some(manifest.config().media_type().to_string()));
        Ok(ManifestFacts {
            media_type,
            artifact_type,
            subject: manifest.subject().as_ref().map(descriptor_digest).transpose()?,
            annotations: sorted(manifest.annotations()),
            blobs,
            manifests: Vec::new(),
        })
    }
}

/// A descriptor's digest, once its size is checked.
fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest, ParseError> {
    check_size(descriptor)?;
    descriptor
        .digest()
        .to_string()
        .parse()
        .map_err(|_| ParseError::Manifest(format!("unsupported digest {}", descriptor.digest())))
}

/// The image spec defines `size` as an int64. `oci-spec` reads it as a `u64`, which refuses
/// negative sizes but takes sizes past `i64::MAX` that clients in Go cannot decode: a manifest
/// holding one could be stored but not pulled by them.
fn check_size(descriptor: &Descriptor) -> Result<(), ParseError> {
    if i64::try_from(descriptor.size()).is_err() {
        return Err(ParseError::Manifest(format!(
            "the size {} of {} is not an int64",
            descriptor.size(),
            descriptor.digest()
        )));
    }
    Ok(())
}

fn sorted(annotations: &Option<std::collections::HashMap<String, String>>) -> Option<BTreeMap<String, String>> {
    annotations
        .as_ref()
        .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn image_manifest_references_config_and_layers() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "artifactType": "application/vnd.rbee.worker.v1",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d('a'), "size": 2},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d('b'), "size": 3},
                {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": d('c'), "size": 3, "urls": ["https://example.com/x"]}
            ],
            "subject": {"mediaType": media_types::OCI_MANIFEST, "digest": d('e'), "size": 9},
            "annotations": {"b": "2", "a": "1"}
        });
        let facts = inspect_manifest(Some(media_types::OCI_MANIFEST), body.to_string().as_bytes()).unwrap();
        assert_eq!(facts.blobs, vec![d('a').parse().unwrap(), d('b').parse().unwrap()]);
        assert_eq!(facts.subject, Some(d('e').parse().unwrap()));
        assert_eq!(facts.artifact_type.as_deref(), Some("application/vnd.rbee.worker.v1"));
        assert_eq!(facts.annotations.unwrap().len(), 2);
    }

    #[test]
    fn artifact_type_falls_back_to_config_media_type() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.example.sbom", "digest": d('a'), "size": 2},
            "layers": []
        });
        let facts = inspect_manifest(Some(media_types::OCI_MANIFEST), body.to_string().as_bytes()).unwrap();
        assert_eq!(facts.media_type, media_types::OCI_MANIFEST);
        assert_eq!(facts.artifact_type.as_deref(), Some("application/vnd.example.sbom"));
    }

    #[test]
    fn index_references_manifests() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::DOCKER_MANIFEST_LIST,
            "manifests": [{"mediaType": media_types::DOCKER_MANIFEST, "digest": d('a'), "size": 2,
                           "platform": {"os": "linux", "architecture": "arm64", "variant": "v8", "features": []}}]
        });
        let facts = inspect_manifest(None, body.to_string().as_bytes()).unwrap();
        assert_eq!(facts.manifests, vec![d('a').parse().unwrap()]);
        assert!(facts.blobs.is_empty());
    }

    #[test]
    fn sizes_are_int64_in_every_descriptor() {
        let layer = |size: serde_json::Value| serde_json::json!({"mediaType": "l", "digest": d('b'), "size": size});
        let foreign = |size: serde_json::Value| serde_json::json!({"mediaType": "l", "digest": d('c'), "size": size, "urls": ["https://example.com/c"]});
        let manifest =
            |config_size: serde_json::Value, layers: Vec<serde_json::Value>, subject_size: serde_json::Value| {
                serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": media_types::OCI_MANIFEST,
                    "config": {"mediaType": "c", "digest": d('a'), "size": config_size},
                    "layers": layers,
                    "subject": {"mediaType": media_types::OCI_MANIFEST, "digest": d('e'), "size": subject_size},
                })
            };
        let index = |size: serde_json::Value| {
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": media_types::OCI_INDEX,
                "manifests": [{"mediaType": media_types::OCI_MANIFEST, "digest": d('a'), "size": size}],
                "subject": {"mediaType": media_types::OCI_MANIFEST, "digest": d('e'), "size": 1},
            })
        };
        let max = serde_json::json!(i64::MAX);
        let accepted = [
            manifest(max.clone(), vec![layer(max.clone()), foreign(max.clone())], max.clone()),
            index(max.clone()),
        ];
        for body in accepted {
            assert!(inspect_manifest(None, body.to_string().as_bytes()).is_ok(), "{body}");
        }
        for size in [
            serde_json::json!(-1),
            serde_json::json!(1u64 << 63),
            serde_json::json!(u64::MAX),
        ] {
            let one = serde_json::json!(1);
            let refused = [
                manifest(size.clone(), vec![], one.clone()),
                manifest(one.clone(), vec![layer(size.clone())], one.clone()),
                manifest(one.clone(), vec![foreign(size.clone())], one.clone()),
                manifest(one.clone(), vec![], size.clone()),
                index(size.clone()),
            ];
            for body in refused {
                let error = inspect_manifest(None, body.to_string().as_bytes()).unwrap_err();
                assert!(matches!(error, ParseError::Manifest(_)), "{body}: {error}");
            }
        }
    }

    #[test]
    fn rejects_bad_manifests() {
        let cases = [
            (Some(media_types::OCI_MANIFEST), "not json".to_string()),
            (Some(media_types::OCI_MANIFEST), "[]".to_string()),
            (Some(media_types::OCI_MANIFEST), serde_json::json!({"schemaVersion": 1, "config": {}, "layers": []}).to_string()),
            (Some(media_types::OCI_INDEX), serde_json::json!({"schemaVersion": 2, "mediaType": media_types::OCI_MANIFEST}).to_string()),
            (None, serde_json::json!({"schemaVersion": 2, "mediaType": "application/x-unknown"}).to_string()),
            (None, serde_json::json!({"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:short", "size": 1}, "layers": []}).to_string()),
        ];
        for (content_type, body) in cases {
            assert!(
                inspect_manifest(content_type, body.as_bytes()).is_err(),
                "{body} should be rejected"
            );
        }
    }
}
