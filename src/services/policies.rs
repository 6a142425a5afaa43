//! The per-worker access policy: whether a worker needs a license, as data of its own
//! (`worker_policies`), set by an admin (`rbee-registry worker set-policy`) or by the catalog
//! sync from `metadata.json` (`Registry::set_worker_policy`), never by what a publisher
//! pushes. A worker without a policy is open. `policy_facts` answers the access policy's
//! question for a repository; `authorize_download` applies the policy to the v1 download
//! endpoint.

use super::workers::WorkerError;
use super::{Registry, RegistryError};
use crate::artifact::WorkerId;
use crate::auth::access::covers;
use crate::auth::policy::{permitted, worker_of, PolicySettings, RepoFacts};
use crate::auth::principal::Principal;
use crate::auth::scope::Actions;
use crate::auth::scopes::Access;
use crate::db::{now_millis, policies};
use crate::oci::RepoName;

/// Who set a worker's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// An administrator, through the CLI.
    Admin,
    /// The catalog sync, from the worker's `metadata.json` (`distribution.requires_license`).
    Catalog,
}

impl PolicySource {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Admin => "admin",
            PolicySource::Catalog => "catalog",
        }
    }
}

/// A worker's policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPolicy {
    pub worker_id: String,
    pub requires_license: bool,
    /// `admin` or `catalog`.
    pub source: String,
    /// Milliseconds since the epoch.
    pub updated_at: i64,
}

impl Registry {
    /// Sets whether `worker_id` needs a license. Takes effect at once for every process
    /// sharing the database (the policy is read on each check); set it before the worker's
    /// first push so that its content is never readable without a license.
    pub async fn set_worker_policy(
        &self,
        worker_id: &WorkerId,
        requires_license: bool,
        source: PolicySource,
    ) -> Result<(), RegistryError> {
        policies::upsert(
            self.db.writer(),
            worker_id,
            requires_license,
            source.as_str(),
            now_millis(),
        )
        .await?;
        tracing::info!(worker = %worker_id, requires_license, source = source.as_str(), "worker policy set");
        Ok(())
    }

    /// The stored policy of `worker_id`, if one was set.
    pub async fn worker_policy(&self, worker_id: &WorkerId) -> Result<Option<WorkerPolicy>, RegistryError> {
        Ok(policies::find(self.db.reader(), worker_id.as_str())
            .await?
            .map(|row| WorkerPolicy {
                worker_id: row.worker_id,
                requires_license: row.requires_license,
                source: row.source,
                updated_at: row.updated_at,
            }))
    }

    /// What the access policy needs to know about `repo`: a worker repository (`workers/<id>`)
    /// is premium when its stored policy says so; anything else is not.
    pub(super) async fn policy_facts(&self, repo: &RepoName) -> Result<RepoFacts, RegistryError> {
        let requires_license = match worker_of(repo) {
            Some(worker_id) => policies::find(self.db.reader(), worker_id)
                .await?
                .is_some_and(|row| row.requires_license),
            None => false,
        };
        Ok(RepoFacts { requires_license })
    }

    /// Whether the holder of `credential` (a license or publisher token, or none) may download
    /// `version` of `worker_id`: always for an open worker; for a premium one only with a
    /// credential the access policy grants `pull` on it. Otherwise the answer carries where
    /// to buy a license (the merged record's `pricing.purchase_url`).
    pub async fn authorize_download(&self, worker_id: &WorkerId, credential: Option<&str>) -> Result<(), WorkerError> {
        let repository = worker_id.repository();
        let facts = self.policy_facts(&repository).await?;
        let settings = PolicySettings {
            anonymous_pull: self.token_settings().anonymous_pull,
        };
        if permitted(&Principal::Anonymous, &repository, facts, settings).contains(Actions::PULL) {
            return Ok(());
        }
        if let Some(credential) = credential {
            if credential.starts_with("rbee_") {
                // A license, publisher or admin secret, as the design's `Bearer rbee_lic_…`.
                if let Some(principal) = self.authenticate_secret(credential).await? {
                    if permitted(&principal, &repository, facts, settings).contains(Actions::PULL) {
                        return Ok(());
                    }
                }
            } else if let Ok(token) = self.verify_token(credential).await {
                // A registry token from `/token` granting pull on the worker's repository.
                let needed = Access::Repository {
                    name: repository.clone(),
                    actions: Actions::PULL,
                };
                if covers(&token.access, &needed) {
                    return Ok(());
                }
            }
        }
        // The catalog is the truth for pricing (spec/catalog.md): the merged record's.
        let worker = self.find_worker(worker_id).await?;
        let metadata = &worker.metadata;
        Err(WorkerError::LicenseRequired {
            worker_id: worker_id.to_string(),
            licensed: credential.is_some(),
            purchase_url: metadata.pricing.as_ref().map(|pricing| pricing.purchase_url.clone()),
        })
    }
}
