//! Per-worker access policy (premium or open). SKELETON: the licenses branch replaces this file.

use super::{Registry, RegistryError};
use crate::auth::policy::RepoFacts;
use crate::oci::RepoName;

impl Registry {
    pub(super) async fn policy_facts(&self, _repo: &RepoName) -> Result<RepoFacts, RegistryError> {
        Ok(RepoFacts {
            requires_license: false,
        })
    }
}
