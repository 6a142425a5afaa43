//! The references a client may see and fetch: `HEAD` and everything under `refs/`, with the
//! commit each annotated tag peels to. `ls-refs` answers from this, and a `want` must name
//! one of these objects or a commit reachable from them.

use std::collections::HashSet;

use gix::bstr::ByteSlice;
use gix::ObjectId;

use super::pktline;
use super::request::LsRefs;

/// Longest reference name offered.
const MAX_REF_NAME: usize = 4096;

/// One reference under `refs/`.
#[derive(Debug, Clone)]
pub struct RefTip {
    pub name: Vec<u8>,
    pub id: ObjectId,
    /// What an annotated tag peels to (`None` when `id` is not a tag).
    pub peeled: Option<ObjectId>,
    /// The reference a symbolic reference points to.
    pub symref_target: Option<Vec<u8>>,
}

/// Where `HEAD` points.
#[derive(Debug, Clone)]
pub enum Head {
    Branch { target: Vec<u8>, id: ObjectId },
    Unborn { target: Vec<u8> },
    Detached(ObjectId),
}

/// The repository's references, read once per request.
#[derive(Debug, Clone)]
pub struct Refs {
    pub head: Option<Head>,
    /// Sorted by name.
    pub refs: Vec<RefTip>,
}

impl Refs {
    pub fn read(repo: &gix::Repository) -> Result<Refs, gix::Error> {
        let mut head = repo.head()?;
        let target = head.referent_name().map(|name| name.as_bstr().to_vec());
        let head = match (target, head.try_peel_to_id()?) {
            (Some(target), Some(id)) => Some(Head::Branch {
                target,
                id: id.detach(),
            }),
            (Some(target), None) => Some(Head::Unborn { target }),
            (None, Some(id)) => Some(Head::Detached(id.detach())),
            (None, None) => None,
        };
        let mut refs = Vec::new();
        for reference in repo.references()?.all()? {
            let reference = reference?;
            let name = reference.name().as_bstr().to_vec();
            let (id, symref_target) = match reference.target() {
                gix::refs::TargetRef::Object(id) => (id.to_owned(), None),
                gix::refs::TargetRef::Symbolic(target) => {
                    let target = target.as_bstr().to_vec();
                    let mut followed = reference.clone();
                    match followed.peel_to_id() {
                        Ok(id) => (id.detach(), Some(target)),
                        // A symbolic reference to nothing is not offered.
                        Err(_) => continue,
                    }
                }
            };
            let object = repo.find_object(id)?;
            let peeled = match object.kind {
                gix::object::Kind::Tag => Some(object.peel_tags_to_end()?.id),
                _ => None,
            };
            refs.push(RefTip {
                name,
                id,
                peeled,
                symref_target,
            });
        }
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Refs { head, refs })
    }

    /// Every object a reference points to or peels to: what `want` may name directly.
    pub fn advertised(&self) -> HashSet<ObjectId> {
        let mut ids: HashSet<ObjectId> = self
            .refs
            .iter()
            .flat_map(|tip| [Some(tip.id), tip.peeled])
            .flatten()
            .collect();
        if let Some(Head::Branch { id, .. } | Head::Detached(id)) = &self.head {
            ids.insert(*id);
        }
        ids
    }

    /// Annotated tags: (tag object, the object it peels to).
    pub fn annotated_tags(&self) -> impl Iterator<Item = (ObjectId, ObjectId)> + '_ {
        self.refs
            .iter()
            .filter_map(|tip| tip.peeled.map(|peeled| (tip.id, peeled)))
    }

    /// The `ls-refs` answer (gitprotocol-v2, "ls-refs").
    pub fn ls_refs(&self, request: &LsRefs) -> Vec<u8> {
        let selected =
            |name: &[u8]| request.prefixes.is_empty() || request.prefixes.iter().any(|prefix| name.starts_with(prefix));
        let mut out = Vec::new();
        if selected(b"HEAD") {
            match &self.head {
                Some(Head::Branch { target, id }) => {
                    let mut line = format!("{id} HEAD");
                    if request.symrefs {
                        line.push_str(&format!(" symref-target:{}", target.as_bstr()));
                    }
                    pktline::text(&mut out, &line);
                }
                Some(Head::Unborn { target }) if request.unborn => {
                    pktline::text(&mut out, &format!("unborn HEAD symref-target:{}", target.as_bstr()));
                }
                Some(Head::Detached(id)) => pktline::text(&mut out, &format!("{id} HEAD")),
                _ => {}
            }
        }
        // A name that could not fit a packet line is not offered (git refuses such names).
        let offered = |tip: &&RefTip| tip.name.len() <= MAX_REF_NAME && selected(&tip.name);
        for tip in self.refs.iter().filter(offered) {
            let mut line = format!("{} {}", tip.id, tip.name.as_bstr());
            if request.symrefs {
                if let Some(target) = &tip.symref_target {
                    line.push_str(&format!(" symref-target:{}", target.as_bstr()));
                }
            }
            if request.peel {
                if let Some(peeled) = tip.peeled {
                    line.push_str(&format!(" peeled:{peeled}"));
                }
            }
            pktline::text(&mut out, &line);
        }
        pktline::flush(&mut out);
        out
    }
}
