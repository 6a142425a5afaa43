//! The merged worker list held in memory with the list generation it was read at
//! (`db::workers::list_generation`). The list (every worker's version rows with their
//! metadata records parsed, merged with the catalog's records) is what `/v1/workers`,
//! `/workers` and the catalog page read on every request; with 1,000 workers reading and
//! parsing it is most of a catalog page's time. The generation is one row that every
//! transaction changing those rows moves on, so reading it tells whether the held list is
//! current, also when other processes write to the same database. One list is held (bounded
//! by the number of workers); a stale one is replaced by the next reader. Readers get a
//! [`WorkerList`]: the held list and which of its workers they picked, copying no worker.

use std::sync::{Arc, Mutex};

use super::Worker;

/// A merged list and the generation it was read at.
type HeldList = (i64, Arc<Vec<Worker>>);

/// The last merged list and its generation; clones share it.
#[derive(Clone, Default, Debug)]
pub struct WorkerListCache(Arc<Mutex<Option<HeldList>>>);

impl WorkerListCache {
    /// The held list when it was read at `generation`.
    pub fn get(&self, generation: i64) -> Option<Arc<Vec<Worker>>> {
        let held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match held.as_ref() {
            Some((at, list)) if *at == generation => Some(list.clone()),
            _ => None,
        }
    }

    /// Holds `list`, read after the generation was seen to be `generation` (so it is at
    /// least that current), unless a list of a later generation is held already.
    pub fn put(&self, generation: i64, list: Arc<Vec<Worker>>) {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if held.as_ref().is_some_and(|(at, _)| *at > generation) {
            return;
        }
        *held = Some((generation, list));
    }
}

/// Some workers of a held merged list, in its order (by id), borrowed from it.
#[derive(Clone, Debug)]
pub struct WorkerList {
    all: Arc<Vec<Worker>>,
    picked: Vec<usize>,
}

impl WorkerList {
    /// The workers of `all` that `keep` accepts.
    pub fn picking(all: Arc<Vec<Worker>>, mut keep: impl FnMut(&Worker) -> bool) -> Self {
        let picked = (0..all.len()).filter(|&at| keep(&all[at])).collect();
        WorkerList { all, picked }
    }

    /// Keeps only the workers `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&Worker) -> bool) {
        let all = &self.all;
        self.picked.retain(|&at| keep(&all[at]));
    }

    pub fn iter(&self) -> impl Iterator<Item = &Worker> + '_ {
        self.picked.iter().map(|&at| &self.all[at])
    }

    pub fn len(&self) -> usize {
        self.picked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.picked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_served_only_at_its_generation_and_never_replaced_by_an_older_one() {
        let cache = WorkerListCache::default();
        assert!(cache.get(0).is_none());
        cache.put(3, Arc::new(Vec::new()));
        assert!(cache.get(3).is_some());
        assert!(cache.get(4).is_none(), "a newer generation needs a new read");
        cache.put(2, Arc::new(Vec::new()));
        assert!(cache.get(3).is_some(), "an older read does not replace a newer one");
        assert!(cache.get(2).is_none());
    }
}
