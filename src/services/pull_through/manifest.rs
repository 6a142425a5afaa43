//! Manifests and tags through the cache. A tag is served from what is held while its last
//! check (`pull_through_tags`) is younger than `tag_ttl`; after that, or when nothing is
//! held, the upstream is asked. A manifest the upstream serves is checked against its
//! digest (the one asked for, and the upstream's `Docker-Content-Digest`), then its child
//! manifests and blobs are brought in, and only then is it stored, byte for byte, with
//! `put_manifest` — the registry's own write path, which refuses a manifest whose
//! references are missing. With the upstream down or failing, a held tag is served.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use super::blob::{client_failure, flight_error};
use super::flight::{FlightError, Outcome};
use super::{PullThrough, UpstreamRegistry};
use crate::client::upstream::Upstream;
use crate::client::FetchedManifest;
use crate::db::{now_millis, pull_through};
use crate::observability::{
    record_pull_through_error, record_pull_through_fetch, record_pull_through_hit, record_pull_through_miss,
};
use crate::oci::{inspect_manifest, Digest, Reference, RepoName, Tag};
use crate::services::manifests::ManifestContent;
use crate::services::{Registry, RegistryError};

/// How deep an index may nest (index → index → manifest) before the cache refuses it.
const MAX_DEPTH: usize = 4;
/// Blobs of one manifest fetched at once.
const PARALLEL_BLOBS: usize = 4;

impl Registry {
    /// A manifest `GET`/`HEAD` (`get_manifest`), fetched from the upstream `ns` selects when
    /// it is not held, or when it is a tag whose last check is older than `tag_ttl`.
    pub async fn get_manifest_through(
        &self,
        name: &RepoName,
        reference: &Reference,
        accept: &[String],
        ns: Option<&str>,
    ) -> Result<ManifestContent, RegistryError> {
        let Some(cache) = self.pull_through.clone() else {
            return self.get_manifest(name, reference, accept).await;
        };
        let Some(upstream) = cache.upstream(ns) else {
            return self.get_manifest(name, reference, accept).await;
        };
        let held = match self.get_manifest(name, reference, &[]).await {
            Ok(_) => true,
            Err(RegistryError::ManifestUnknown(_)) => false,
            Err(error) => return Err(error),
        };
        let fresh = match reference {
            Reference::Digest(_) => held,
            Reference::Tag(tag) => held && self.tag_checked_within(name, tag, cache.settings.tag_ttl).await?,
        };
        if fresh {
            record_pull_through_hit("manifest");
            return self.get_manifest(name, reference, accept).await;
        }
        record_pull_through_miss("manifest");
        match cache.fetch_manifest(self, &upstream, name, reference).outcome.await {
            Ok(()) => self.get_manifest(name, reference, accept).await,
            Err(error) if held => {
                record_pull_through_error("stale_served");
                tracing::warn!(repository = %name.as_str(), %reference, ?error, "serving the held manifest: the upstream check failed");
                self.get_manifest(name, reference, accept).await
            }
            Err(FlightError::NotFound) => Err(RegistryError::ManifestUnknown(reference.to_string())),
            Err(error) => Err(flight_error(error)),
        }
    }

    /// Whether `tag` was checked against an upstream less than `ttl` ago.
    async fn tag_checked_within(
        &self,
        name: &RepoName,
        tag: &Tag,
        ttl: std::time::Duration,
    ) -> Result<bool, RegistryError> {
        let checked = pull_through::tag_checked_at(self.db.reader(), name, tag).await?;
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        Ok(checked.is_some_and(|checked| now_millis().saturating_sub(checked) < ttl))
    }
}

impl PullThrough {
    /// Joins or starts the fetch of a manifest (and what it references) into `name`.
    fn fetch_manifest(
        &self,
        registry: &Registry,
        upstream: &std::sync::Arc<UpstreamRegistry>,
        name: &RepoName,
        reference: &Reference,
    ) -> super::flight::Flight {
        let key = format!("manifest {}:{reference}", name.as_str());
        let (registry, upstream, name, reference) =
            (registry.clone(), upstream.clone(), name.clone(), reference.clone());
        self.flights
            .join_or_start(key, move || fetch_manifest(registry, upstream, name, reference))
    }
}

async fn fetch_manifest(
    registry: Registry,
    upstream: std::sync::Arc<UpstreamRegistry>,
    name: RepoName,
    reference: Reference,
) -> Outcome {
    let fetched = fetch_one(&registry, &upstream, &name, &reference).await?;
    if let Reference::Tag(tag) = &reference {
        let held = registry.get_manifest(&name, &reference, &[]).await.ok();
        if held.is_none_or(|held| held.digest != fetched.digest) {
            store_with_children(
                registry.clone(),
                upstream.clone(),
                name.clone(),
                reference.clone(),
                fetched.clone(),
                0,
            )
            .await?;
        }
        let recorded = pull_through::record_tag_check(
            registry.db.writer(),
            &name,
            tag,
            &upstream.host,
            &fetched.digest.to_string(),
            now_millis(),
        )
        .await;
        if let Err(error) = recorded {
            return Err(FlightError::Local(error.to_string()));
        }
        return Ok(());
    }
    store_with_children(registry, upstream, name, reference, fetched, 0).await
}

