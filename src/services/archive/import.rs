//! `rbee-registry import`: an archive in, in three steps.
//!
//! 1. Stream every entry (any order). Blobs go to a staging object under `uploads/`, are
//!    hashed on the way, compared with their name, then recorded and moved to their key as
//!    an upload's are: stored, but linked to no repository, so served nowhere. Our small
//!    files are kept in memory (bounded); the catalog's files go to a staging directory.
//! 2. Check the whole: the end-of-archive marker, the contents manifest when there is one,
//!    `oci-layout`, `index.json`, every manifest the entries reach (size, parse, and every
//!    blob and child present in the archive or already here).
//! 3. One transaction: repositories, blob links, manifests (children first), tags last, the
//!    worker rows of version tags, the license keys and revocations. Then the catalog
//!    repository is put in place and synced.
//!
//! Anything refused before the commit leaves no repository, manifest or tag visible.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;

use super::layout::{self, Contents, LayoutIndex, Revocations};
use super::tar_read::{read_archive, TarEvent};
use super::ArchiveError;
use crate::artifact;
use crate::auth::license_token::VerifyKey;
use crate::client::progress::Progress;
use crate::db::{archive, blobs, manifests, now_millis, replica_licenses, repositories, tags, Connection};
use crate::oci::{inspect_manifest, Digest, ManifestFacts, RepoName, Tag};
use crate::services::workers::record_worker_tag;
use crate::services::{Registry, RegistryError};
use crate::storage::{ObjectWriter, StorageKey};

/// Largest `oci-layout`.
const MAX_LAYOUT_BYTES: u64 = 64 * 1024;
/// Largest `rbee/` file other than the catalog's (contents, keys, revocations).
const MAX_RBEE_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The repository of entries that name none (an archive of another tool with only
    /// `org.opencontainers.image.ref.name`).
    pub repository: Option<RepoName>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub repositories: usize,
    pub blobs_stored: usize,
    pub blobs_skipped: usize,
    pub bytes_stored: u64,
    pub manifests_stored: usize,
    pub manifests_skipped: usize,
    pub tags_set: usize,
    pub tags_skipped: usize,
    pub license_keys_added: usize,
    pub license_keys_skipped: usize,
    pub revocations_added: usize,
    pub revocations_skipped: usize,
    /// The catalog: `None` without one in the archive.
    pub catalog: Option<String>,
    /// Files of the archive this import has no use for.
    pub ignored: Vec<String>,
}

/// What step 1 received.
#[derive(Default)]
struct Received {
    oci_layout: Option<Vec<u8>>,
    index: Option<Vec<u8>>,
    contents: Option<Vec<u8>>,
    license_keys: Option<Vec<u8>>,
    revocations: Option<Vec<u8>>,
    /// Every file: size and SHA-256.
    files: BTreeMap<String, (u64, Digest)>,
    /// The blobs of the archive, by digest.
    blobs: BTreeMap<Digest, u64>,
    catalog_files: usize,
}

/// Where the bytes of the current entry go.
enum Sink {
    Blob {
        digest: Digest,
        writer: ObjectWriter,
        key: StorageKey,
    },
    /// Already stored here: only hashed (by the reader) and compared.
    Present {
        digest: Digest,
    },
    Memory {
        limit: u64,
        bytes: Vec<u8>,
    },
    File(tokio::fs::File, PathBuf),
    Ignore,
}

/// A manifest the import will store (or found stored).
struct PlannedManifest {
    digest: Digest,
    content: Bytes,
    facts: ManifestFacts,
}

/// One repository's part of the import.
#[derive(Default)]
struct RepoPlan {
    /// To store, children before parents.
    manifests: Vec<PlannedManifest>,
    /// Already stored in this repository.
    existing: BTreeSet<Digest>,
    tags: BTreeMap<Tag, Digest>,
    blobs: BTreeSet<Digest>,
}

impl Registry {
    /// Imports the archive at `path`.
    pub async fn import_archive(
        &self,
        path: &Path,
        options: &ImportOptions,
        progress: &mut dyn Progress,
    ) -> Result<ImportReport, ArchiveError> {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let staging = StorageKey::UploadDirectory {
            session_id: format!("import-{unique}"),
        };
        let catalog_staging = self
            .catalog
            .repo_dir
            .with_file_name(format!(".catalog-import-{unique}"));
        let mut report = ImportReport::default();
        let result = self
            .import_staged(path, options, &staging, &catalog_staging, progress, &mut report)
            .await;
        progress.finish();
        if let Err(error) = self.store.delete_prefix(&staging).await {
            tracing::warn!(%error, "import staging objects not removed (the sweeper will)");
        }
        let _ = tokio::fs::remove_dir_all(&catalog_staging).await;
        result.map(|()| report)
    }

