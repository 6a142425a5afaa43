//! What a `fetch` sends (gitprotocol-v2, "fetch"; gitprotocol-pack, "Packfile Negotiation"):
//! which `have`s are common, which commits the client lacks (cut by `deepen`), and which
//! trees and blobs those commits bring that the client's commits at the boundary do not
//! already hold. Every walk visits each commit or tree at most once, so a request costs at
//! most the repository's size whatever depth or number of lines it names.

use std::collections::{HashSet, VecDeque};

use gix::objs::FindExt;
use gix::traverse::tree::{visit::Action, Visit};
use gix::ObjectId;

use super::refs::Refs;
use super::request::Fetch;
use super::serve::ServeError;
use super::ProtocolError;

/// The `acknowledgments` section of a response that has not been told `done`.
#[derive(Debug, Clone, Default)]
pub struct Acknowledgments {
    pub common: Vec<ObjectId>,
    pub ready: bool,
}

/// The answer to a `fetch`.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// `None` when the client sent `done` (the section is then omitted).
    pub acknowledgments: Option<Acknowledgments>,
    /// Whether a `shallow-info` section is sent (the client asked for a shallow history).
    pub shallow_info: bool,
    pub shallow: Vec<ObjectId>,
    pub unshallow: Vec<ObjectId>,
    /// Whether a packfile follows (not while negotiation goes on).
    pub send_pack: bool,
    /// The objects of the pack: tags, commits, then trees and blobs.
    pub objects: Vec<ObjectId>,
}

/// Works out the answer to `fetch`.
pub fn plan(repo: &gix::Repository, refs: &Refs, fetch: &Fetch) -> Result<Plan, ServeError> {
    if fetch.wants.is_empty() {
        return Err(ProtocolError::new("fetch names no want").into());
    }
    check_wants(repo, refs, &fetch.wants)?;
    let mut common = Vec::new();
    for have in &fetch.haves {
        if is_commit(repo, *have)? && !common.contains(have) {
            common.push(*have);
        }
    }
    let mut plan = Plan::default();
    if !fetch.done {
        let ready = !common.is_empty() && !fetch.wait_for_done;
        plan.acknowledgments = Some(Acknowledgments {
            common: common.clone(),
            ready,
        });
        if !ready {
            return Ok(plan);
        }
    }
    plan.send_pack = true;
    plan.shallow_info = fetch.is_shallow_request();

    let mut client_shallow = HashSet::new();
    for shallow in &fetch.shallows {
        if is_commit(repo, *shallow)? {
            client_shallow.insert(*shallow);
        }
    }
    let client_has = commits_held(repo, &common, &client_shallow)?;
    let walk = select_commits(repo, fetch, &client_has, &client_shallow, &mut plan)?;

    let mut known = HashSet::new();
    for edge in &walk.edges {
        let tree = repo.find_commit(*edge)?.tree_id()?.detach();
        collect_tree(repo, tree, &HashSet::new(), &mut known, None)?;
    }
    let mut seen = HashSet::new();
    let mut objects = walk.tags;
    if fetch.include_tag {
        let sent: HashSet<&ObjectId> = walk.commits.iter().collect();
        for (tag, peeled) in refs.annotated_tags() {
            if sent.contains(&peeled) && !objects.contains(&tag) {
                tag_chain(repo, tag, &mut objects)?;
            }
        }
    }
    objects.extend(walk.commits.iter().copied());
    for commit in &walk.commits {
        let tree = repo.find_commit(*commit)?.tree_id()?.detach();
        collect_tree(repo, tree, &known, &mut seen, Some(&mut objects))?;
    }
    for tree in walk.trees {
        collect_tree(repo, tree, &known, &mut seen, Some(&mut objects))?;
    }
    for blob in walk.blobs {
        if !known.contains(&blob) && seen.insert(blob) {
            objects.push(blob);
        }
    }
    plan.objects = objects;
    Ok(plan)
}

/// A want must be advertised (a reference's object or what a tag peels to) or a commit
/// reachable from one: anything else is "not our ref", as git's upload-pack says.
fn check_wants(repo: &gix::Repository, refs: &Refs, wants: &[ObjectId]) -> Result<(), ServeError> {
    let advertised = refs.advertised();
    let mut reachable: Option<HashSet<ObjectId>> = None;
    for want in wants {
        if advertised.contains(want) {
            continue;
        }
        if reachable.is_none() {
            let mut tips = Vec::new();
            for id in &advertised {
                if is_commit(repo, *id)? {
                    tips.push(*id);
                }
            }
            reachable = Some(commits_held(repo, &tips, &HashSet::new())?);
        }
        if !reachable.as_ref().is_some_and(|reachable| reachable.contains(want)) {
            return Err(ProtocolError::new(format!("upload-pack: not our ref {want}")).into());
        }
    }
    Ok(())
}

fn is_commit(repo: &gix::Repository, id: ObjectId) -> Result<bool, ServeError> {
    Ok(repo
        .try_find_header(id)?
        .is_some_and(|header| header.kind() == gix::object::Kind::Commit))
}

/// Every commit reachable from `tips`, not going past the `boundary` (commits the client
/// holds without their parents).
fn commits_held(
    repo: &gix::Repository,
    tips: &[ObjectId],
    boundary: &HashSet<ObjectId>,
) -> Result<HashSet<ObjectId>, ServeError> {
    let mut held: HashSet<ObjectId> = boundary.clone();
    let mut queue: VecDeque<ObjectId> = tips.iter().copied().filter(|tip| held.insert(*tip)).collect();
    while let Some(id) = queue.pop_front() {
        if boundary.contains(&id) {
            continue;
        }
        for parent in repo.find_commit(id)?.parent_ids() {
            if held.insert(parent.detach()) {
                queue.push_back(parent.detach());
            }
        }
    }
    Ok(held)
}

