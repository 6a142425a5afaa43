//! The access policy: which actions a principal has on a repository. One pure function, used
//! by the token endpoint (to intersect requested scopes), the `/v2` dispatcher (through the
//! token's `access` claim), the catalog routes and the download endpoint.

use super::principal::Principal;
use super::scope::Actions;
use crate::oci::RepoName;

/// The policy's inputs besides the principal: what is known about the repository and the
/// registry's settings.
#[derive(Debug, Clone, Copy)]
pub struct RepoFacts {
    /// The repository is a premium worker (its access policy says a license is required).
    pub requires_license: bool,
}

/// Registry-wide settings of the policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicySettings {
    /// Anonymous callers may pull open repositories.
    pub anonymous_pull: bool,
}

/// The worker id of a worker repository (`workers/<id>`), if it is one.
pub fn worker_of(repo: &RepoName) -> Option<&str> {
    repo.as_str().strip_prefix("workers/").filter(|id| !id.contains('/'))
}

/// The actions `principal` has on `repo`.
pub fn permitted(principal: &Principal, repo: &RepoName, facts: RepoFacts, settings: PolicySettings) -> Actions {
    match principal {
        Principal::Admin => Actions::ALL,
        Principal::Publisher {
            patterns, allow_delete, ..
        } => {
            if patterns.iter().any(|p| p.matches(repo)) {
                let base = Actions::PULL.union(Actions::PUSH);
                if *allow_delete {
                    base.union(Actions::DELETE)
                } else {
                    base
                }
            } else if !facts.requires_license {
                Actions::PULL
            } else {
                Actions::NONE
            }
        }
        Principal::License { workers, .. } => {
            let licensed = worker_of(repo).is_some_and(|id| workers.iter().any(|w| w == id));
            if licensed || !facts.requires_license {
                Actions::PULL
            } else {
                Actions::NONE
            }
        }
        Principal::Anonymous => {
            if settings.anonymous_pull && !facts.requires_license {
                Actions::PULL
            } else {
                Actions::NONE
            }
        }
    }
}
