//! One reading of the catalog: `master`'s index, then each branch it names at its tip.
//!
//! A branch's problems (missing, a symlink or a directory in its tree, a file past
//! [`MAX_FILE_BYTES`], no `metadata.json`, text that is not UTF-8) are that branch's
//! [`BranchRead::files`] error; they never stop the others. Problems of `master` or its index
//! fail the whole reading ([`GitError::Index`]). The reading's `revision` names exactly what
//! was read (master's and every named branch's commit), so two readings of the same refs
//! have the same revision.

use std::collections::BTreeMap;
use std::path::Path;

use gix::objs::tree::EntryKind;
use sha2::{Digest as _, Sha256};

use super::index::MasterIndex;
use super::{fault, GitError, INDEX_FILE, MASTER_BRANCH, MAX_FILE_BYTES, METADATA_FILE, PKGBUILD_FILE, README_FILE};

/// What one reading found.
#[derive(Debug, Clone)]
pub struct CatalogSnapshot {
    /// `master`'s commit id (hex).
    pub master_commit: String,
    /// SHA-256 (hex) of `master <commit>` and `<branch> <commit>` of every named branch: what
    /// the database records as the catalog's applied revision.
    pub revision: String,
    /// The branches the index names, in its order.
    pub branches: Vec<BranchRead>,
    /// Branches in the repository that the index does not name (reported, not read).
    pub unlisted: Vec<String>,
}

/// One named branch.
#[derive(Debug, Clone)]
pub struct BranchRead {
    pub name: String,
    /// The tip's commit id (hex); `None` when the branch does not exist.
    pub commit: Option<String>,
    pub files: Result<BranchFiles, String>,
}

/// The files of a worker branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchFiles {
    pub metadata: Vec<u8>,
    pub pkgbuild: Option<String>,
    pub readme: Option<String>,
}

/// Opens a catalog repository (bare or not).
pub(crate) fn open(repo_dir: &Path) -> Result<gix::Repository, GitError> {
    if !repo_dir.exists() {
        return Err(GitError::NoRepository(repo_dir.to_path_buf()));
    }
    gix::open(repo_dir).map_err(|error| fault(&format!("opening {}", repo_dir.display()), error))
}

/// The tip of `refs/heads/<branch>`, if the branch exists.
pub(crate) fn branch_tip(repo: &gix::Repository, branch: &str) -> Result<Option<gix::ObjectId>, GitError> {
    let name = format!("refs/heads/{branch}");
    let Some(mut reference) = repo.try_find_reference(name.as_str()).map_err(|e| fault(&name, e))? else {
        return Ok(None);
    };
    let id = reference.peel_to_id().map_err(|e| fault(&name, e))?;
    Ok(Some(id.detach()))
}

/// Every local branch and its tip.
pub(crate) fn branches(repo: &gix::Repository) -> Result<BTreeMap<String, gix::ObjectId>, GitError> {
    let platform = repo.references().map_err(|e| fault("listing branches", e))?;
    let mut found = BTreeMap::new();
    for reference in platform.local_branches().map_err(|e| fault("listing branches", e))? {
        let mut reference = reference.map_err(|e| fault("listing branches", e))?;
        let name = reference.name().shorten().to_string();
        if let Ok(id) = reference.peel_to_id() {
            found.insert(name, id.detach());
        }
    }
    Ok(found)
}

