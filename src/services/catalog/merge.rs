//! Which source is the truth (spec/catalog.md, "Truth rules"), as one pure function.
//!
//! The Git catalog owns what describes a worker to people: `name`, `description`, `license`,
//! `author`, `homepage`, `features`, `tags`, `pricing`, `distribution.type`,
//! `distribution.source_available` and `distribution.requires_license` (and, outside the
//! record, README and PKGBUILD). The registry's artifacts own what describes the binaries:
//! the version, the platforms with their sizes and checksums, and every field of the record
//! that the published package was built with (`implementation`, `worker_type`,
//! `build_system`, `source`, `build`, `dependencies`, `binary_name`, `install_path`,
//! `supported_formats`, `max_context_length`, `supports_streaming`, `supports_batching`).
//! `distribution.binary_available` is whether the registry holds a version.

use crate::artifact::WorkerMetadata;

/// Where a worker's record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A catalog branch and no version in the registry (a source-only worker).
    CatalogOnly,
    /// Versions in the registry and no catalog branch.
    RegistryOnly,
    /// Both.
    Both,
}

/// The worker's record from its catalog branch's metadata and its latest registry version's
/// metadata; `None` when it has neither.
pub fn merge_metadata(
    catalog: Option<&WorkerMetadata>,
    registry: Option<&WorkerMetadata>,
) -> Option<(WorkerMetadata, Origin)> {
    match (catalog, registry) {
        (None, None) => None,
        (None, Some(registry)) => Some((registry.clone(), Origin::RegistryOnly)),
        (Some(catalog), None) => {
            let mut merged = catalog.clone();
            merged.distribution.binary_available = false;
            Some((merged, Origin::CatalogOnly))
        }
        (Some(catalog), Some(registry)) => {
            let mut merged = registry.clone();
            merged.name = catalog.name.clone();
            merged.description = catalog.description.clone();
            merged.license = catalog.license.clone();
            merged.author = catalog.author.clone();
            merged.homepage = catalog.homepage.clone();
            merged.features = catalog.features.clone();
            merged.tags = catalog.tags.clone();
            merged.pricing = catalog.pricing.clone();
            merged.distribution.kind = catalog.distribution.kind.clone();
            merged.distribution.source_available = catalog.distribution.source_available;
            merged.distribution.requires_license = catalog.distribution.requires_license;
            merged.distribution.binary_available = true;
            Some((merged, Origin::Both))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, words: &str, requires_license: bool) -> WorkerMetadata {
        let mut value = serde_json::json!({
            "id": id, "name": format!("{words} name"), "description": format!("{words} description"),
            "version": if words == "registry" { "2.0.0" } else { "1.0.0" },
            "license": format!("{words}-license"), "homepage": format!("https://{words}.example/"),
            "distribution": {"type": if words == "registry" { "binary" } else { "hybrid" },
                "source_available": words == "catalog", "binary_available": true, "requires_license": requires_license},
            "platforms": [{"os": "linux", "arch": if words == "registry" { "aarch64" } else { "x86_64" }}],
            "features": [format!("{words} feature")], "tags": [words],
            "binary_name": format!("{words}-bin"), "worker_type": if words == "registry" { "cuda" } else { "cpu" },
            "supported_formats": [format!("{words}-format")]
        });
        if requires_license {
            value["pricing"] = serde_json::json!({"model": "subscription", "price_usd": 9, "purchase_url": format!("https://{words}.example/buy")});
        }
        WorkerMetadata::parse(value.to_string().as_bytes()).unwrap()
    }

    /// One row per field: which side's value the merged record of a worker in both has.
    #[test]
    fn each_field_comes_from_its_source_of_truth() {
        let catalog = record("w", "catalog", true);
        let registry = record("w", "registry", false);
        let (merged, origin) = merge_metadata(Some(&catalog), Some(&registry)).unwrap();
        assert_eq!(origin, Origin::Both);
        type Field = fn(&WorkerMetadata) -> String;
        let table: &[(&str, Field, &str)] = &[
            ("name", |m| m.name.clone(), "catalog"),
            ("description", |m| m.description.clone(), "catalog"),
            ("license", |m| m.license.clone(), "catalog"),
            ("homepage", |m| format!("{:?}", m.homepage), "catalog"),
            ("features", |m| format!("{:?}", m.features), "catalog"),
            ("tags", |m| format!("{:?}", m.tags), "catalog"),
            ("pricing", |m| format!("{:?}", m.pricing), "catalog"),
            ("distribution.type", |m| m.distribution.kind.clone(), "catalog"),
            (
                "distribution.source_available",
                |m| m.distribution.source_available.to_string(),
                "catalog",
            ),
            (
                "distribution.requires_license",
                |m| m.distribution.requires_license.to_string(),
                "catalog",
            ),
            ("version", |m| m.version.clone(), "registry"),
            ("platforms", |m| format!("{:?}", m.platforms), "registry"),
            ("worker_type", |m| m.worker_type.clone(), "registry"),
            ("binary_name", |m| m.binary_name.clone(), "registry"),
            (
                "supported_formats",
                |m| format!("{:?}", m.supported_formats),
                "registry",
            ),
        ];
        for (field, read, side) in table {
            let expected = if *side == "catalog" {
                read(&catalog)
            } else {
                read(&registry)
            };
            assert_eq!(read(&merged), expected, "{field} comes from the {side}");
        }
        assert!(merged.distribution.binary_available);
    }

    #[test]
    fn one_sided_workers() {
        let catalog = record("w", "catalog", false);
        let (merged, origin) = merge_metadata(Some(&catalog), None).unwrap();
        assert_eq!(origin, Origin::CatalogOnly);
        assert!(!merged.distribution.binary_available, "no version in the registry");
        assert_eq!(merged.platforms, catalog.platforms, "declared platforms are kept");
        let registry = record("w", "registry", false);
        assert_eq!(
            merge_metadata(None, Some(&registry)),
            Some((registry.clone(), Origin::RegistryOnly))
        );
        assert_eq!(merge_metadata(None, None), None);
    }
}