/// One manifest from the upstream, its digest checked by the client.
async fn fetch_one(
    registry: &Registry,
    upstream: &UpstreamRegistry,
    name: &RepoName,
    reference: &Reference,
) -> Result<FetchedManifest, FlightError> {
    record_pull_through_fetch("manifest");
    let limit = registry.limits().max_manifest_bytes;
    match upstream
        .client
        .fetch_verified_manifest(name.as_str(), reference, limit)
        .await
    {
        Ok(Upstream::Found(fetched)) => Ok(fetched),
        Ok(Upstream::NotFound) => Err(FlightError::NotFound),
        Err(error) => Err(client_failure(upstream, error)),
    }
}

fn invalid(message: String) -> FlightError {
    record_pull_through_error("invalid");
    FlightError::Failed {
        reason: "invalid",
        message,
    }
}

/// Brings in what `fetched` references (child manifests, recursively, and blobs), then
/// stores it under `reference`.
fn store_with_children(
    registry: Registry,
    upstream: std::sync::Arc<UpstreamRegistry>,
    name: RepoName,
    reference: Reference,
    fetched: FetchedManifest,
    depth: usize,
) -> BoxFuture<'static, Outcome> {
    async move {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "{}: manifest {reference} nests indexes deeper than {MAX_DEPTH}",
                upstream.host
            )));
        }
        let content_type = Some(fetched.media_type.as_str()).filter(|media_type| !media_type.is_empty());
        let facts = inspect_manifest(content_type, &fetched.content)
            .map_err(|error| invalid(format!("{}: manifest {reference}: {error}", upstream.host)))?;
        for child in &facts.manifests {
            let child_reference = Reference::Digest(child.clone());
            if registry.get_manifest(&name, &child_reference, &[]).await.is_ok() {
                continue;
            }
            let child_manifest = match fetch_one(&registry, &upstream, &name, &child_reference).await {
                Err(FlightError::NotFound) => {
                    return Err(invalid(format!(
                        "{}: manifest {reference} names {child}, which the upstream does not have",
                        upstream.host
                    )))
                }
                other => other?,
            };
            store_with_children(
                registry.clone(),
                upstream.clone(),
                name.clone(),
                child_reference,
                child_manifest,
                depth + 1,
            )
            .await?;
        }
        bring_blobs(&registry, &upstream, &name, &reference, &facts.blobs).await?;
        let stored = registry
            .put_manifest(&name, &reference, content_type, Bytes::from(fetched.content))
            .await;
        match stored {
            Ok(_) => Ok(()),
            Err(
                error @ (RegistryError::Invalid(_)
                | RegistryError::WorkerVersionInvalid(_)
                | RegistryError::ManifestTooLarge { .. }
                | RegistryError::DigestMismatch { .. }
                | RegistryError::ManifestBlobUnknown(_)),
            ) => Err(invalid(format!("{}: manifest {reference}: {error}", upstream.host))),
            Err(error) => Err(FlightError::Local(error.to_string())),
        }
    }
    .boxed()
}

/// Fetches the blobs of `blobs` the repository lacks (a few at a time, each through its
/// own single-flight fetch).
async fn bring_blobs(
    registry: &Registry,
    upstream: &std::sync::Arc<UpstreamRegistry>,
    name: &RepoName,
    reference: &Reference,
    blobs: &[Digest],
) -> Outcome {
    let Some(cache) = registry.pull_through.clone() else {
        return Err(FlightError::Local("no pull-through cache is configured".into()));
    };
    let mut missing = Vec::new();
    for digest in blobs {
        if registry.stat_blob(name, digest).await.is_err() {
            missing.push(digest.clone());
        }
    }
    let outcomes: Vec<(Digest, Outcome)> = futures::stream::iter(missing)
        .map(|digest| {
            let flight = cache.fetch_blob(registry, upstream, name, &digest, None);
            async move { (digest, flight.outcome.await) }
        })
        .buffer_unordered(PARALLEL_BLOBS)
        .collect()
        .await;
    for (digest, outcome) in outcomes {
        match outcome {
            Ok(()) => {}
            Err(FlightError::NotFound) => {
                return Err(invalid(format!(
                    "{}: manifest {reference} names blob {digest}, which the upstream does not have",
                    upstream.host
                )))
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
