//! Token signing keys: kept in the database (`signing_keys`), shared by every process on it,
//! with a small in-process cache. The newest unretired key signs; every stored key verifies.
//! `rotate` adds a key, retires the others and removes keys retired longer ago than the
//! retention (at least the longest token lifetime plus skew), so tokens signed before a
//! rotation stay valid until they expire. Private key material is never logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{Registry, RegistryError};
use crate::auth::token::{PublicKey, SigningKey};
use crate::db::keys::{self, KeyRow};
use crate::db::now_millis;

/// How long the cached key set is used before it is read again.
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Least time between two reads caused by a token naming a key not in the cache (so tokens
/// with made-up `kid`s cannot make every request a database read).
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// A stored key as `keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

struct Loaded {
    public: PublicKey,
    signing: Option<Arc<SigningKey>>,
}

#[derive(Default)]
struct CacheState {
    keys: Arc<Vec<Arc<Loaded>>>,
    loaded_at: Option<Instant>,
    miss_reload_at: Option<Instant>,
}

/// The process's cache of the key table (at most the 256 newest keys).
#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<CacheState>>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

fn load(row: &KeyRow) -> Option<Loaded> {
    let public = URL_SAFE_NO_PAD.decode(&row.public_key).ok()?;
    let signing = URL_SAFE_NO_PAD
        .decode(&row.private_key)
        .ok()
        .and_then(|pkcs8| SigningKey::from_pkcs8(&row.kid, &pkcs8).ok())
        .map(Arc::new);
    if signing.is_none() {
        tracing::warn!(kid = %row.kid, "a stored signing key does not load; it verifies nothing");
        return None;
    }
    Some(Loaded {
        public: PublicKey {
            kid: row.kid.clone(),
            bytes: public,
        },
        signing,
    })
}

impl Registry {
    async fn reload_keys(&self) -> Result<Arc<Vec<Arc<Loaded>>>, RegistryError> {
        let rows = keys::list(self.db.reader()).await?;
        let loaded: Arc<Vec<Arc<Loaded>>> = Arc::new(rows.iter().filter_map(load).map(Arc::new).collect());
        let mut state = self.keys.0.lock().expect("key cache lock");
        state.keys = loaded.clone();
        state.loaded_at = Some(Instant::now());
        Ok(loaded)
    }

    async fn cached_keys(&self, missing_kid: Option<&str>) -> Result<Arc<Vec<Arc<Loaded>>>, RegistryError> {
        let reload = {
            let mut state = self.keys.0.lock().expect("key cache lock");
            let stale = state.loaded_at.is_none_or(|at| at.elapsed() > CACHE_TTL);
            let missing = missing_kid.is_some_and(|kid| !state.keys.iter().any(|key| key.public.kid == kid));
            let may_reload_for_miss = state
                .miss_reload_at
                .is_none_or(|at| at.elapsed() > MISS_RELOAD_INTERVAL);
            if missing && may_reload_for_miss {
                state.miss_reload_at = Some(Instant::now());
            }
            if stale || (missing && may_reload_for_miss) {
                None
            } else {
                Some(state.keys.clone())
            }
        };
        match reload {
            Some(keys) => Ok(keys),
            None => self.reload_keys().await,
        }
    }

    /// The public keys that verify tokens; `kid` names the key a token was signed with, so a
    /// key made by another process since the last read is found.
    pub async fn verification_keys(&self, kid: Option<&str>) -> Result<Vec<PublicKey>, RegistryError> {
        let keys = self.cached_keys(kid).await?;
        Ok(keys.iter().map(|key| key.public.clone()).collect())
    }

    /// Whether the key `kid` still verifies tokens (is among the cached stored keys, read
    /// again as for `verification_keys`).
    pub async fn verifies_with(&self, kid: &str) -> Result<bool, RegistryError> {
        let keys = self.cached_keys(None).await?;
        Ok(keys.iter().any(|key| key.public.kid == kid))
    }

    /// The key that signs new tokens: the newest unretired one (one indexed read, so a
    /// rotation by another process takes effect at once); made when there is none.
    pub async fn current_signing_key(&self) -> Result<Arc<SigningKey>, RegistryError> {
        let kid = match keys::current_kid(self.db.reader()).await? {
            Some(kid) => kid,
            None => self.ensure_signing_key().await?,
        };
        for attempt in 0..2 {
            let keys = if attempt == 0 {
                self.cached_keys(Some(&kid)).await?
            } else {
                self.reload_keys().await?
            };
            if let Some(signing) = keys
                .iter()
                .find(|key| key.public.kid == kid)
                .and_then(|key| key.signing.clone())
            {
                return Ok(signing);
            }
        }
        Err(RegistryError::Corrupt(format!("signing key {kid} does not load")))
    }

    /// Makes a signing key when the database has no current one; the current key's id.
    pub async fn ensure_signing_key(&self) -> Result<String, RegistryError> {
        if let Some(kid) = keys::current_kid(self.db.writer()).await? {
            return Ok(kid);
        }
        let kid = self.insert_new_key().await?;
        tracing::info!(%kid, "created a token signing key");
        Ok(kid)
    }

    async fn insert_new_key(&self) -> Result<String, RegistryError> {
        let new = SigningKey::generate().map_err(|error| RegistryError::Corrupt(error.to_string()))?;
        keys::insert(
            self.db.writer(),
            &KeyRow {
                kid: new.kid.clone(),
                private_key: URL_SAFE_NO_PAD.encode(&new.pkcs8),
                public_key: URL_SAFE_NO_PAD.encode(&new.public),
                created_at: now_millis(),
                retired_at: None,
            },
        )
        .await?;
        Ok(new.kid)
    }

    /// `keys rotate`: a new key signs from now on; the others are retired and verify until
    /// `retention` after their retirement, then are removed. The new key's id.
    pub async fn rotate_signing_key(&self, retention: Duration) -> Result<String, RegistryError> {
        let kid = self.insert_new_key().await?;
        let now = now_millis();
        keys::retire_others(self.db.writer(), &kid, now).await?;
        let removed = keys::remove_retired_before(self.db.writer(), now - retention.as_millis() as i64).await?;
        tracing::info!(%kid, removed, "rotated the token signing key");
        self.reload_keys().await?;
        Ok(kid)
    }

    /// `keys list`: every stored key, newest first.
    pub async fn list_signing_keys(&self) -> Result<Vec<KeyInfo>, RegistryError> {
        Ok(keys::list(self.db.reader())
            .await?
            .into_iter()
            .map(|row| KeyInfo {
                kid: row.kid,
                created_at: row.created_at,
                retired_at: row.retired_at,
            })
            .collect())
    }
}