/// Reads the catalog at its tips.
pub fn read_catalog(repo_dir: &Path) -> Result<CatalogSnapshot, GitError> {
    let repo = open(repo_dir)?;
    let all = branches(&repo)?;
    let Some(master) = all.get(MASTER_BRANCH).copied() else {
        return Err(GitError::Index(format!("the repository has no {MASTER_BRANCH} branch")));
    };
    let index = read_index(&repo, master)?;
    let mut hasher = Sha256::new();
    hasher.update(format!("{MASTER_BRANCH} {master}\n"));
    let mut branches = Vec::with_capacity(index.workers.len());
    for name in &index.workers {
        let commit = all.get(name).copied();
        hasher.update(format!(
            "{name} {}\n",
            commit.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
        ));
        let files = match commit {
            None => Err(format!("the index names branch {name:?}, which does not exist")),
            Some(commit) => read_branch(&repo, commit),
        };
        branches.push(BranchRead {
            name: name.clone(),
            commit: commit.map(|c| c.to_string()),
            files,
        });
    }
    let unlisted = all
        .keys()
        .filter(|name| name.as_str() != MASTER_BRANCH && !index.workers.contains(name))
        .cloned()
        .collect();
    Ok(CatalogSnapshot {
        master_commit: master.to_string(),
        revision: hex::encode(hasher.finalize()),
        branches,
        unlisted,
    })
}

/// The master index at `master`'s commit; an empty index when a fresh catalog has none.
pub(crate) fn read_index(repo: &gix::Repository, master: gix::ObjectId) -> Result<MasterIndex, GitError> {
    let files = top_level_files(repo, master, &[INDEX_FILE]).map_err(GitError::Index)?;
    match files.into_iter().next().flatten() {
        Some(bytes) => MasterIndex::parse(&bytes).map_err(GitError::Index),
        None => Err(GitError::Index(format!("{MASTER_BRANCH} has no {INDEX_FILE}"))),
    }
}

fn read_branch(repo: &gix::Repository, commit: gix::ObjectId) -> Result<BranchFiles, String> {
    let mut files = top_level_files(repo, commit, &[METADATA_FILE, PKGBUILD_FILE, README_FILE])?.into_iter();
    let metadata = files
        .next()
        .flatten()
        .ok_or_else(|| format!("the branch has no {METADATA_FILE}"))?;
    let text = |name: &str, bytes: Option<Vec<u8>>| {
        bytes
            .map(|bytes| String::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8 text")))
            .transpose()
    };
    let pkgbuild = text(PKGBUILD_FILE, files.next().flatten())?;
    let readme = text(README_FILE, files.next().flatten())?;
    Ok(BranchFiles {
        metadata,
        pkgbuild,
        readme,
    })
}

/// The contents of `wanted` files at the top of `commit`'s tree (`None` for absent ones).
/// Any symlink, directory or submodule in the tree is refused, and so is a wanted file past
/// [`MAX_FILE_BYTES`] (its size is read from the object header; the object is not loaded).
fn top_level_files(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    wanted: &[&str],
) -> Result<Vec<Option<Vec<u8>>>, String> {
    let commit = repo
        .find_commit(commit)
        .map_err(|e| format!("commit {commit} cannot be read: {e}"))?;
    let tree = commit
        .tree()
        .map_err(|e| format!("the commit's tree cannot be read: {e}"))?;
    let mut found: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
    for entry in tree.iter() {
        let entry = entry.map_err(|e| format!("the commit's tree cannot be read: {e}"))?;
        let name = entry.filename().to_string();
        match entry.mode().kind() {
            EntryKind::Blob | EntryKind::BlobExecutable => {}
            EntryKind::Link => {
                return Err(format!(
                    "{name:?} is a symbolic link; the catalog takes regular files only"
                ))
            }
            EntryKind::Tree => return Err(format!("{name:?} is a directory; the catalog takes regular files only")),
            EntryKind::Commit => return Err(format!("{name:?} is a submodule; the catalog takes regular files only")),
        }
        let Some(position) = wanted.iter().position(|w| *w == name) else {
            continue;
        };
        let header = repo
            .find_header(entry.object_id())
            .map_err(|e| format!("{name} cannot be read: {e}"))?;
        if header.size() > MAX_FILE_BYTES {
            return Err(format!(
                "{name} is {} bytes; files in the catalog are at most {MAX_FILE_BYTES} bytes",
                header.size()
            ));
        }
        let blob = repo
            .find_blob(entry.object_id())
            .map_err(|e| format!("{name} cannot be read: {e}"))?;
        found[position] = Some(blob.data.clone());
    }
    Ok(found)
}
