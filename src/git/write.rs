//! Writing the catalog without a worktree: `catalog init` (a bare repository whose `master`
//! holds an empty index) and `catalog add` (a worker's branch and its line in the index).
//! Objects are written to the object database, trees built or edited in memory, and each
//! branch moved by a compare-and-swap reference update (the previous tip must still be the
//! one the new commit descends from), so two writers never lose each other's commits.

use std::path::Path;

use gix::actor::Signature;
use gix::objs::tree::{Entry, EntryKind, EntryMode};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;

use super::index::MasterIndex;
use super::read::{branch_tip, open};
use super::{fault, GitError, INDEX_FILE, MASTER_BRANCH, METADATA_FILE, PKGBUILD_FILE, README_FILE};

/// The files `catalog add` commits on a worker's branch.
#[derive(Debug, Clone)]
pub struct WorkerFiles {
    pub metadata: Vec<u8>,
    pub pkgbuild: Option<Vec<u8>>,
    pub readme: Option<Vec<u8>>,
}

/// What `catalog add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOutcome {
    /// The branch's tip (hex).
    pub commit: String,
    /// False when the branch already held exactly these files (no commit was made).
    pub branch_changed: bool,
    /// False when the index already named the worker.
    pub index_changed: bool,
}

pub(crate) fn signature() -> Signature {
    Signature {
        name: "rbee-registry".into(),
        email: "rbee-registry@localhost".into(),
        time: gix::date::Time::now_utc(),
    }
}

/// Creates a bare catalog repository at `repo_dir` with `master` holding an empty index and
/// `HEAD` naming `master`. Returns false (and changes nothing) when one is there already.
pub fn init_catalog(repo_dir: &Path) -> Result<bool, GitError> {
    if repo_dir.join("HEAD").exists() {
        open(repo_dir)?;
        return Ok(false);
    }
    let repo = gix::init_bare(repo_dir).map_err(|e| fault(&format!("creating {}", repo_dir.display()), e))?;
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
    let index = repo
        .write_blob(MasterIndex::default().to_bytes())
        .map_err(|e| fault("writing the index", e))?;
    let tree = gix::objs::Tree {
        entries: vec![file_entry(INDEX_FILE, index.detach())],
    };
    let tree = repo.write_object(&tree).map_err(|e| fault("writing a tree", e))?;
    commit(&repo, MASTER_BRANCH, "Create the worker catalog", tree.detach(), None)?;
    Ok(true)
}

/// Commits `files` as the whole tree of branch `worker_id` (on top of its tip, if it has one)
/// and names the worker in `master`'s index.
pub fn add_worker(repo_dir: &Path, worker_id: &str, files: &WorkerFiles) -> Result<AddOutcome, GitError> {
    if !crate::artifact::is_valid_worker_id(worker_id) {
        return Err(GitError::Repository(format!("{worker_id:?} is not a worker id")));
    }
    let repo = open(repo_dir)?;
    let mut entries = Vec::new();
    for (name, bytes) in [
        (METADATA_FILE, Some(&files.metadata)),
        (PKGBUILD_FILE, files.pkgbuild.as_ref()),
        (README_FILE, files.readme.as_ref()),
    ] {
        if let Some(bytes) = bytes {
            let id = repo
                .write_blob(bytes)
                .map_err(|e| fault(&format!("writing {name}"), e))?;
            entries.push(file_entry(name, id.detach()));
        }
    }
    entries.sort_by(|a, b| a.filename.cmp(&b.filename));
    let tree = repo
        .write_object(&gix::objs::Tree { entries })
        .map_err(|e| fault("writing a tree", e))?
        .detach();
    let parent = branch_tip(&repo, worker_id)?;
    let unchanged = match parent {
        Some(parent) => {
            repo.find_commit(parent)
                .ok()
                .and_then(|c| c.tree_id().ok())
                .map(|t| t.detach())
                == Some(tree)
        }
        None => false,
    };
    let commit_id = match (parent, unchanged) {
        (Some(parent), true) => parent,
        _ => commit(&repo, worker_id, &format!("Update {worker_id}"), tree, parent)?,
    };
    // Another writer moving master meanwhile (adding another worker) loses nothing: read
    // master again and retry.
    let mut attempts = 0;
    let index_changed = loop {
        match add_to_index(&repo, worker_id) {
            Err(GitError::Conflict(_)) if attempts < 10 => attempts += 1,
            other => break other?,
        }
    };
    Ok(AddOutcome {
        commit: commit_id.to_string(),
        branch_changed: !unchanged,
        index_changed,
    })
}

/// Names `worker_id` in `master`'s index (edits only `index.json` in master's tree).
fn add_to_index(repo: &gix::Repository, worker_id: &str) -> Result<bool, GitError> {
    let Some(master) = branch_tip(repo, MASTER_BRANCH)? else {
        return Err(GitError::Index(format!("the repository has no {MASTER_BRANCH} branch")));
    };
    let mut index = super::read::read_index(repo, master)?;
    if !index.add(worker_id) {
        return Ok(false);
    }
    let blob = repo
        .write_blob(index.to_bytes())
        .map_err(|e| fault("writing the index", e))?;
    let master_tree = repo
        .find_commit(master)
        .and_then(|c| c.tree_id())
        .map_err(|e| fault("reading master", e))?;
    let mut editor = repo
        .edit_tree(master_tree)
        .map_err(|e| fault("editing master's tree", e))?;
    editor
        .upsert(INDEX_FILE, EntryKind::Blob, blob.detach())
        .map_err(|e| fault("editing master's tree", e))?;
    let tree = editor.write().map_err(|e| fault("writing master's tree", e))?.detach();
    commit(
        repo,
        MASTER_BRANCH,
        &format!("Add {worker_id} to the index"),
        tree,
        Some(master),
    )?;
    Ok(true)
}

fn file_entry(name: &str, oid: gix::ObjectId) -> Entry {
    Entry {
        mode: EntryMode::from(EntryKind::Blob),
        filename: name.into(),
        oid,
    }
}

/// Writes a commit and moves `refs/heads/<branch>` to it only if the branch is still at
/// `parent` (or still absent without one).
fn commit(
    repo: &gix::Repository,
    branch: &str,
    message: &str,
    tree: gix::ObjectId,
    parent: Option<gix::ObjectId>,
) -> Result<gix::ObjectId, GitError> {
    let signature = signature();
    let commit = gix::objs::Commit {
        message: message.into(),
        tree,
        author: signature.clone(),
        committer: signature.clone(),
        encoding: None,
        parents: parent.into_iter().collect(),
        extra_headers: Vec::new(),
    };
    let id = repo
        .write_object(&commit)
        .map_err(|e| fault("writing a commit", e))?
        .detach();
    let reference = format!("refs/heads/{branch}");
    let expected = match parent {
        Some(parent) => PreviousValue::MustExistAndMatch(Target::Object(parent)),
        None => PreviousValue::MustNotExist,
    };
    let edit = RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: message.into(),
            },
            expected,
            new: Target::Object(id),
        },
        name: reference.as_str().try_into().map_err(|e| fault(&reference, e))?,
        deref: false,
    };
    let mut time = gix::date::parse::TimeBuf::default();
    repo.edit_references_as(Some(edit), Some(signature.to_ref(&mut time)))
        .map_err(|error| {
            tracing::debug!(%reference, %error, "compare-and-swap ref update refused");
            GitError::Conflict(reference)
        })?;
    Ok(id)
}
