//! The scope grammar of Docker token authentication: `type:name:actions`, as clients send it
//! in `scope=` parameters and as a token's `access` claim carries it.
//!
//! A repository name contains `/` and never `:`, so a scope is split from both ends: the
//! type is everything before the first `:`, the actions everything after the last `:`, the
//! name what is between. `scope=` may be repeated and each value may hold several scopes
//! separated by spaces. Only `repository:<name>:<actions>` (actions `pull`, `push`,
//! `delete`, `*` for all three) and `registry:catalog:*` mean anything here; other types,
//! unknown actions and malformed scopes are left out (a token never grants them), which is
//! how the token spec asks a server to treat what it does not know.

use serde::{Deserialize, Serialize};

use super::scope::{Action, Actions};
use crate::oci::RepoName;

/// One piece of access: actions on a repository, or the repository catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Repository {
        name: RepoName,
        actions: Actions,
    },
    /// `registry:catalog:*`: list repositories (filtered to what the caller may pull).
    Catalog,
}

impl Access {
    /// `repository:<name>:pull,push` or `registry:catalog:*`.
    pub fn to_scope(&self) -> String {
        match self {
            Access::Repository { name, actions } => {
                let actions: Vec<&str> = actions.iter().map(Action::as_str).collect();
                format!("repository:{name}:{}", actions.join(","))
            }
            Access::Catalog => "registry:catalog:*".into(),
        }
    }

    /// The claim entry of this access.
    pub fn to_entry(&self) -> AccessEntry {
        match self {
            Access::Repository { name, actions } => AccessEntry {
                kind: "repository".into(),
                name: name.to_string(),
                actions: actions.iter().map(|action| action.as_str().to_string()).collect(),
            },
            Access::Catalog => AccessEntry {
                kind: "registry".into(),
                name: "catalog".into(),
                actions: vec!["*".into()],
            },
        }
    }
}

/// One entry of a token's `access` claim, as the token spec spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl AccessEntry {
    /// What this entry grants, if it is one this registry knows.
    pub fn to_access(&self) -> Option<Access> {
        access_of(&self.kind, &self.name, self.actions.iter().map(String::as_str))
    }
}

fn access_of<'a>(kind: &str, name: &str, actions: impl Iterator<Item = &'a str>) -> Option<Access> {
    // `repository(plugin):name:pull`: a resource class in parentheses is allowed and ignored.
    let kind = kind.split_once('(').map_or(kind, |(kind, _)| kind);
    match kind {
        "repository" => {
            let name = RepoName::parse(name).ok()?;
            let actions = actions.fold(Actions::NONE, |set, action| match action {
                "*" => set.union(Actions::ALL),
                other => Action::parse(other).map_or(set, |action| set.union(Actions::of(action))),
            });
            (!actions.is_empty()).then_some(Access::Repository { name, actions })
        }
        "registry" if name == "catalog" => {
            let mut actions = actions;
            actions.any(|action| action == "*").then_some(Access::Catalog)
        }
        _ => None,
    }
}

/// Parses one scope (`repository:a/b:pull,push`); `None` for what this registry does not know.
pub fn parse_scope(text: &str) -> Option<Access> {
    let (kind, rest) = text.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    access_of(kind, name, actions.split(','))
}

/// The scopes of every `scope=` value (each may hold several, separated by spaces), merged:
/// one entry per repository with the union of its actions, in first-seen order.
pub fn parse_scopes<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Access> {
    let mut merged: Vec<Access> = Vec::new();
    for access in values
        .into_iter()
        .flat_map(|value| value.split(' '))
        .filter(|scope| !scope.is_empty())
        .filter_map(parse_scope)
    {
        merge(&mut merged, access);
    }
    merged
}

/// Adds `access` to `set`, joining actions on a repository already present.
pub fn merge(set: &mut Vec<Access>, access: Access) {
    match access {
        Access::Catalog => {
            if !set.contains(&Access::Catalog) {
                set.push(Access::Catalog);
            }
        }
        Access::Repository { name, actions } => {
            for existing in set.iter_mut() {
                if let Access::Repository {
                    name: present,
                    actions: have,
                } = existing
                {
                    if *present == name {
                        *have = have.union(actions);
                        return;
                    }
                }
            }
            set.push(Access::Repository { name, actions });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str, actions: Actions) -> Access {
        Access::Repository {
            name: RepoName::parse(name).unwrap(),
            actions,
        }
    }

    #[test]
    fn scopes_parse_from_both_ends() {
        let pp = Actions::PULL.union(Actions::PUSH);
        for (text, expected) in [
            ("repository:a:pull", Some(repo("a", Actions::PULL))),
            (
                "repository:workers/llm-worker:pull,push",
                Some(repo("workers/llm-worker", pp)),
            ),
            ("repository:a/b/c:*", Some(repo("a/b/c", Actions::ALL))),
            ("repository:a:pull,frobnicate", Some(repo("a", Actions::PULL))),
            ("repository(plugin):a:pull", Some(repo("a", Actions::PULL))),
            ("repository:a:frobnicate", None),
            ("repository:a", None),
            ("repository::pull", None),
            ("repository:Upper:pull", None),
            ("repository:host:5000/a:pull", None),
            ("registry:catalog:*", Some(Access::Catalog)),
            ("registry:catalog:pull", None),
            ("registry:other:*", None),
            ("other:a:pull", None),
            ("", None),
        ] {
            assert_eq!(parse_scope(text), expected, "{text:?}");
        }
    }

    #[test]
    fn repeated_and_space_separated_scopes_merge() {
        let scopes = parse_scopes([
            "repository:a:pull repository:b:push",
            "repository:a:push",
            "registry:catalog:* registry:catalog:*",
            "  ",
        ]);
        assert_eq!(
            scopes,
            vec![
                repo("a", Actions::PULL.union(Actions::PUSH)),
                repo("b", Actions::PUSH),
                Access::Catalog
            ]
        );
    }

    #[test]
    fn entries_round_trip() {
        for access in [repo("a/b", Actions::ALL), repo("x", Actions::PULL), Access::Catalog] {
            assert_eq!(access.to_entry().to_access(), Some(access.clone()));
            assert_eq!(parse_scope(&access.to_scope()), Some(access));
        }
        assert_eq!(repo("a/b", Actions::ALL).to_scope(), "repository:a/b:pull,push,delete");
    }
}
