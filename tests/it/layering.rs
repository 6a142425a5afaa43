//! The layering of `src/`, checked from the sources: which top-level module may name which
//! (ARCHITECTURE.md, "Layers"), and which external crates stay inside one module. A `use`
//! that would close a circle fails here, not in review.
//!
//! References are read from the code with comments and string literals removed: every
//! `crate::<module>` (also inside `use crate::{a, b}`) of a file under `src/<module>/` or
//! `src/<module>.rs` counts as `<module>` naming `<module>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of the library with the modules it may name, in an order where
/// every module comes after all it may name (so the table itself cannot hold a circle).
const LAYERS: &[(&str, &[&str])] = &[
    // Pure leaves: no I/O of their own, nothing of the crate below them.
    ("oci", &[]),
    ("observability", &[]),
    ("artifact", &["oci"]),
    ("auth", &["oci", "artifact"]),
    // The Git catalog repository and its smart HTTP server (gix), beside the other stores.
    ("git", &["oci", "artifact"]),
    // The browser pages' HTML: pure rendering of values the routes hand in.
    ("web", &["oci", "artifact", "auth"]),
    // The Distribution client (publish, install, mirror, pull-through): never the server
    // side. Services use it to reach upstream registries.
    ("client", &["oci", "artifact"]),
    // The two stores, below services; they know the OCI types, not each other.
    ("db", &["oci", "artifact", "auth"]),
    ("storage", &["oci"]),
    // The rules.
    (
        "services",
        &[
            "oci",
            "observability",
            "artifact",
            "auth",
            "db",
            "storage",
            "git",
            "client",
        ],
    ),
    // HTTP handlers and middleware: they see services, never the stores.
    (
        "routes",
        &["oci", "observability", "artifact", "auth", "git", "services", "web"],
    ),
    // The outer ring: settings assembled from flags, environment and file; each setting's
    // type is owned by the layer that uses it.
    ("config", &["oci", "auth", "storage", "client", "services", "routes"]),
    // Assembly: opens the stores, builds the services and the router, serves.
    (
        "server",
        &[
            "oci",
            "observability",
            "auth",
            "db",
            "storage",
            "git",
            "client",
            "services",
            "config",
            "routes",
        ],
    ),
];

/// References against the table that a change under way will remove, each with its reason.
/// Each must still exist (the test says when to delete it). None today.
const PENDING: &[(&str, &str)] = &[];

/// External crates named only inside one module.
const CONFINED_CRATES: &[(&str, &str)] = &[
    ("sqlx", "db"),
    ("object_store", "storage"),
    ("gix", "git"),
    ("gix_pack", "git"),
    ("gix_packetline", "git"),
    ("ring", "auth"),
    ("tokio_rustls", "server"),
];

/// rustls's module of the ring crypto provider: naming it selects rustls's TLS provider
/// (`server` serves HTTPS with it), not the `ring` crate, which stays confined to `auth`.
const RUSTLS_RING_PROVIDER: &str = "rustls::crypto::ring::";

/// Types of the stores that `routes` must not name (errors and values come through services).
const STORE_TYPES: &[&str] = &["StorageError", "StorageKey", "BlobStore", "ByteStream", "DbError"];

fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The file's code with comments and string/char literals blanked out.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars[..i].last().is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: skip to its closing quote.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `code` as a whole identifier.
fn names_identifier(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The top-level modules a piece of code names through `crate::`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the top-level names of the group.
            let mut depth = 0;
            let mut item = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        at_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 && at_start && is_ident(c) {
                    item.push(c);
                } else if !item.is_empty() {
                    found.insert(std::mem::take(&mut item));
                    at_start = false;
                } else if !c.is_whitespace() {
                    at_start = false;
                }
            }
            if !item.is_empty() {
                found.insert(item);
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The top-level module of a file under `src/`, `None` for the crate root and the binary.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        // The binary (`main.rs` and its `cli/` modules) uses the library's public API.
        "lib.rs" | "main.rs" | "cli" => None,
        _ => Some(first.trim_end_matches(".rs").to_string()),
    }
}

struct Sources {
    /// (file relative to the package, its module, its code).
    files: Vec<(String, String, String)>,
}

fn read_sources() -> Sources {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut paths = Vec::new();
    source_files(&src, &mut paths);
    paths.sort();
    let files = paths
        .iter()
        .filter_map(|path| {
            let module = module_of(&src, path)?;
            let code = code_only(&std::fs::read_to_string(path).unwrap());
            let shown = path.strip_prefix(root).unwrap().display().to_string();
            Some((shown, module, code))
        })
        .collect();
    Sources { files }
}

#[test]
fn the_layer_table_has_no_circle() {
    let mut seen = BTreeSet::new();
    for (module, allowed) in LAYERS {
        for dependency in *allowed {
            assert!(
                seen.contains(dependency),
                "{module} may name {dependency}, which the table lists later: a circle"
            );
        }
        seen.insert(*module);
    }
}

#[test]
fn modules_name_only_the_layers_below_them() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let sources = read_sources();
    assert!(sources.files.len() > 20, "the sources were not found");
    let mut violations = Vec::new();
    let mut pending_seen = BTreeSet::new();
    for (file, module, code) in &sources.files {
        let Some(may_name) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{file}: module `{module}` is not in the layer table (tests/it/layering.rs, ARCHITECTURE.md)"
            ));
            continue;
        };
        for reference in crate_references(code) {
            if reference == *module || may_name.contains(&reference.as_str()) {
                continue;
            }
            if PENDING.contains(&(module.as_str(), reference.as_str())) {
                pending_seen.insert((module.clone(), reference));
                continue;
            }
            violations.push(format!("{file}: `{module}` names `crate::{reference}`"));
        }
    }
    for (module, reference) in PENDING {
        if !pending_seen.contains(&(module.to_string(), reference.to_string())) {
            violations.push(format!(
                "`{module}` no longer names `crate::{reference}`: delete it from PENDING"
            ));
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn store_crates_stay_in_their_module_and_routes_see_no_store_types() {
    let sources = read_sources();
    let mut violations = Vec::new();
    for (file, module, code) in &sources.files {
        let code = &code.replace(RUSTLS_RING_PROVIDER, "rustls::crypto::provider::");
        for (krate, owner) in CONFINED_CRATES {
            if module != owner && names_identifier(code, krate) {
                violations.push(format!("{file}: names `{krate}`, which only `{owner}` may"));
            }
        }
        if module == "routes" {
            for store_type in STORE_TYPES {
                if names_identifier(code, store_type) {
                    violations.push(format!("{file}: names the store type `{store_type}`"));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_reader_sees_through_comments_strings_and_groups() {
    let code = code_only(
        "use crate::{oci::Digest, services::{a, b}};\n// crate::server\nlet s = \"crate::routes\";\n\
         let r = r#\"crate::db\"#; let c = '\"'; use crate::storage::X; /* crate::config */",
    );
    let found = crate_references(&code);
    let expected: BTreeSet<String> = ["oci", "services", "storage"].iter().map(|s| s.to_string()).collect();
    assert_eq!(found, expected);
    assert!(names_identifier("sqlx::query", "sqlx"));
    assert!(!names_identifier("my_sqlx::query", "sqlx"));
}
