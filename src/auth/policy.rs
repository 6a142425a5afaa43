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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::principal::RepoPattern;

    #[test]
    fn the_policy_table() {
        let publisher = |delete| Principal::Publisher {
            name: "ci".into(),
            patterns: vec![RepoPattern::parse("workers/llm-*").unwrap()],
            allow_delete: delete,
        };
        let license = Principal::License {
            license_id: "l1".into(),
            holder: "a@example.com".into(),
            workers: vec!["llm-premium".into()],
            expires_at: i64::MAX,
        };
        let pp = Actions::PULL.union(Actions::PUSH);
        let (open, premium) = (
            RepoFacts {
                requires_license: false,
            },
            RepoFacts { requires_license: true },
        );
        let on = PolicySettings { anonymous_pull: true };
        let off = PolicySettings { anonymous_pull: false };
        for (principal, repo, facts, settings, expected) in [
            (Principal::Anonymous, "workers/cpu", open, on, Actions::PULL),
            (Principal::Anonymous, "workers/cpu", open, off, Actions::NONE),
            (Principal::Anonymous, "workers/llm-premium", premium, on, Actions::NONE),
            (Principal::Admin, "workers/llm-premium", premium, off, Actions::ALL),
            (publisher(false), "workers/llm-cpu", open, on, pp),
            (publisher(true), "workers/llm-cpu", open, on, Actions::ALL),
            (publisher(false), "workers/sd-cpu", open, on, Actions::PULL),
            (publisher(false), "workers/sd-premium", premium, on, Actions::NONE),
            (publisher(false), "workers/llm-premium", premium, on, pp),
            (license.clone(), "workers/llm-premium", premium, off, Actions::PULL),
            (license.clone(), "workers/other-premium", premium, on, Actions::NONE),
            (license.clone(), "workers/cpu", open, off, Actions::PULL),
            (license, "team/llm-premium", premium, on, Actions::NONE),
        ] {
            let name = RepoName::parse(repo).unwrap();
            assert_eq!(
                permitted(&principal, &name, facts, settings),
                expected,
                "{principal:?} on {repo}"
            );
        }
        assert_eq!(worker_of(&RepoName::parse("workers/a/b").unwrap()), None);
    }
}
