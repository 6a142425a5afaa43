//! Pushing, pulling and deleting manifests and indexes, and tagging them.

use std::collections::HashSet;

use bytes::Bytes;

use super::workers::record_worker_tag;
use super::{Registry, RegistryError};
use crate::artifact;
use crate::db::{manifests, now_millis, repositories, tags};
use crate::oci::{inspect_manifest, media_types, Digest, ManifestFacts, Reference, RepoName};

/// A manifest the registry has just stored.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// A manifest as served.
#[derive(Debug, Clone)]
pub struct ManifestContent {
    pub digest: Digest,
    pub media_type: String,
    pub content: Bytes,
}

impl Registry {
    /// Stores a manifest under a tag or its digest (`PUT /v2/<name>/manifests/<reference>`).
    pub async fn put_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<StoredManifest, RegistryError> {
        if body.len() > self.limits.max_manifest_bytes {
            return Err(RegistryError::ManifestTooLarge {
                limit: self.limits.max_manifest_bytes,
            });
        }
        let facts = inspect_manifest(content_type, &body)?;
        let digest = match reference {
            Reference::Digest(declared) => {
                let computed = declared.of_bytes_like(&body);
                if &computed != declared {
                    return Err(RegistryError::DigestMismatch {
                        declared: declared.clone(),
                        computed,
                    });
                }
                computed
            }
            Reference::Tag(_) => Digest::sha256_of(&body),
        };
        let references = manifests::ReferenceSet::new(&facts.blobs, &facts.manifests);
        let annotations = facts
            .annotations
            .as_ref()
            .map(|map| serde_json::to_string(map).expect("a string map serialises"));
        let worker_version = match reference {
            Reference::Tag(tag) => self.prepare_worker_version(name, tag, &facts.media_type, &body).await?,
            Reference::Digest(_) => None,
        };
        // A push that misses a reference is refused here, on a reader, without waiting for the
        // writer. The transaction checks again: `gc` may remove a link in between.
        let missing = manifests::missing_references_on_reader(&self.db, name, &references).await?;
        refuse_missing(&facts, &missing)?;

        let now = now_millis();
        let mut transaction = self.db.begin().await?;
        let repository_id = repositories::ensure(&mut transaction, name, now).await?;
        // Touching the links locks them against `gc` until this transaction ends; when every
        // blob had one and nothing else is referenced, the check is done.
        let every_blob_linked = manifests::touch_blob_links(&mut transaction, repository_id, &references, now).await?;
        if !every_blob_linked || !facts.manifests.is_empty() {
            let missing = manifests::missing_references(&mut transaction, Some(repository_id), &references).await?;
            refuse_missing(&facts, &missing)?;
        }
        let new_manifest = manifests::NewManifest {
            repository_id,
            digest: &digest,
            media_type: &facts.media_type,
            artifact_type: facts.artifact_type.as_deref(),
            subject_digest: facts.subject.as_ref(),
            annotations: annotations.as_deref(),
            content: &body,
            references: &references,
        };
        manifests::insert(&mut transaction, &new_manifest, now).await?;
        if let Reference::Tag(tag) = reference {
            tags::upsert(&mut *transaction, repository_id, tag, &digest, now).await?;
            if artifact::worker_id_of_repository(name.as_str()).is_some() {
                record_worker_tag(
                    &mut transaction,
                    repository_id,
                    tag,
                    &digest,
                    worker_version.as_ref(),
                    now,
                )
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(StoredManifest {
            digest,
            subject: facts.subject,
        })
    }

    /// Looks a manifest up by tag or digest (`GET`/`HEAD`). `accept` lists the media types the
    /// client takes (empty: any). A tag pointing at a type the client does not take is
    /// resolved, for an index, to its `linux/amd64` entry when the client takes that type, as
    /// distribution does for old clients; otherwise it is reported unknown.
    pub async fn get_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        accept: &[String],
    ) -> Result<ManifestContent, RegistryError> {
        let found = match reference {
            Reference::Tag(tag) => manifests::find_by_tag(self.db.reader(), name, tag).await?,
            Reference::Digest(digest) => manifests::find_by_digest(self.db.reader(), name, digest).await?,
        };
        let Some(row) = found else {
            return Err(RegistryError::ManifestUnknown(reference.to_string()));
        };
        let accepted = |media_type: &str| {
            accept.is_empty()
                || accept
                    .iter()
                    .any(|a| a == media_type || a == "*/*" || a == "application/*" || a == "application/json")
        };
        if matches!(reference, Reference::Tag(_)) && !accepted(&row.media_type) {
            if media_types::is_index(&row.media_type) {
                if let Some(child) = default_platform_entry(&row.content) {
                    if let Some(child_row) = manifests::find_by_digest(self.db.reader(), name, &child).await? {
                        if accepted(&child_row.media_type) {
                            return Ok(ManifestContent {
                                digest: child_row.digest,
                                media_type: child_row.media_type,
                                content: Bytes::from(child_row.content),
                            });
                        }
                    }
                }
            }
            return Err(RegistryError::ManifestUnknown(format!(
                "{reference} is a {}, which the request's Accept header does not include",
                row.media_type
            )));
        }
        Ok(ManifestContent {
            digest: row.digest,
            media_type: row.media_type,
            content: Bytes::from(row.content),
        })
    }

    /// Deletes a manifest by digest (with the tags on it), or just a tag.
    pub async fn delete_manifest(&self, name: &RepoName, reference: &Reference) -> Result<(), RegistryError> {
        let Some(repository_id) = repositories::find(self.db.reader(), name).await? else {
            return Err(RegistryError::ManifestUnknown(reference.to_string()));
        };
        let mut transaction = self.db.begin().await?;
        let existed = match reference {
            Reference::Digest(digest) => manifests::delete(&mut transaction, repository_id, digest).await?,
            Reference::Tag(tag) => tags::delete(&mut *transaction, repository_id, tag).await?,
        };
        transaction.commit().await?;
        if !existed {
            return Err(RegistryError::ManifestUnknown(reference.to_string()));
        }
        Ok(())
    }
}

/// `MANIFEST_BLOB_UNKNOWN` naming the first of the manifest's references (blobs, then
/// manifests, in its order) that is among `missing`.
fn refuse_missing(facts: &ManifestFacts, missing: &[Digest]) -> Result<(), RegistryError> {
    if missing.is_empty() {
        return Ok(());
    }
    let missing: HashSet<&Digest> = missing.iter().collect();
    match facts
        .blobs
        .iter()
        .chain(&facts.manifests)
        .find(|digest| missing.contains(digest))
    {
        Some(digest) => Err(RegistryError::ManifestBlobUnknown(digest.clone())),
        None => Ok(()),
    }
}

/// The digest of an index's `linux/amd64` entry, if it has one (and it is a digest).
fn default_platform_entry(index: &[u8]) -> Option<Digest> {
    let index: serde_json::Value = serde_json::from_slice(index).ok()?;
    index["manifests"].as_array()?.iter().find_map(|entry| {
        let platform = &entry["platform"];
        (platform["os"] == "linux" && platform["architecture"] == "amd64")
            .then(|| entry["digest"].as_str()?.parse().ok())
            .flatten()
    })
}
