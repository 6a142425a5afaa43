//! Bringing `<data_dir>/catalog.git` in step with the configured source, so the catalog the
//! registry serves (and reads) is the one it last synced. After a fetch the local branches
//! are exactly the source's: new and moved branches are set to the source's tips (a forced
//! update: the source is the truth), and branches the source no longer has are deleted.
//!
//! - An `http://` or `https://` URL is fetched with gix's HTTP client (protocol v2).
//! - A path names another repository on this machine (bare or not); its objects reachable
//!   from its branches are copied one by one into the local repository (objects the local
//!   repository has are skipped, and so is the history below a commit it has), without
//!   spawning `git`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::objs::tree::EntryKind;
use gix::objs::Write as _;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;

use super::read::{branches, open};
use super::{fault, GitError, MASTER_BRANCH};

/// Where a catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogSource {
    /// An HTTP(S) Git URL.
    Remote(String),
    /// A repository on this machine.
    Local(PathBuf),
}

impl CatalogSource {
    /// `http(s)://…` is a remote; anything else a path. Other URL schemes are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the catalog source is empty".into());
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
            if url.host_str().is_none() {
                return Err(format!("{text:?} has no host"));
            }
            return Ok(CatalogSource::Remote(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "the catalog source {text:?} uses {scheme}://; it must be an http(s):// URL or a local path"
            ));
        }
        Ok(CatalogSource::Local(PathBuf::from(text)))
    }

    /// What logs and errors call the source (a URL's credentials are not shown).
    pub fn display_name(&self) -> String {
        match self {
            CatalogSource::Remote(text) => match url::Url::parse(text) {
                Ok(mut url) => {
                    let _ = url.set_password(None);
                    let _ = url.set_username("");
                    url.to_string()
                }
                Err(_) => "<remote>".into(),
            },
            CatalogSource::Local(path) => path.display().to_string(),
        }
    }
}

/// What a fetch changed in the local repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Branches created or moved.
    pub updated: Vec<String>,
    /// Branches deleted (gone from the source).
    pub deleted: Vec<String>,
}

/// Fetches `source` into the bare repository at `dest` (created when missing).
pub fn fetch_into(dest: &Path, source: &CatalogSource) -> Result<FetchOutcome, GitError> {
    let failed = |message: String| GitError::Source {
        source_name: source.display_name(),
        message,
    };
    let repo = ensure_repository(dest)?;
    let before = branches(&repo)?;
    let wanted: BTreeMap<String, gix::ObjectId> = match source {
        CatalogSource::Remote(url) => fetch_remote(&repo, url).map_err(failed)?,
        CatalogSource::Local(path) => copy_local(&repo, path).map_err(failed)?,
    };
    let mut edits = Vec::new();
    let mut outcome = FetchOutcome::default();
    for (name, id) in &wanted {
        if before.get(name) != Some(id) {
            outcome.updated.push(name.clone());
            edits.push(branch_edit(name, Some(*id))?);
        }
    }
    for name in before.keys().filter(|name| !wanted.contains_key(*name)) {
        outcome.deleted.push(name.clone());
        edits.push(branch_edit(name, None)?);
    }
    if !edits.is_empty() {
        // Another process fetching into the same repository may hold a ref's lock for a
        // moment: retry a few times before giving up.
        let mut attempts = 0;
        loop {
            let mut time = gix::date::parse::TimeBuf::default();
            let signature = super::write::signature();
            match repo.edit_references_as(edits.clone(), Some(signature.to_ref(&mut time))) {
                Ok(_) => break,
                Err(_) if attempts < 40 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(error) => return Err(fault("updating the local branches", error)),
            }
        }
    }
    Ok(outcome)
}

/// Opens the bare repository at `dest`, creating it when missing: made under a temporary
/// name beside it and renamed into place, so processes creating it at once end up sharing
/// one complete repository.
fn ensure_repository(dest: &Path) -> Result<gix::Repository, GitError> {
    if dest.join("HEAD").exists() {
        return open(dest);
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| fault(&format!("creating {}", parent.display()), e))?;
    let staging = parent.join(format!(".catalog-{}.git", uuid::Uuid::new_v4()));
    let repo = gix::init_bare(&staging).map_err(|e| fault(&format!("creating {}", staging.display()), e))?;
    set_head(&repo)?;
    drop(repo);
    if std::fs::rename(&staging, dest).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    open(dest)
}

