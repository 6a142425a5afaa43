//! Bearer tokens that passed verification, remembered so that the next request with the same
//! token skips the signature check (an Ed25519 verification and two JSON parses).
//!
//! Keyed by the SHA-256 of the token (never the token itself), holding what the token grants,
//! the key that signed it and the time it stops being valid (`exp` plus the clock skew). A
//! hit is only used before that time and while the signing key is still among the stored
//! keys (the caller checks: a key removed from the table invalidates its tokens as soon as
//! the key cache notices, as it does for tokens not cached). Bounded: at most `capacity`
//! entries; expired ones are dropped when found and the oldest are evicted first (tokens
//! share one lifetime, so the oldest is also the first to expire). Only tokens that passed
//! every check are stored, so filling the cache costs a caller one valid token per entry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::tokens::VerifiedToken;

/// Entries kept at most by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The SHA-256 of a token.
type TokenHash = [u8; 32];

fn hash(token: &str) -> TokenHash {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// A verified token as remembered.
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub verified: VerifiedToken,
    /// The `kid` of the key that signed it.
    pub kid: String,
    /// Unix seconds after which it is refused (`exp` plus the skew).
    pub valid_until: i64,
}

#[derive(Default)]
struct State {
    /// Each entry with the number of its storing.
    entries: HashMap<TokenHash, (u64, Arc<CachedToken>)>,
    /// Hashes in the order they were stored, with the number of that storing (a hash may be
    /// listed again after it was forgotten and stored anew; a listing whose number is not the
    /// entry's is stale and skipped when it reaches the front).
    order: VecDeque<(TokenHash, u64)>,
    stored: u64,
}

impl State {
    /// The entry `listing` names, if the listing is not stale.
    fn listed(&self, (key, number): (TokenHash, u64)) -> Option<&Arc<CachedToken>> {
        self.entries
            .get(&key)
            .filter(|(stored, _)| *stored == number)
            .map(|(_, cached)| cached)
    }
}

/// The process's cache of verified tokens.
#[derive(Clone)]
pub struct TokenCache {
    capacity: usize,
    state: Arc<Mutex<State>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenCache({} at most)", self.capacity)
    }
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            capacity: capacity.max(1),
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The remembered verification of `token`, if it is still valid at `now` (Unix seconds);
    /// an expired one is forgotten.
    pub fn get(&self, token: &str, now: i64) -> Option<Arc<CachedToken>> {
        let key = hash(token);
        let mut state = self.lock();
        let (_, cached) = state.entries.get(&key)?;
        if cached.valid_until < now {
            state.entries.remove(&key);
            return None;
        }
        Some(cached.clone())
    }

    /// Remembers `token`'s verification; drops expired entries at the front of the order
    /// and, when full, the oldest.
    pub fn insert(&self, token: &str, cached: CachedToken, now: i64) {
        let key = hash(token);
        let mut state = self.lock();
        if state.entries.contains_key(&key) {
            // Verified twice at once: the first is as good.
            return;
        }
        state.stored += 1;
        let number = state.stored;
        state.entries.insert(key, (number, Arc::new(cached)));
        state.order.push_back((key, number));
        // Listings of entries `get` forgot stay in the order until they reach the front;
        // the order is bounded too.
        while let Some(&front) = state.order.front() {
            let listed = state.listed(front).map(|cached| cached.valid_until);
            let full = state.entries.len() > self.capacity || state.order.len() > 2 * self.capacity;
            match listed {
                None => {}
                Some(valid_until) if valid_until < now || full => {
                    state.entries.remove(&front.0);
                }
                Some(_) => break,
            }
            state.order.pop_front();
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(valid_until: i64) -> CachedToken {
        CachedToken {
            verified: VerifiedToken {
                subject: "anonymous".into(),
                access: Vec::new(),
            },
            kid: "k1".into(),
            valid_until,
        }
    }

    #[test]
    fn hits_until_expiry() {
        let cache = TokenCache::new(4);
        cache.insert("a.b.c", entry(100), 10);
        assert_eq!(cache.get("a.b.c", 50).unwrap().kid, "k1");
        assert_eq!(cache.get("a.b.c", 100).unwrap().valid_until, 100);
        assert!(cache.get("a.b.x", 50).is_none());
        assert!(cache.get("a.b.c", 101).is_none());
        assert!(cache.is_empty(), "an expired entry is forgotten when found");
    }

    #[test]
    fn bounded_oldest_evicted_first() {
        let cache = TokenCache::new(3);
        for (i, token) in ["t0", "t1", "t2", "t3", "t4"].iter().enumerate() {
            cache.insert(token, entry(1000 + i as i64), 0);
            assert!(cache.len() <= 3);
        }
        assert!(cache.get("t0", 0).is_none());
        assert!(cache.get("t1", 0).is_none());
        for token in ["t2", "t3", "t4"] {
            assert!(cache.get(token, 0).is_some(), "{token}");
        }
    }

    #[test]
    fn expired_entries_leave_before_live_ones() {
        let cache = TokenCache::new(3);
        cache.insert("old", entry(5), 0);
        cache.insert("live1", entry(100), 0);
        // At 10 the first entry has expired: the next insert drops it, not a live one.
        cache.insert("live2", entry(100), 10);
        cache.insert("live3", entry(100), 10);
        assert_eq!(cache.len(), 3);
        for token in ["live1", "live2", "live3"] {
            assert!(cache.get(token, 10).is_some(), "{token}");
        }
    }

    #[test]
    fn stored_again_after_expiry_and_order_bounded() {
        let cache = TokenCache::new(2);
        for round in 0..50 {
            cache.insert("same", entry(round), round);
            assert!(cache.get("same", round + 1).is_none());
            assert!(cache.lock().order.len() <= 4);
        }
        cache.insert("same", entry(1000), 100);
        assert!(cache.get("same", 100).is_some());
    }
}
