//! Copying one repository: every tag of the upstream (a tag whose upstream digest, by
//! `HEAD`, equals the local one is skipped), each manifest fetched by digest (so its bytes
//! are checked against the digest before anything is stored) with what it needs first —
//! child manifests of an index (only the chosen platforms), blobs (at most `concurrency` at
//! once) — then the manifest byte for byte, then its referrers (the referrers API; an
//! upstream without it keeps them under the tag schema's `sha256-<hex>` tags, which are
//! copied as tags), then the tag. With `prune`, local tags the upstream no longer has go.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use super::{Counters, MirrorError, MirrorOptions, SharedProgress, Throttle};
use crate::artifact::Platform;
use crate::client::{FetchedManifest, RegistryClient};
use crate::db::manifests;
use crate::oci::{inspect_manifest, media_types, Digest, Reference, RepoName, Tag};
use crate::services::{Registry, RegistryError};

/// One repository's copy in a run.
pub(super) struct RepositoryCopy<'a> {
    pub registry: &'a Registry,
    pub upstream: &'a RegistryClient,
    pub options: &'a MirrorOptions,
    pub name: RepoName,
    pub counters: &'a Counters,
    pub progress: SharedProgress,
    pub throttle: &'a Throttle,
    /// Manifests handled in this run (a referrer cycle ends here).
    pub visited: Mutex<HashSet<Digest>>,
}