fn set_head(repo: &gix::Repository) -> Result<(), GitError> {
    repo.edit_reference(RefEdit {
        change: Change::Update {
            log: LogChange::default(),
            expected: PreviousValue::Any,
            new: Target::Symbolic(format!("refs/heads/{MASTER_BRANCH}").try_into().expect("a valid name")),
        },
        name: "HEAD".try_into().expect("a valid name"),
        deref: false,
    })
    .map_err(|e| fault("pointing HEAD at master", e))?;
    Ok(())
}

fn branch_edit(name: &str, target: Option<gix::ObjectId>) -> Result<RefEdit, GitError> {
    let full = format!("refs/heads/{name}");
    let change = match target {
        Some(id) => Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: "catalog sync".into(),
            },
            expected: PreviousValue::Any,
            new: Target::Object(id),
        },
        None => Change::Delete {
            expected: PreviousValue::Any,
            log: RefLog::AndReference,
        },
    };
    Ok(RefEdit {
        change,
        name: full.as_str().try_into().map_err(|e| fault(&full, e))?,
        deref: false,
    })
}

/// Fetches every branch of `url` (objects only; the refs are set by the caller) and returns
/// the remote's branches and their tips.
fn fetch_remote(repo: &gix::Repository, url: &str) -> Result<BTreeMap<String, gix::ObjectId>, String> {
    let remote = repo
        .remote_at(url)
        .and_then(|r| r.with_refspecs(Some("+refs/heads/*:refs/heads/*"), gix::remote::Direction::Fetch))
        .map_err(|e| e.to_string())?;
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| e.to_string())?;
    let outcome = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| e.to_string())?
        .receive(gix::progress::Discard, &AtomicBool::new(false))
        .map_err(|e| e.to_string())?;
    let mut tips = BTreeMap::new();
    for reference in &outcome.ref_map.remote_refs {
        let (name, target, peeled) = reference.unpack();
        let name = name.to_string();
        if let (Some(branch), Some(id)) = (name.strip_prefix("refs/heads/"), peeled.or(target)) {
            tips.insert(branch.to_string(), id.to_owned());
        }
    }
    Ok(tips)
}

/// Copies what `dest` lacks of the objects reachable from the branches of the repository at
/// `path`, and returns those branches and their tips.
fn copy_local(dest: &gix::Repository, path: &Path) -> Result<BTreeMap<String, gix::ObjectId>, String> {
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    let source = gix::open(path).map_err(|e| e.to_string())?;
    let tips = branches(&source).map_err(|e| e.to_string())?;
    let mut commits: Vec<gix::ObjectId> = tips.values().copied().collect();
    let mut seen = BTreeSet::new();
    while let Some(id) = commits.pop() {
        if !seen.insert(id) || dest.has_object(id) {
            continue;
        }
        let commit = source.find_commit(id).map_err(|e| e.to_string())?;
        copy_tree(
            &source,
            dest,
            commit.tree_id().map_err(|e| e.to_string())?.detach(),
            &mut seen,
        )?;
        commits.extend(commit.parent_ids().map(|p| p.detach()));
        dest.objects
            .write_buf(gix::objs::Kind::Commit, &commit.data)
            .map_err(|e| e.to_string())?;
    }
    Ok(tips)
}

fn copy_tree(
    source: &gix::Repository,
    dest: &gix::Repository,
    tree: gix::ObjectId,
    seen: &mut BTreeSet<gix::ObjectId>,
) -> Result<(), String> {
    if !seen.insert(tree) || dest.has_object(tree) {
        return Ok(());
    }
    let object = source.find_tree(tree).map_err(|e| e.to_string())?;
    for entry in object.iter() {
        let entry = entry.map_err(|e| e.to_string())?;
        let id = entry.object_id();
        match entry.mode().kind() {
            EntryKind::Tree => copy_tree(source, dest, id, seen)?,
            // A submodule's commit lives in another repository.
            EntryKind::Commit => {}
            EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                if seen.insert(id) && !dest.has_object(id) {
                    let blob = source.find_blob(id).map_err(|e| e.to_string())?;
                    dest.objects
                        .write_buf(gix::objs::Kind::Blob, &blob.data)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    dest.objects
        .write_buf(gix::objs::Kind::Tree, &object.data)
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(
            CatalogSource::parse("https://example.com/c.git").unwrap(),
            CatalogSource::Remote("https://example.com/c.git".into())
        );
        assert_eq!(
            CatalogSource::parse("/srv/catalog").unwrap(),
            CatalogSource::Local("/srv/catalog".into())
        );
        assert!(CatalogSource::parse("ssh://host/x").is_err());
        assert!(CatalogSource::parse("").is_err());
        assert_eq!(
            CatalogSource::parse("https://user:secret@example.com/c.git")
                .unwrap()
                .display_name(),
            "https://example.com/c.git"
        );
    }
}
