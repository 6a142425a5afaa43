//! The access each `/v2` request needs: one pure table from (method, parsed path, mount
//! query) to the scopes a token must grant. The dispatcher consults it before any handler
//! runs; a method and endpoint without a row is refused (no handler runs for it).
//! spec/auth.md shows the same table (a test compares the two).

use super::scope::Actions;
use super::scopes::Access;
use crate::oci::{RepoName, V2Path};

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Required {
    /// A valid token, whatever it grants (`GET /v2/`: the ping that learns the realm).
    Authenticated,
    /// A token granting every one of these.
    Scopes(Vec<Access>),
}

impl Required {
    /// The `scope` of a challenge: the needed scopes separated by spaces.
    pub fn scope_text(&self) -> Option<String> {
        match self {
            Required::Authenticated => None,
            Required::Scopes(scopes) => Some(scopes.iter().map(Access::to_scope).collect::<Vec<_>>().join(" ")),
        }
    }

    /// Whether `granted` (a token's access) covers this need.
    pub fn covered_by(&self, granted: &[Access]) -> bool {
        match self {
            Required::Authenticated => true,
            Required::Scopes(scopes) => scopes.iter().all(|needed| covers(granted, needed)),
        }
    }
}

/// Whether `granted` holds `needed` (a repository's actions may be spread over entries).
pub fn covers(granted: &[Access], needed: &Access) -> bool {
    match needed {
        Access::Catalog => granted.contains(&Access::Catalog),
        Access::Repository { name, actions } => {
            let have = granted.iter().fold(Actions::NONE, |have, access| match access {
                Access::Repository { name: of, actions } if of == name => have.union(*actions),
                _ => have,
            });
            have.contains(*actions)
        }
    }
}

/// A cross-repository mount's parameters (`POST …/blobs/uploads/?mount=<digest>&from=<repo>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MountQuery<'a> {
    pub mount: Option<&'a str>,
    pub from: Option<&'a str>,
}

fn on(name: &RepoName, actions: Actions) -> Access {
    Access::Repository {
        name: name.clone(),
        actions,
    }
}

/// The access `method` on `path` needs, or `None` when the endpoint has no such method (the
/// request is refused without running a handler).
pub fn required(method: &str, path: &V2Path, query: MountQuery<'_>) -> Option<Required> {
    let read = matches!(method, "GET" | "HEAD");
    let scopes = |list: Vec<Access>| Some(Required::Scopes(list));
    match path {
        // end-1
        V2Path::ApiBase if read => Some(Required::Authenticated),
        V2Path::Catalog if method == "GET" => scopes(vec![Access::Catalog]),
        // end-2, end-10
        V2Path::Blob { name, .. } if read => scopes(vec![on(name, Actions::PULL)]),
        V2Path::Blob { name, .. } if method == "DELETE" => scopes(vec![on(name, Actions::DELETE)]),
        // end-4a, end-4b, end-11: a mount reads the blob from `from`.
        V2Path::Uploads { name } if method == "POST" => {
            let mut needed = vec![on(name, Actions::PUSH)];
            if query.mount.is_some() {
                if let Some(from) = query.from.and_then(|from| RepoName::parse(from).ok()) {
                    if from != *name {
                        needed.push(on(&from, Actions::PULL));
                    } else {
                        needed[0] = on(name, Actions::PUSH.union(Actions::PULL));
                    }
                }
            }
            scopes(needed)
        }
        // end-5, end-6, end-13, and cancelling a session.
        V2Path::Upload { name, .. } if matches!(method, "GET" | "PATCH" | "PUT" | "DELETE") => {
            scopes(vec![on(name, Actions::PUSH)])
        }
        // end-3, end-7, end-9
        V2Path::Manifest { name, .. } | V2Path::InvalidManifestReference { name, .. } => match method {
            "GET" | "HEAD" => scopes(vec![on(name, Actions::PULL)]),
            "PUT" => scopes(vec![on(name, Actions::PUSH)]),
            "DELETE" => scopes(vec![on(name, Actions::DELETE)]),
            _ => None,
        },
        // end-8a, end-8b
        V2Path::Tags { name } if method == "GET" => scopes(vec![on(name, Actions::PULL)]),
        // end-12a, end-12b
        V2Path::Referrers { name, .. } if method == "GET" => scopes(vec![on(name, Actions::PULL)]),
        _ => None,
    }
}