impl RepositoryCopy<'_> {
    pub(super) fn note(&self, message: &str) {
        if let Ok(mut progress) = self.progress.lock() {
            progress.note(message);
        }
    }

    /// Copies the repository; returns what failed (one line each).
    pub(super) async fn run(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let upstream_tags = match self.upstream.list_all_tags(self.name.as_str()).await {
            Ok(tags) => tags,
            Err(error) => return vec![format!("listing tags: {error}")],
        };
        for text in &upstream_tags {
            let Ok(tag) = Tag::parse(text) else {
                errors.push(format!("tag {text:?} is not a valid tag; skipped"));
                continue;
            };
            if let Err(error) = self.copy_tag(&tag).await {
                errors.push(format!("{}:{tag}: {error}", self.name));
            }
        }
        if self.options.prune {
            if let Err(error) = self.prune(&upstream_tags).await {
                errors.push(format!("prune: {error}"));
            }
        }
        errors
    }

    async fn copy_tag(&self, tag: &Tag) -> Result<(), MirrorError> {
        let reference = Reference::Tag(tag.clone());
        let Some(digest) = self.upstream.head_manifest(self.name.as_str(), &reference).await? else {
            // Gone since the listing, or a registry that names no digest on HEAD: by tag.
            let fetched = self
                .upstream
                .fetch_manifest_verified(self.name.as_str(), &reference)
                .await?;
            return self.copy_fetched(fetched, Some(tag)).await;
        };
        let local = match self.registry.get_manifest(&self.name, &reference, &[]).await {
            Ok(local) => Some(local.digest),
            Err(RegistryError::ManifestUnknown(_)) => None,
            Err(error) => return Err(error.into()),
        };
        if local.as_ref() == Some(&digest) {
            Counters::add(&self.counters.skipped, 1);
            // New signatures or PKGBUILDs may refer to an unchanged manifest.
            return self.copy_referrers(&digest).await;
        }
        self.note(&format!("{}:{tag} -> {digest}", self.name));
        if self.has_manifest(&digest).await? {
            // Present already (another tag): only the tag moves.
            let row = manifests::find_by_digest(self.registry.db.reader(), &self.name, &digest).await?;
            if let Some(row) = row {
                let content = Bytes::from(row.content);
                return self
                    .registry
                    .store_mirrored_manifest(&self.name, &digest, &row.media_type, &content, Some(tag))
                    .await;
            }
        }
        let fetched = self
            .upstream
            .fetch_manifest_verified(self.name.as_str(), &Reference::Digest(digest))
            .await?;
        self.copy_fetched(fetched, Some(tag)).await
    }

    async fn has_manifest(&self, digest: &Digest) -> Result<bool, MirrorError> {
        Ok(manifests::find_by_digest(self.registry.db.reader(), &self.name, digest)
            .await?
            .is_some())
    }

    /// Copies a manifest by digest (and all it needs) unless it is here or seen this run.
    fn copy_manifest<'s>(&'s self, digest: &'s Digest) -> BoxFuture<'s, Result<(), MirrorError>> {
        async move {
            let first_visit = self
                .visited
                .lock()
                .map(|mut visited| visited.insert(digest.clone()))
                .unwrap_or(true);
            if !first_visit || self.has_manifest(digest).await? {
                return Ok(());
            }
            let fetched = self
                .upstream
                .fetch_manifest_verified(self.name.as_str(), &Reference::Digest(digest.clone()))
                .await?;
            self.copy_fetched(fetched, None).await
        }
        .boxed()
    }

    /// Stores a fetched (digest-checked) manifest after its children and blobs, then its
    /// referrers, and moves `tag` to it.
    fn copy_fetched<'s>(
        &'s self,
        fetched: FetchedManifest,
        tag: Option<&'s Tag>,
    ) -> BoxFuture<'s, Result<(), MirrorError>> {
        async move {
            let content = Bytes::from(fetched.content);
            let content_type = (!fetched.media_type.is_empty()).then_some(fetched.media_type.as_str());
            let facts = inspect_manifest(content_type, &content).map_err(RegistryError::from)?;
            if media_types::is_index(&facts.media_type) {
                for child in self.wanted_children(&content, &facts.manifests) {
                    self.copy_manifest(&child).await?;
                }
            }
            let sizes = blob_sizes(&content);
            let blobs: BTreeSet<Digest> = facts.blobs.iter().cloned().collect();
            let mut wanted: Vec<(Digest, u64)> = Vec::with_capacity(blobs.len());
            for blob in blobs {
                match sizes.iter().find(|(digest, _)| *digest == blob) {
                    Some((_, size)) => wanted.push((blob, *size)),
                    None => return Err(MirrorError::Invalid(format!("blob {blob} has no size in its manifest"))),
                }
            }
            let concurrency = self.options.concurrency.max(1);
            let copies: Vec<Result<(), MirrorError>> = futures::stream::iter(wanted)
                .map(|(blob, size)| self.copy_blob_owned(blob, size))
                .buffer_unordered(concurrency)
                .collect()
                .await;
            copies.into_iter().collect::<Result<Vec<()>, _>>()?;
            let stored_before = self.has_manifest(&fetched.digest).await?;
            self.registry
                .store_mirrored_manifest(&self.name, &fetched.digest, &facts.media_type, &content, tag)
                .await?;
            if !stored_before {
                Counters::add(&self.counters.manifests, 1);
            }
            self.copy_referrers(&fetched.digest).await
        }
        .boxed()
    }

    fn copy_blob_owned(&self, digest: Digest, size: u64) -> BoxFuture<'_, Result<(), MirrorError>> {
        async move { self.copy_blob(&digest, size).await }.boxed()
    }

    /// The children of an index to copy: all, or those of the chosen platforms (and those
    /// that name no platform).
    fn wanted_children(&self, index: &[u8], children: &[Digest]) -> Vec<Digest> {
        if self.options.platforms.is_empty() {
            return children.to_vec();
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(index) else {
            return children.to_vec();
        };
        let entries = value["manifests"].as_array().cloned().unwrap_or_default();
        let mut wanted = Vec::new();
        for entry in entries {
            let platform = &entry["platform"];
            // Entries that name no platform (the referrers tag schema's lists, attestations)
            // are not platform manifests: always copied.
            if let (Some(os), Some(architecture)) = (platform["os"].as_str(), platform["architecture"].as_str()) {
                let platform = Platform::new(os, architecture, platform["variant"].as_str());
                if !self.options.platforms.contains(&platform) {
                    continue;
                }
            }
            if let Some(digest) = entry["digest"].as_str().and_then(|text| text.parse::<Digest>().ok()) {
                if children.contains(&digest) && !wanted.contains(&digest) {
                    wanted.push(digest);
                }
            }
        }
        wanted
    }

    /// Copies the referrers of `digest` that the upstream's referrers API lists.
    fn copy_referrers<'s>(&'s self, digest: &'s Digest) -> BoxFuture<'s, Result<(), MirrorError>> {
        async move {
            let Some(referrers) = self.upstream.list_referrers(self.name.as_str(), digest).await? else {
                return Ok(());
            };
            for referrer in referrers {
                self.copy_manifest(&referrer.digest).await?;
            }
            Ok(())
        }
        .boxed()
    }

    /// Removes local tags the upstream no longer lists.
    async fn prune(&self, upstream_tags: &[String]) -> Result<(), MirrorError> {
        let keep: HashSet<&str> = upstream_tags.iter().map(String::as_str).collect();
        let mut local = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = match self.registry.list_tags(&self.name, Some(1000), last.as_deref()).await {
                Ok(page) => page,
                Err(RegistryError::NameUnknown(_)) => return Ok(()),
                Err(error) => return Err(error.into()),
            };
            let done = page.next_last.is_none() || page.entries.is_empty();
            last = page.next_last.clone();
            local.extend(page.entries);
            if done {
                break;
            }
        }
        for text in local.iter().filter(|tag| !keep.contains(tag.as_str())) {
            let Ok(tag) = Tag::parse(text) else { continue };
            match self.registry.delete_manifest(&self.name, &Reference::Tag(tag)).await {
                Ok(()) | Err(RegistryError::ManifestUnknown(_)) => {
                    Counters::add(&self.counters.pruned, 1);
                    self.note(&format!("pruned {}:{text}", self.name));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}

/// The size of every descriptor of a manifest (config, layers), by digest.
fn blob_sizes(manifest: &[u8]) -> Vec<(Digest, u64)> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(manifest) else {
        return Vec::new();
    };
    let descriptors = std::iter::once(&value["config"]).chain(value["layers"].as_array().into_iter().flatten());
    descriptors
        .filter_map(|descriptor| {
            let digest = descriptor["digest"].as_str()?.parse::<Digest>().ok()?;
            Some((digest, descriptor["size"].as_u64()?))
        })
        .collect()
}
