//! Storing a manifest a mirror fetched: the bytes exactly as the upstream served them (their
//! digest was checked against what the upstream named), with the same checks as a push,
//! except that an index may be *sparse*: children that `--platform` left out are absent. This
//! is the only way a sparse index enters the registry (a client's push needs every child).
//! A worker version's rows then list only the platforms present, so `/v1/workers` reports
//! what this registry can serve.

use std::collections::HashSet;

use bytes::Bytes;

use super::{MirrorError, Registry};
use crate::artifact;
use crate::db::{manifests, now_millis, repositories, tags};
use crate::oci::{inspect_manifest, media_types, Digest, RepoName, Tag};
use crate::services::workers::record_worker_tag;
use crate::services::RegistryError;

impl Registry {
    /// Stores a mirrored manifest whose `digest` matches `content` (the caller checked), and
    /// moves `tag` to it when given. An index may lack children (`sparse`).
    pub(super) async fn store_mirrored_manifest(
        &self,
        name: &RepoName,
        digest: &Digest,
        media_type: &str,
        content: &Bytes,
        tag: Option<&Tag>,
    ) -> Result<(), MirrorError> {
        if content.len() > self.limits.max_manifest_bytes {
            return Err(RegistryError::ManifestTooLarge {
                limit: self.limits.max_manifest_bytes,
            }
            .into());
        }
        if digest.of_bytes_like(content) != *digest {
            return Err(MirrorError::Invalid(format!(
                "{name}@{digest}: the bytes do not hash to the digest"
            )));
        }
        let content_type = (!media_type.is_empty()).then_some(media_type);
        let facts = inspect_manifest(content_type, content).map_err(RegistryError::from)?;
        // Children present here; for a sparse index the absent ones are neither referenced
        // nor required.
        let mut present = Vec::with_capacity(facts.manifests.len());
        for child in &facts.manifests {
            if manifests::find_by_digest(self.db.reader(), name, child)
                .await?
                .is_some()
            {
                present.push(child.clone());
            }
        }
        let sparse = present.len() < facts.manifests.len();
        let references = manifests::ReferenceSet::new(&facts.blobs, &present);
        let worker_version = match tag {
            Some(tag) => {
                let index = if sparse && media_types::is_index(&facts.media_type) {
                    present_entries_only(content, &present)
                } else {
                    Some(content.to_vec())
                };
                match index {
                    Some(index) => {
                        self.prepare_worker_version(name, tag, &facts.media_type, &index)
                            .await?
                    }
                    None => None,
                }
            }
            None => None,
        };
        let annotations = facts
            .annotations
            .as_ref()
            .map(|map| serde_json::to_string(map).expect("a string map serialises"));
        let now = now_millis();
        let mut transaction = self.db.begin().await?;
        let repository_id = repositories::ensure(&mut transaction, name, now).await?;
        manifests::touch_blob_links(&mut transaction, repository_id, &references, now).await?;
        let missing = manifests::missing_references(&mut transaction, Some(repository_id), &references).await?;
        if let Some(first) = missing.first() {
            return Err(RegistryError::ManifestBlobUnknown(first.clone()).into());
        }
        let new_manifest = manifests::NewManifest {
            repository_id,
            digest,
            media_type: &facts.media_type,
            artifact_type: facts.artifact_type.as_deref(),
            subject_digest: facts.subject.as_ref(),
            annotations: annotations.as_deref(),
            content,
            references: &references,
        };
        manifests::insert(&mut transaction, &new_manifest, now).await?;
        if let Some(tag) = tag {
            tags::upsert(&mut *transaction, repository_id, tag, digest, now).await?;
            if artifact::worker_id_of_repository(name.as_str()).is_some() {
                record_worker_tag(
                    &mut transaction,
                    repository_id,
                    tag,
                    digest,
                    worker_version.as_ref(),
                    now,
                )
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

/// The index with only the entries whose digest is in `present` (for the worker rows; the
/// stored bytes stay the upstream's). `None` when no entry is left or it is not JSON.
fn present_entries_only(index: &[u8], present: &[Digest]) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(index).ok()?;
    let present: HashSet<String> = present.iter().map(ToString::to_string).collect();
    let entries = value.get_mut("manifests")?.as_array_mut()?;
    entries.retain(|entry| entry["digest"].as_str().is_some_and(|digest| present.contains(digest)));
    if entries.is_empty() {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_index_keeps_the_present_entries() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"digest": a.to_string(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": b.to_string(), "platform": {"os": "linux", "architecture": "arm64"}},
        ]});
        let bytes = serde_json::to_vec(&index).unwrap();
        let kept: serde_json::Value =
            serde_json::from_slice(&present_entries_only(&bytes, std::slice::from_ref(&b)).unwrap()).unwrap();
        assert_eq!(kept["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(kept["manifests"][0]["digest"], b.to_string());
        assert_eq!(present_entries_only(&bytes, &[]), None);
    }
}