    async fn import_staged(
        &self,
        path: &Path,
        options: &ImportOptions,
        staging: &StorageKey,
        catalog_staging: &Path,
        progress: &mut dyn Progress,
        report: &mut ImportReport,
    ) -> Result<(), ArchiveError> {
        let total = tokio::fs::metadata(path)
            .await
            .map_err(|error| ArchiveError::Io(format!("{}: {error}", path.display())))?
            .len();
        progress.start("import", total, 0);
        let received = self.receive(path, staging, catalog_staging, progress, report).await?;
        progress.note("checking the archive");
        check_contents(&received)?;
        let oci_layout = received.oci_layout.as_deref().ok_or_else(|| {
            ArchiveError::Invalid("the archive has no oci-layout file: not an OCI image layout".into())
        })?;
        let version = serde_json::from_slice::<serde_json::Value>(oci_layout)
            .ok()
            .and_then(|value| value["imageLayoutVersion"].as_str().map(str::to_string))
            .ok_or_else(|| ArchiveError::Invalid("oci-layout: no imageLayoutVersion".into()))?;
        if !version.starts_with("1.") {
            return Err(ArchiveError::Invalid(format!(
                "oci-layout: image layout version {version} is not supported (1.x is)"
            )));
        }
        let index = received
            .index
            .as_deref()
            .ok_or_else(|| ArchiveError::Invalid("the archive has no index.json".into()))?;
        let index: LayoutIndex =
            serde_json::from_slice(index).map_err(|error| ArchiveError::Invalid(format!("index.json: {error}")))?;
        let plans = self.plan(&index, &received, options).await?;
        let keys = match &received.license_keys {
            Some(bytes) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| ArchiveError::Invalid(format!("{}: not UTF-8", layout::LICENSE_KEYS)))?;
                VerifyKey::parse_file(text)
                    .map_err(|error| ArchiveError::Invalid(format!("{}: {error}", layout::LICENSE_KEYS)))?
            }
            None => Vec::new(),
        };
        let revoked = match &received.revocations {
            Some(bytes) => {
                serde_json::from_slice::<Revocations>(bytes)
                    .map_err(|error| ArchiveError::Invalid(format!("{}: {error}", layout::REVOCATIONS)))?
                    .revoked
            }
            None => Vec::new(),
        };
        if received.catalog_files > 0
            && !tokio::fs::try_exists(catalog_staging.join("HEAD"))
                .await
                .unwrap_or(false)
        {
            return Err(ArchiveError::Invalid(format!(
                "{}: not a bare Git repository (no HEAD)",
                layout::CATALOG_PREFIX
            )));
        }

        progress.note("storing manifests and tags");
        self.commit_plans(&plans, &keys, &revoked, report).await?;
        if received.catalog_files > 0 {
            report.catalog = Some(self.install_catalog(catalog_staging).await?);
        }
        Ok(())
    }

    /// Step 1: every entry read, checked and put where it goes.
    async fn receive(
        &self,
        path: &Path,
        staging: &StorageKey,
        catalog_staging: &Path,
        progress: &mut dyn Progress,
        report: &mut ImportReport,
    ) -> Result<Received, ArchiveError> {
        let mut events = read_archive(path.to_path_buf());
        let mut received = Received::default();
        let mut current: Option<(String, u64, Sink)> = None;
        let session_id = match staging {
            StorageKey::UploadDirectory { session_id } => session_id.clone(),
            _ => unreachable!("staging is an upload directory"),
        };
        loop {
            let event = match events.recv().await {
                Some(Ok(event)) => event,
                Some(Err(message)) => {
                    abort(current.take()).await;
                    return Err(ArchiveError::Invalid(message));
                }
                None => {
                    abort(current.take()).await;
                    return Err(ArchiveError::Invalid("the archive reader stopped unexpectedly".into()));
                }
            };
            match event {
                TarEvent::File { path, size } => {
                    let sink = self.sink_for(&path, size, &session_id, catalog_staging, report).await?;
                    current = Some((path, size, sink));
                }
                TarEvent::Data(bytes) => {
                    progress.advance(bytes.len() as u64);
                    let Some((path, _, sink)) = current.as_mut() else {
                        continue;
                    };
                    let outcome = match sink {
                        Sink::Blob { writer, .. } => writer.write(bytes).await.map_err(ArchiveError::from),
                        Sink::Memory { limit, bytes: kept } => {
                            kept.extend_from_slice(&bytes);
                            if kept.len() as u64 > *limit {
                                Err(ArchiveError::Invalid(format!(
                                    "entry {path:?} is larger than the {limit}-byte limit"
                                )))
                            } else {
                                Ok(())
                            }
                        }
                        Sink::File(file, _) => file
                            .write_all(&bytes)
                            .await
                            .map_err(|error| ArchiveError::Io(format!("staging {path}: {error}"))),
                        Sink::Present { .. } | Sink::Ignore => Ok(()),
                    };
                    if let Err(error) = outcome {
                        abort(current.take()).await;
                        return Err(error);
                    }
                }
                TarEvent::End { sha256 } => {
                    let Some((path, size, sink)) = current.take() else {
                        continue;
                    };
                    self.finish_entry(&path, size, sink, &sha256, &mut received, report)
                        .await?;
                    received.files.insert(path, (size, sha256));
                }
                TarEvent::Finished => return Ok(received),
            }
        }
    }

    /// Where the entry `path` goes.
    async fn sink_for(
        &self,
        path: &str,
        size: u64,
        session_id: &str,
        catalog_staging: &Path,
        report: &mut ImportReport,
    ) -> Result<Sink, ArchiveError> {
        let memory = |limit: u64| -> Result<Sink, ArchiveError> {
            if size > limit {
                return Err(ArchiveError::Invalid(format!(
                    "entry {path:?} is {size} bytes, over the {limit}-byte limit"
                )));
            }
            Ok(Sink::Memory {
                limit,
                bytes: Vec::with_capacity(size as usize),
            })
        };
        if let Some(digest) = layout::parse_blob_path(path) {
            let digest = digest.map_err(ArchiveError::Invalid)?;
            if digest.algorithm().name() != "sha256" {
                return Err(ArchiveError::Invalid(format!(
                    "entry {path:?}: only sha256 blobs are imported"
                )));
            }
            let recorded = archive::blob_size(self.db.reader(), &digest).await?;
            let key = self.stored_blob_key(&digest).await?;
            if recorded.is_some_and(|recorded| recorded as u64 == size) && self.store.size(&key).await? == Some(size) {
                return Ok(Sink::Present { digest });
            }
            let key = StorageKey::UploadPart {
                session_id: session_id.to_string(),
                part_id: digest.hex().to_string(),
            };
            return Ok(Sink::Blob {
                digest,
                writer: self.store.writer(key.clone()),
                key,
            });
        }
        match path {
            layout::OCI_LAYOUT => memory(MAX_LAYOUT_BYTES),
            layout::INDEX => memory(self.limits.max_manifest_bytes as u64),
            layout::CONTENTS | layout::LICENSE_KEYS | layout::REVOCATIONS => memory(MAX_RBEE_FILE_BYTES),
            _ => match path.strip_prefix(layout::CATALOG_PREFIX) {
                Some(relative) => {
                    let target = catalog_staging.join(relative);
                    if let Some(parent) = target.parent() {
                        tokio::fs::create_dir_all(parent)
                            .await
                            .map_err(|error| ArchiveError::Io(format!("{}: {error}", parent.display())))?;
                    }
                    let file = tokio::fs::File::create(&target)
                        .await
                        .map_err(|error| ArchiveError::Io(format!("{}: {error}", target.display())))?;
                    Ok(Sink::File(file, target))
                }
                None => {
                    report.ignored.push(path.to_string());
                    Ok(Sink::Ignore)
                }
            },
        }
    }

    /// An entry's last byte arrived with its SHA-256: a blob is compared with its name and
    /// only then recorded and moved to its key.
    async fn finish_entry(
        &self,
        path: &str,
        size: u64,
        sink: Sink,
        sha256: &Digest,
        received: &mut Received,
        report: &mut ImportReport,
    ) -> Result<(), ArchiveError> {
        let mismatch = |digest: &Digest| {
            ArchiveError::Invalid(format!(
                "entry {path:?}: its bytes hash to {sha256}, not to the digest its name gives ({digest})"
            ))
        };
        match sink {
            Sink::Blob { digest, writer, key } => {
                if &digest != sha256 {
                    writer.abort().await;
                    return Err(mismatch(&digest));
                }
                writer.finish().await?;
                // As an upload does: claim the blob (so `gc` leaves it), then move the bytes.
                blobs::insert(self.db.writer(), &digest, size as i64, now_millis()).await?;
                self.store
                    .move_into_place(&key, &StorageKey::Blob(digest.clone()))
                    .await?;
                received.blobs.insert(digest, size);
                report.blobs_stored += 1;
                report.bytes_stored += size;
            }
            Sink::Present { digest } => {
                if &digest != sha256 {
                    return Err(mismatch(&digest));
                }
                received.blobs.insert(digest, size);
                report.blobs_skipped += 1;
            }
            Sink::Memory { bytes, .. } => match path {
                layout::OCI_LAYOUT => received.oci_layout = Some(bytes),
                layout::INDEX => received.index = Some(bytes),
                layout::CONTENTS => received.contents = Some(bytes),
                layout::LICENSE_KEYS => received.license_keys = Some(bytes),
                _ => received.revocations = Some(bytes),
            },
            Sink::File(mut file, target) => {
                file.flush()
                    .await
                    .map_err(|error| ArchiveError::Io(format!("{}: {error}", target.display())))?;
                received.catalog_files += 1;
            }
            Sink::Ignore => {}
        }
        Ok(())
    }

    /// Step 2: what each repository gets, every manifest read and checked.
    async fn plan(
        &self,
        index: &LayoutIndex,
        received: &Received,
        options: &ImportOptions,
    ) -> Result<BTreeMap<RepoName, RepoPlan>, ArchiveError> {
        let mut plans: BTreeMap<RepoName, RepoPlan> = BTreeMap::new();
        for entry in &index.manifests {
            let (repository, tag) = entry
                .target(options.repository.as_ref())
                .map_err(ArchiveError::Invalid)?;
            let digest: Digest = entry
                .digest
                .parse()
                .map_err(|_| ArchiveError::Invalid(format!("index.json: {:?} is not a digest", entry.digest)))?;
            let plan = plans.entry(repository.clone()).or_default();
            self.plan_manifest(
                &repository,
                &digest,
                Some(entry.size),
                Some(&entry.media_type),
                received,
                plan,
            )
            .await?;
            if let Some(tag) = tag {
                if let Some(other) = plan.tags.insert(tag.clone(), digest.clone()) {
                    if other != digest {
                        return Err(ArchiveError::Invalid(format!(
                            "index.json tags {repository}:{tag} twice, as {other} and {digest}"
                        )));
                    }
                }
            }
        }
        Ok(plans)
    }

    /// Adds `digest` and the manifests below it to `plan`, children first.
    async fn plan_manifest(
        &self,
        repository: &RepoName,
        digest: &Digest,
        size: Option<i64>,
        media_type: Option<&str>,
        received: &Received,
        plan: &mut RepoPlan,
    ) -> Result<(), ArchiveError> {
        // Depth-first, children before parents, without recursion: (digest, size, type, expanded).
        let mut stack: Vec<(Digest, Option<i64>, Option<String>, bool)> =
            vec![(digest.clone(), size, media_type.map(str::to_string), false)];
        let mut pending: HashMap<Digest, PlannedManifest> = HashMap::new();
        while let Some((digest, size, media_type, expanded)) = stack.pop() {
            let known =
                |plan: &RepoPlan| plan.existing.contains(&digest) || plan.manifests.iter().any(|m| m.digest == digest);
            if expanded {
                if let Some(manifest) = pending.remove(&digest) {
                    if !known(plan) {
                        plan.blobs.extend(manifest.facts.blobs.iter().cloned());
                        plan.manifests.push(manifest);
                    }
                }
                continue;
            }
            if known(plan) || pending.contains_key(&digest) {
                continue;
            }
            let Some(&stored_size) = received.blobs.get(&digest) else {
                if manifests::find_by_digest(self.db.reader(), repository, &digest)
                    .await?
                    .is_some()
                {
                    plan.existing.insert(digest);
                    continue;
                }
                return Err(ArchiveError::Invalid(format!(
                    "manifest {digest} of {repository} is neither in the archive nor in this registry \
                     (an incremental archive imports on top of the one before it)"
                )));
            };
            if size.is_some_and(|size| size != stored_size as i64) {
                return Err(ArchiveError::Invalid(format!(
                    "manifest {digest} of {repository}: its descriptor says {} bytes, the archive holds {stored_size}",
                    size.unwrap_or_default()
                )));
            }
            let limit = self.limits.max_manifest_bytes;
            if stored_size > limit as u64 {
                return Err(ArchiveError::Invalid(format!(
                    "manifest {digest} of {repository} is {stored_size} bytes, over the {limit}-byte limit"
                )));
            }
            let key = self.stored_blob_key(&digest).await?;
            let chunks: Vec<Bytes> = self.store.read(&key, None).await?.try_collect().await?;
            let content = Bytes::from(chunks.concat());
            let facts = inspect_manifest(media_type.as_deref(), &content)
                .map_err(|error| ArchiveError::Invalid(format!("manifest {digest} of {repository}: {error}")))?;
            stack.push((digest.clone(), None, None, true));
            for child in &facts.manifests {
                stack.push((child.clone(), None, None, false));
            }
            pending.insert(digest.clone(), PlannedManifest { digest, content, facts });
        }
        Ok(())
    }

    /// Step 3: everything visible at once.
    async fn commit_plans(
        &self,
        plans: &BTreeMap<RepoName, RepoPlan>,
        keys: &[VerifyKey],
        revoked: &[String],
        report: &mut ImportReport,
    ) -> Result<(), ArchiveError> {
        let now = now_millis();
        let mut transaction = self.db.begin().await?;
        for (name, plan) in plans {
            let existed = repositories::find(&mut *transaction, name).await?.is_some();
            let repository_id = repositories::ensure(&mut transaction, name, now).await?;
            report.repositories += usize::from(!existed || !plan.manifests.is_empty());
            for digest in &plan.blobs {
                if archive::is_linked(&mut *transaction, repository_id, digest).await? {
                    continue;
                }
                if archive::blob_size(&mut *transaction, digest).await?.is_none() {
                    return Err(ArchiveError::Invalid(format!(
                        "{name}: blob {digest} is neither in the archive nor in this registry \
                         (an incremental archive imports on top of the one before it)"
                    )));
                }
                blobs::link(&mut *transaction, repository_id, digest, now).await?;
            }
            for manifest in &plan.manifests {
                store_manifest(&mut transaction, name, repository_id, manifest, now, report).await?;
            }
            report.manifests_skipped += plan.existing.len();
            for (tag, digest) in &plan.tags {
                self.set_tag(&mut transaction, name, repository_id, tag, digest, now, report)
                    .await?;
            }
        }
        for key in keys {
            let public = base64_url(&key.public_key);
            if replica_licenses::insert_key(&mut *transaction, &key.kid, &public, now).await? {
                report.license_keys_added += 1;
            } else {
                report.license_keys_skipped += 1;
            }
        }
        for id in revoked {
            if replica_licenses::insert_revocation(&mut *transaction, id, now).await? {
                report.revocations_added += 1;
            } else {
                report.revocations_skipped += 1;
            }
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Points `tag` at `digest` unless it already does; a worker version tag is checked and
    /// indexed as a push would be.
    #[allow(clippy::too_many_arguments)]
    async fn set_tag(
        &self,
        connection: &mut Connection,
        name: &RepoName,
        repository_id: i64,
        tag: &Tag,
        digest: &Digest,
        now: i64,
        report: &mut ImportReport,
    ) -> Result<(), ArchiveError> {
        let Some(row) = manifests::find_by_digest(&mut *connection, name, digest).await? else {
            return Err(ArchiveError::Invalid(format!(
                "{name}:{tag}: manifest {digest} is missing"
            )));
        };
        if let Some(current) = manifests::find_by_tag(&mut *connection, name, tag).await? {
            if &current.digest == digest {
                report.tags_skipped += 1;
                return Ok(());
            }
        }
        let prepared = self
            .prepare_worker_version_on(connection, name, tag, &row.media_type, &row.content)
            .await
            .map_err(|error| ArchiveError::Invalid(format!("{name}:{tag}: {error}")))?;
        tags::upsert(&mut *connection, repository_id, tag, digest, now).await?;
        if artifact::worker_id_of_repository(name.as_str()).is_some() {
            record_worker_tag(connection, repository_id, tag, digest, prepared.as_ref(), now).await?;
        }
        report.tags_set += 1;
        Ok(())
    }

    /// Replaces `<data_dir>/catalog.git` with the imported repository and syncs the catalog.
    async fn install_catalog(&self, staged: &Path) -> Result<String, ArchiveError> {
        let target = self.catalog.repo_dir.clone();
        let old = target.with_file_name(format!(".catalog-replaced-{}", uuid::Uuid::new_v4().simple()));
        let had = tokio::fs::try_exists(&target).await.unwrap_or(false);
        if had {
            tokio::fs::rename(&target, &old)
                .await
                .map_err(|error| ArchiveError::Io(format!("{}: {error}", target.display())))?;
        }
        if let Err(error) = tokio::fs::rename(staged, &target).await {
            if had {
                let _ = tokio::fs::rename(&old, &target).await;
            }
            return Err(ArchiveError::Io(format!("{}: {error}", target.display())));
        }
        if had {
            let _ = tokio::fs::remove_dir_all(&old).await;
        }
        Ok(match self.sync_catalog().await {
            Ok(sync) => format!(
                "catalog {:?}: revision {}, {} upserted, {} delisted",
                sync.outcome, sync.revision, sync.upserted, sync.delisted
            ),
            Err(error) => format!("catalog installed, but its sync failed: {error}"),
        })
    }
}

/// Stores one manifest (children and blobs are in by now); counts a stored one as skipped.
async fn store_manifest(
    connection: &mut Connection,
    name: &RepoName,
    repository_id: i64,
    manifest: &PlannedManifest,
    now: i64,
    report: &mut ImportReport,
) -> Result<(), ArchiveError> {
    if manifests::find_by_digest(&mut *connection, name, &manifest.digest)
        .await?
        .is_some()
    {
        report.manifests_skipped += 1;
        return Ok(());
    }
    let facts = &manifest.facts;
    let references = manifests::ReferenceSet::new(&facts.blobs, &facts.manifests);
    let missing = manifests::missing_references(&mut *connection, Some(repository_id), &references).await?;
    if let Some(first) = missing.first() {
        return Err(ArchiveError::Registry(RegistryError::ManifestBlobUnknown(
            first.clone(),
        )));
    }
    let annotations = facts
        .annotations
        .as_ref()
        .map(|map| serde_json::to_string(map).expect("a string map serialises"));
    let new_manifest = manifests::NewManifest {
        repository_id,
        digest: &manifest.digest,
        media_type: &facts.media_type,
        artifact_type: facts.artifact_type.as_deref(),
        subject_digest: facts.subject.as_ref(),
        annotations: annotations.as_deref(),
        content: &manifest.content,
        references: &references,
    };
    manifests::insert(connection, &new_manifest, now).await?;
    report.manifests_stored += 1;
    Ok(())
}

/// Drops what an entry had started (a staged blob's multipart upload).
async fn abort(current: Option<(String, u64, Sink)>) {
    if let Some((_, _, Sink::Blob { writer, .. })) = current {
        writer.abort().await;
    }
}

/// Checks the files against `rbee/contents.json`, when the archive has one: each listed
/// file present with its size and SHA-256, and no file unlisted.
fn check_contents(received: &Received) -> Result<(), ArchiveError> {
    let Some(bytes) = &received.contents else {
        return Ok(());
    };
    let contents: Contents = serde_json::from_slice(bytes)
        .map_err(|error| ArchiveError::Invalid(format!("{}: {error}", layout::CONTENTS)))?;
    let mut listed = BTreeSet::new();
    for file in &contents.files {
        let Some((size, sha256)) = received.files.get(&file.path) else {
            return Err(ArchiveError::Invalid(format!(
                "the archive is incomplete: {} lists {:?}, which it lacks",
                layout::CONTENTS,
                file.path
            )));
        };
        if *size != file.size || sha256.hex() != file.sha256 {
            return Err(ArchiveError::Invalid(format!(
                "entry {:?} does not match {}: {size} bytes hashing to {sha256}, listed as {} bytes, sha256:{}",
                file.path,
                layout::CONTENTS,
                file.size,
                file.sha256
            )));
        }
        listed.insert(file.path.as_str());
    }
    if let Some(extra) = received
        .files
        .keys()
        .find(|path| path.as_str() != layout::CONTENTS && !listed.contains(path.as_str()))
    {
        return Err(ArchiveError::Invalid(format!(
            "entry {extra:?} is not listed in {}",
            layout::CONTENTS
        )));
    }
    Ok(())
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
