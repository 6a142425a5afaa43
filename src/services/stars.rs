//! Stars: any holder of a valid license token or publisher token stars a worker once
//! (idempotent), and may take the star back. The holder is the principal's subject
//! (`license:<id>`, `publisher:<name>`), so every token of one license or publisher counts
//! as one star. Counts are read from the database on every request (shared by every
//! process).

use std::collections::BTreeMap;

use super::workers::WorkerError;
use super::Registry;
use crate::artifact::WorkerId;
use crate::auth::principal::Principal;
use crate::db::{now_millis, stars};

/// What a star request changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StarOutcome {
    /// Whether the request changed anything (a repeated star or unstar changes nothing).
    pub changed: bool,
    /// The worker's star count afterwards.
    pub stars: u64,
}

impl Registry {
    /// Stars (`on`) or unstars `worker_id` for whoever `secret` proves. A missing, unknown,
    /// revoked, expired or forged secret, and the admin token (stars are people's, by
    /// license or publisher), is [`WorkerError::CredentialRefused`].
    pub async fn set_star(
        &self,
        worker_id: &WorkerId,
        secret: Option<&str>,
        on: bool,
    ) -> Result<StarOutcome, WorkerError> {
        let principal = match secret {
            Some(secret) => self.authenticate_secret(secret).await?,
            None => None,
        };
        let holder = match principal {
            Some(principal @ (Principal::License { .. } | Principal::Publisher { .. })) => principal.subject(),
            _ => return Err(WorkerError::CredentialRefused),
        };
        // Stars are for workers that exist (a version in the registry or a catalog branch).
        self.find_worker(worker_id).await?;
        let changed = if on {
            stars::insert(self.db.writer(), worker_id, &holder, now_millis()).await?
        } else {
            stars::delete(self.db.writer(), worker_id, &holder).await?
        };
        let stars = stars::count_of(self.db.writer(), worker_id).await?;
        Ok(StarOutcome { changed, stars })
    }

    /// How many holders starred `worker_id`.
    pub async fn star_count(&self, worker_id: &WorkerId) -> Result<u64, WorkerError> {
        Ok(stars::count_of(self.db.reader(), worker_id).await?)
    }

    /// The star count of every starred worker, by worker id.
    pub async fn star_counts(&self) -> Result<BTreeMap<String, u64>, WorkerError> {
        Ok(stars::counts(self.db.reader()).await?.into_iter().collect())
    }
}