/// What the commit walk found.
struct Walk {
    tags: Vec<ObjectId>,
    commits: Vec<ObjectId>,
    /// Commits the client holds next to the ones sent: their trees need not be sent.
    edges: Vec<ObjectId>,
    /// Trees and blobs wanted directly or through a tag.
    trees: Vec<ObjectId>,
    blobs: Vec<ObjectId>,
}

/// Breadth-first from the wants, so each commit is reached at its smallest depth; stops at
/// commits the client holds and cuts the history at `deepen`/`deepen-since`.
fn select_commits(
    repo: &gix::Repository,
    fetch: &Fetch,
    client_has: &HashSet<ObjectId>,
    client_shallow: &HashSet<ObjectId>,
    plan: &mut Plan,
) -> Result<Walk, ServeError> {
    let deepen = fetch.is_shallow_request();
    let mut walk = Walk {
        tags: Vec::new(),
        commits: Vec::new(),
        edges: Vec::new(),
        trees: Vec::new(),
        blobs: Vec::new(),
    };
    let mut queue = VecDeque::new();
    let mut seen = HashSet::new();
    for want in &fetch.wants {
        let mut id = *want;
        loop {
            let object = repo.find_object(id)?;
            match object.kind {
                gix::object::Kind::Tag => {
                    if !walk.tags.contains(&id) {
                        walk.tags.push(id);
                    }
                    id = object.into_tag().target_id()?.detach();
                }
                gix::object::Kind::Commit => {
                    if seen.insert(id) {
                        queue.push_back((id, 1u64));
                    }
                    break;
                }
                gix::object::Kind::Tree => break walk.trees.push(id),
                gix::object::Kind::Blob => break walk.blobs.push(id),
            }
        }
    }
    while let Some((id, depth)) = queue.pop_front() {
        let held = client_has.contains(&id);
        let shallow_here = client_shallow.contains(&id);
        if held && !(deepen && shallow_here) {
            walk.edges.push(id);
            continue;
        }
        let parents: Vec<ObjectId> = repo.find_commit(id)?.parent_ids().map(|id| id.detach()).collect();
        if held {
            walk.edges.push(id);
        } else {
            walk.commits.push(id);
        }
        let mut cut = fetch.deepen.depth.is_some_and(|limit| depth >= limit);
        if let Some(since) = fetch.deepen.since {
            for parent in &parents {
                cut |= repo.find_commit(*parent)?.time()?.seconds < since;
            }
        }
        if cut {
            if !held && !parents.is_empty() {
                plan.shallow.push(id);
            }
            continue;
        }
        if held && !parents.is_empty() {
            plan.unshallow.push(id);
        }
        for parent in parents {
            if seen.insert(parent) {
                queue.push_back((parent, depth.saturating_add(1)));
            }
        }
    }
    Ok(walk)
}

/// Adds a tag and the tags it points to (a tag of a tag) to `objects`.
fn tag_chain(repo: &gix::Repository, tag: ObjectId, objects: &mut Vec<ObjectId>) -> Result<(), ServeError> {
    let mut id = tag;
    loop {
        let object = repo.find_object(id)?;
        if object.kind != gix::object::Kind::Tag {
            return Ok(());
        }
        if !objects.contains(&id) {
            objects.push(id);
        }
        id = object.into_tag().target_id()?.detach();
    }
}

/// Walks the tree `root` (gix-traverse, breadth-first), adding to `seen` each tree and blob
/// not in `known` and not seen before, and to `out` when given. Subtrees already known or
/// seen are not entered again; submodule entries (commits of other repositories) are skipped.
fn collect_tree(
    repo: &gix::Repository,
    root: ObjectId,
    known: &HashSet<ObjectId>,
    seen: &mut HashSet<ObjectId>,
    mut out: Option<&mut Vec<ObjectId>>,
) -> Result<(), ServeError> {
    if known.contains(&root) || !seen.insert(root) {
        return Ok(());
    }
    if let Some(out) = out.as_deref_mut() {
        out.push(root);
    }
    let mut buffer = Vec::new();
    let tree = repo.objects.find_tree_iter(&root, &mut buffer)?;
    let mut collector = Collector { known, seen, out };
    gix::traverse::tree::breadthfirst(
        tree,
        gix::traverse::tree::breadthfirst::State::default(),
        &repo.objects,
        &mut collector,
    )?;
    Ok(())
}

struct Collector<'a> {
    known: &'a HashSet<ObjectId>,
    seen: &'a mut HashSet<ObjectId>,
    out: Option<&'a mut Vec<ObjectId>>,
}

impl Collector<'_> {
    /// Records `id`; whether it was new.
    fn record(&mut self, id: ObjectId) -> bool {
        if self.known.contains(&id) || !self.seen.insert(id) {
            return false;
        }
        if let Some(out) = self.out.as_deref_mut() {
            out.push(id);
        }
        true
    }
}

impl Visit for Collector<'_> {
    fn pop_back_tracked_path_and_set_current(&mut self) {}
    fn pop_front_tracked_path_and_set_current(&mut self) {}
    fn push_back_tracked_path_component(&mut self, _component: &gix::bstr::BStr) {}
    fn push_path_component(&mut self, _component: &gix::bstr::BStr) {}
    fn pop_path_component(&mut self) {}

    fn visit_tree(&mut self, entry: &gix::objs::tree::EntryRef<'_>) -> Action {
        Action::Continue(self.record(entry.oid.to_owned()))
    }

    fn visit_nontree(&mut self, entry: &gix::objs::tree::EntryRef<'_>) -> Action {
        if !entry.mode.is_commit() {
            self.record(entry.oid.to_owned());
        }
        Action::Continue(true)
    }
}
