//! `rbee-registry export`: the repositories chosen by `--repo` patterns (all by default),
//! each tag with the manifests it needs (index children, referrers such as PKGBUILDs), their
//! blobs, then our directory and `index.json`, then the contents manifest. With `--since`
//! only what was pushed since (incremental).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use futures::StreamExt;

use super::layout::{self, Contents, IndexEntry, LayoutIndex, Revocations};
use super::tar_write::TarWriter;
use super::ArchiveError;
use crate::auth::principal::RepoPattern;
use crate::client::progress::Progress;
use crate::db::{archive, manifests, now_millis, replica_licenses};
use crate::oci::{media_types, Digest, RepoName};
use crate::services::{Registry, RegistryError};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Repositories matching any of these (all when empty).
    pub patterns: Vec<RepoPattern>,
    /// Only manifests pushed and tags moved at or after this time (milliseconds since the
    /// epoch), and the blobs they need that were linked since.
    pub since: Option<i64>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    pub repositories: usize,
    pub tags: usize,
    pub manifests: usize,
    pub blobs: usize,
    /// Bytes of blobs and manifests.
    pub content_bytes: u64,
    /// Blobs needed but left out because they are older than `--since`.
    pub blobs_left_out: usize,
    pub catalog_files: usize,
    pub license_keys: usize,
    pub revocations: usize,
    /// Size of the archive file.
    pub archive_bytes: u64,
}

/// One repository's part of the archive.
struct RepoPlan {
    name: RepoName,
    /// `index.json` entries: tags, then untagged roots (referrers).
    entries: Vec<IndexEntry>,
    /// Manifests to write, with their sizes.
    manifests: Vec<(Digest, u64)>,
}