/// The table as spec/auth.md shows it: `| method | endpoint | access |` rows, one per row of
/// [`required`] (the spec's example paths), so the document can be checked against the code.
pub fn table_rows() -> Vec<(&'static str, &'static str, String)> {
    use crate::oci::parse_v2_path;
    let digest = format!("sha256:{}", "0".repeat(64));
    let examples: [(&str, String); 8] = [
        ("/v2/", String::new()),
        ("/v2/_catalog", "_catalog".into()),
        ("/v2/<name>/blobs/<digest>", format!("n/blobs/{digest}")),
        ("/v2/<name>/blobs/uploads/", "n/blobs/uploads/".into()),
        ("/v2/<name>/blobs/uploads/<id>", "n/blobs/uploads/0a".into()),
        ("/v2/<name>/manifests/<reference>", "n/manifests/latest".into()),
        ("/v2/<name>/tags/list", "n/tags/list".into()),
        ("/v2/<name>/referrers/<digest>", format!("n/referrers/{digest}")),
    ];
    let mut rows = Vec::new();
    for (shown, rest) in &examples {
        let path = parse_v2_path(rest).ok().flatten().expect("example paths parse");
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
            let Some(needed) = required(method, &path, MountQuery::default()) else {
                continue;
            };
            let text = match needed {
                Required::Authenticated => "a valid token (no scope)".to_string(),
                Required::Scopes(_) => format!(
                    "`{}`",
                    needed.scope_text().unwrap_or_default().replace(":n:", ":<name>:")
                ),
            };
            rows.push((method, *shown, text));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::parse_v2_path;

    const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

    fn path(rest: &str) -> V2Path {
        parse_v2_path(rest).unwrap().unwrap()
    }

    fn scope(method: &str, rest: &str) -> Option<String> {
        required(method, &path(rest), MountQuery::default()).map(|needed| match needed {
            Required::Authenticated => "token".into(),
            needed => needed.scope_text().unwrap(),
        })
    }

    /// Every endpoint and method: the access it needs, or no row (refused).
    #[test]
    fn the_access_table() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let blob = format!("a/b/blobs/{d}");
        let referrers = format!("a/b/referrers/{d}");
        let manifest_digest = format!("a/b/manifests/{d}");
        let cases: Vec<(&str, [Option<&str>; 7])> = vec![
            ("", [Some("token"), Some("token"), None, None, None, None, None]),
            (
                "_catalog",
                [Some("registry:catalog:*"), None, None, None, None, None, None],
            ),
            (
                &blob,
                [
                    Some("repository:a/b:pull"),
                    Some("repository:a/b:pull"),
                    None,
                    None,
                    None,
                    Some("repository:a/b:delete"),
                    None,
                ],
            ),
            (
                "a/b/blobs/uploads/",
                [None, None, Some("repository:a/b:push"), None, None, None, None],
            ),
            (
                "a/b/blobs/uploads/0f-12",
                [
                    Some("repository:a/b:push"),
                    None,
                    None,
                    Some("repository:a/b:push"),
                    Some("repository:a/b:push"),
                    Some("repository:a/b:push"),
                    None,
                ],
            ),
            (
                "a/b/manifests/v1",
                [
                    Some("repository:a/b:pull"),
                    Some("repository:a/b:pull"),
                    None,
                    Some("repository:a/b:push"),
                    None,
                    Some("repository:a/b:delete"),
                    None,
                ],
            ),
            (
                &manifest_digest,
                [
                    Some("repository:a/b:pull"),
                    Some("repository:a/b:pull"),
                    None,
                    Some("repository:a/b:push"),
                    None,
                    Some("repository:a/b:delete"),
                    None,
                ],
            ),
            (
                "a/b/manifests/.bad",
                [
                    Some("repository:a/b:pull"),
                    Some("repository:a/b:pull"),
                    None,
                    Some("repository:a/b:push"),
                    None,
                    Some("repository:a/b:delete"),
                    None,
                ],
            ),
            (
                "a/b/tags/list",
                [Some("repository:a/b:pull"), None, None, None, None, None, None],
            ),
            (
                &referrers,
                [Some("repository:a/b:pull"), None, None, None, None, None, None],
            ),
        ];
        for (rest, row) in cases {
            for (method, expected) in METHODS.iter().zip(row) {
                assert_eq!(scope(method, rest).as_deref(), expected, "{method} /v2/{rest}");
            }
        }
    }

    #[test]
    fn a_mount_also_needs_pull_on_its_source() {
        let uploads = path("a/blobs/uploads/");
        let d = format!("sha256:{}", "ab".repeat(32));
        let mount = |from| MountQuery {
            mount: Some(&d),
            from: Some(from),
        };
        let needed = required("POST", &uploads, mount("b/c")).unwrap();
        assert_eq!(needed.scope_text().unwrap(), "repository:a:push repository:b/c:pull");
        assert_eq!(
            required("POST", &uploads, mount("a")).unwrap().scope_text().unwrap(),
            "repository:a:pull,push"
        );
        // An unparsable `from` mounts nothing (the handler starts a plain upload).
        assert_eq!(
            required("POST", &uploads, mount("Bad Name"))
                .unwrap()
                .scope_text()
                .unwrap(),
            "repository:a:push"
        );
        // `from` without `mount` is no mount.
        let from_only = MountQuery {
            mount: None,
            from: Some("b"),
        };
        assert_eq!(
            required("POST", &uploads, from_only).unwrap().scope_text().unwrap(),
            "repository:a:push"
        );
    }

    #[test]
    fn coverage() {
        let a = RepoName::parse("a").unwrap();
        let b = RepoName::parse("b").unwrap();
        let granted = vec![on(&a, Actions::PULL), on(&a, Actions::PUSH), on(&b, Actions::PULL)];
        assert!(covers(&granted, &on(&a, Actions::PULL.union(Actions::PUSH))));
        assert!(!covers(&granted, &on(&b, Actions::PUSH)));
        assert!(!covers(&granted, &on(&a, Actions::DELETE)));
        assert!(!covers(&granted, &Access::Catalog));
        assert!(Required::Authenticated.covered_by(&[]));
        assert!(!Required::Scopes(vec![on(&a, Actions::PULL)]).covered_by(&[]));
    }
}

#[cfg(test)]
mod spec_table {
    /// spec/auth.md shows exactly this table (between its `access-table` markers).
    #[test]
    fn spec_auth_md_shows_the_table() {
        let mut table = String::from("| method | endpoint | access needed |\n|---|---|---|\n");
        for (method, path, access) in super::table_rows() {
            table.push_str(&format!("| `{method}` | `{path}` | {access} |\n"));
        }
        let spec = include_str!("../../spec/auth.md");
        let start = spec.find("<!-- access-table -->\n").expect("start marker") + "<!-- access-table -->\n".len();
        let end = spec.find("<!-- /access-table -->").expect("end marker");
        if std::env::var_os("RBEE_PRINT_ACCESS_TABLE").is_some() {
            println!("{table}");
        }
        assert_eq!(
            &spec[start..end],
            table,
            "spec/auth.md's access table differs from auth::access"
        );
    }
}