impl Registry {
    /// Writes the archive to `out` (through `out.partial`, renamed when complete).
    pub async fn export_archive(
        &self,
        out: &Path,
        options: &ExportOptions,
        progress: &mut dyn Progress,
    ) -> Result<ExportReport, ArchiveError> {
        let mut report = ExportReport::default();
        let mut plans = Vec::new();
        // Blobs to write, each once: digest → size.
        let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
        for repository in archive::repositories(self.db.reader()).await? {
            if !options.patterns.is_empty() && !options.patterns.iter().any(|p| p.matches(&repository.name)) {
                continue;
            }
            let plan = self
                .plan_repository(&repository, options.since, &mut blobs, &mut report)
                .await?;
            if !plan.entries.is_empty() || !plan.manifests.is_empty() {
                plans.push(plan);
            }
        }
        report.repositories = plans.len();
        let mut manifest_set: HashSet<Digest> = HashSet::new();
        let total: u64 = blobs.values().sum::<u64>()
            + plans
                .iter()
                .flat_map(|plan| &plan.manifests)
                .filter(|(digest, _)| !blobs.contains_key(digest) && manifest_set.insert(digest.clone()))
                .map(|(_, size)| size)
                .sum::<u64>();
        manifest_set.clear();

        let partial = PathBuf::from(format!("{}.partial", out.display()));
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(|error| ArchiveError::Io(format!("{}: {error}", partial.display())))?;
        let now = now_millis();
        let mut tar = TarWriter::new(file, (now / 1000).max(0) as u64);
        let result = async {
            progress.start("export", total, 0);
            tar.file(layout::OCI_LAYOUT, layout::OCI_LAYOUT_CONTENT).await?;
            tar.directory("blobs").await?;
            let algorithms: BTreeSet<&str> = blobs
                .keys()
                .map(|d| d.algorithm().name())
                .chain(
                    plans
                        .iter()
                        .flat_map(|p| p.manifests.iter().map(|(d, _)| d.algorithm().name())),
                )
                .collect();
            for algorithm in algorithms {
                tar.directory(&format!("blobs/{algorithm}")).await?;
            }
            for (digest, size) in &blobs {
                let key = self.stored_blob_key(digest).await?;
                let stream = self.store.read(&key, None).await?;
                let sha256 = tar
                    .file_stream(&layout::blob_path(digest), *size, stream, progress)
                    .await?;
                if digest.algorithm().name() == "sha256" && sha256 != digest.hex() {
                    return Err(ArchiveError::Registry(RegistryError::Corrupt(format!(
                        "stored blob {digest} hashes to sha256:{sha256}"
                    ))));
                }
                report.blobs += 1;
                report.content_bytes += size;
            }
            for plan in &plans {
                for (digest, size) in &plan.manifests {
                    if blobs.contains_key(digest) || !manifest_set.insert(digest.clone()) {
                        continue;
                    }
                    let Some(row) = manifests::find_by_digest(self.db.reader(), &plan.name, digest).await? else {
                        return Err(ArchiveError::Invalid(format!(
                            "manifest {digest} of {} was deleted during the export",
                            plan.name
                        )));
                    };
                    tar.file(&layout::blob_path(digest), &row.content).await?;
                    progress.advance(*size);
                    report.manifests += 1;
                    report.content_bytes += size;
                }
            }
            tar.directory(layout::RBEE_DIR).await?;
            let keys = self
                .license_public_keys()
                .await
                .map_err(|error| ArchiveError::Io(format!("reading the license keys: {error}")))?;
            let mut key_file = String::from("# rbee-registry license verification keys (license.verify_keys)\n");
            for key in &keys {
                key_file.push_str(&key.to_line());
                key_file.push('\n');
            }
            report.license_keys = keys.len();
            tar.file(layout::LICENSE_KEYS, key_file.as_bytes()).await?;
            let revoked = replica_licenses::revoked_ids(self.db.reader()).await?;
            report.revocations = revoked.len();
            let revocations = serde_json::to_vec_pretty(&Revocations { revoked }).expect("strings serialize");
            tar.file(layout::REVOCATIONS, &revocations).await?;
            report.catalog_files = self.export_catalog(&mut tar, progress).await?;
            let index = LayoutIndex {
                schema_version: 2,
                media_type: Some(media_types::OCI_INDEX.to_string()),
                manifests: plans.iter().flat_map(|plan| plan.entries.iter().cloned()).collect(),
            };
            tar.file(
                layout::INDEX,
                &serde_json::to_vec_pretty(&index).expect("index serializes"),
            )
            .await?;
            let contents = Contents {
                format: 1,
                created: layout::rfc3339(now),
                since: options.since.map(layout::rfc3339),
                files: tar.files.clone(),
            };
            tar.file(
                layout::CONTENTS,
                &serde_json::to_vec_pretty(&contents).expect("contents serialize"),
            )
            .await?;
            Ok(())
        }
        .await;
        progress.finish();
        if let Err(error) = result {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
        report.archive_bytes = tar.finish().await?;
        tokio::fs::rename(&partial, out)
            .await
            .map_err(|error| ArchiveError::Io(format!("{}: {error}", out.display())))?;
        Ok(report)
    }

    /// What one repository contributes: its tags (moved since `since`), the manifests they
    /// reach (children, then referrers of anything reached; pushed since `since`) and the
    /// blobs those reference (linked since `since`), added to `blobs`.
    async fn plan_repository(
        &self,
        repository: &archive::RepositoryRow,
        since: Option<i64>,
        blobs: &mut BTreeMap<Digest, u64>,
        report: &mut ExportReport,
    ) -> Result<RepoPlan, ArchiveError> {
        let reader = self.db.reader();
        let tags = archive::tags(reader, repository.id).await?;
        let metas: HashMap<Digest, archive::ManifestMeta> = archive::manifests(reader, repository.id)
            .await?
            .into_iter()
            .map(|meta| (meta.digest.clone(), meta))
            .collect();
        let mut children: HashMap<Digest, Vec<(bool, Digest)>> = HashMap::new();
        for reference in archive::references(reader, repository.id).await? {
            children
                .entry(reference.manifest)
                .or_default()
                .push((reference.is_manifest, reference.child));
        }
        let linked: HashMap<Digest, archive::LinkedBlobRow> = archive::linked_blobs(reader, repository.id)
            .await?
            .into_iter()
            .map(|row| (row.digest.clone(), row))
            .collect();
        let new_enough = |at: i64| since.is_none_or(|since| at >= since);

        // Everything the tags reach, children and referrers, to a fixed point.
        let mut reached: BTreeSet<Digest> = BTreeSet::new();
        let mut is_child: HashSet<Digest> = HashSet::new();
        let mut stack: Vec<Digest> = tags.iter().map(|tag| tag.digest.clone()).collect();
        loop {
            while let Some(digest) = stack.pop() {
                if !reached.insert(digest.clone()) {
                    continue;
                }
                for (is_manifest, child) in children.get(&digest).into_iter().flatten() {
                    if *is_manifest {
                        is_child.insert(child.clone());
                        stack.push(child.clone());
                    }
                }
            }
            stack = metas
                .values()
                .filter(|meta| {
                    !reached.contains(&meta.digest) && meta.subject.as_ref().is_some_and(|s| reached.contains(s))
                })
                .map(|meta| meta.digest.clone())
                .collect();
            if stack.is_empty() {
                break;
            }
        }
        let mut plan = RepoPlan {
            name: repository.name.clone(),
            entries: Vec::new(),
            manifests: Vec::new(),
        };
        let included: BTreeSet<&Digest> = reached
            .iter()
            .filter(|digest| metas.get(*digest).is_some_and(|meta| new_enough(meta.created_at)))
            .collect();
        let mut tagged: HashSet<&Digest> = HashSet::new();
        for tag in &tags {
            let Some(meta) = metas.get(&tag.digest) else {
                continue;
            };
            if new_enough(tag.updated_at) || included.contains(&tag.digest) {
                plan.entries.push(IndexEntry::new(
                    &meta.media_type,
                    &meta.digest,
                    meta.size,
                    &repository.name,
                    Some(&tag.name),
                ));
                tagged.insert(&tag.digest);
                report.tags += 1;
            }
        }
        for digest in &included {
            let meta = &metas[*digest];
            plan.manifests.push((meta.digest.clone(), meta.size.max(0) as u64));
            if !tagged.contains(digest) && !is_child.contains(*digest) {
                plan.entries.push(IndexEntry::new(
                    &meta.media_type,
                    &meta.digest,
                    meta.size,
                    &repository.name,
                    None,
                ));
            }
            for (is_manifest, child) in children.get(*digest).into_iter().flatten() {
                if *is_manifest {
                    continue;
                }
                let Some(link) = linked.get(child) else {
                    return Err(ArchiveError::Registry(RegistryError::Corrupt(format!(
                        "manifest {digest} of {} references blob {child}, which is not linked to it",
                        repository.name
                    ))));
                };
                if new_enough(link.linked_at) {
                    blobs.insert(child.clone(), link.size.max(0) as u64);
                } else {
                    report.blobs_left_out += 1;
                }
            }
        }
        Ok(plan)
    }

    /// Writes the catalog repository's files under `rbee/catalog.git/`: references first,
    /// then objects, so every reference copied names an object copied after it (objects
    /// are never changed, only added). Returns the number of files.
    async fn export_catalog(&self, tar: &mut TarWriter, progress: &mut dyn Progress) -> Result<usize, ArchiveError> {
        let root = self.catalog.repo_dir.clone();
        if !tokio::fs::try_exists(root.join("HEAD")).await.unwrap_or(false) {
            progress.note("no catalog repository to export");
            return Ok(0);
        }
        let walk_root = root.clone();
        let mut files = tokio::task::spawn_blocking(move || list_files(&walk_root))
            .await
            .map_err(|error| ArchiveError::Io(format!("listing the catalog: {error}")))??;
        files.sort_by_key(|(relative, _)| (relative.starts_with("objects/"), relative.clone()));
        tar.directory(layout::CATALOG_PREFIX.trim_end_matches('/')).await?;
        let mut directories: BTreeSet<String> = BTreeSet::new();
        for (relative, size) in &files {
            let mut parent = String::new();
            for component in relative.split('/').rev().skip(1).collect::<Vec<_>>().into_iter().rev() {
                if !parent.is_empty() {
                    parent.push('/');
                }
                parent.push_str(component);
                if directories.insert(parent.clone()) {
                    tar.directory(&format!("{}{parent}", layout::CATALOG_PREFIX)).await?;
                }
            }
            let path = root.join(relative);
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|error| ArchiveError::Io(format!("{}: {error}", path.display())))?;
            let stream = tokio_util::io::ReaderStream::new(tokio::io::AsyncReadExt::take(file, *size)).boxed();
            tar.file_stream(
                &format!("{}{relative}", layout::CATALOG_PREFIX),
                *size,
                stream,
                progress,
            )
            .await?;
        }
        Ok(files.len())
    }
}

/// The regular files under `root` as (path relative to it with `/`, size); lock files and
/// anything that is not a regular file or directory are left out.
fn list_files(root: &Path) -> Result<Vec<(String, u64)>, ArchiveError> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let entries = std::fs::read_dir(&directory)
            .map_err(|error| ArchiveError::Io(format!("{}: {error}", directory.display())))?;
        for entry in entries {
            let entry = entry.map_err(|error| ArchiveError::Io(format!("{}: {error}", directory.display())))?;
            let kind = entry
                .file_type()
                .map_err(|error| ArchiveError::Io(format!("{}: {error}", entry.path().display())))?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && !path.to_string_lossy().ends_with(".lock") {
                let size = entry
                    .metadata()
                    .map_err(|error| ArchiveError::Io(format!("{}: {error}", path.display())))?
                    .len();
                let Ok(relative) = path.strip_prefix(root) else {
                    continue;
                };
                let relative: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                files.push((relative.join("/"), size));
            }
        }
    }
    Ok(files)
}
