//! The worker metadata record (`metadata.json`, spec/worker-metadata.md and
//! spec/worker-metadata.schema.json): a superset of the design's metadata.json and of the
//! legacy catalog Entry, so both APIs are computed from this one record.
//!
//! [`WorkerMetadata::parse`] checks a document field by field and reports every problem with
//! the path of the field (`distribution.requires_license`, `platforms[1].arch`), then
//! deserializes it. Before the checks, [`defaults::fill_defaults`] fills in what the design
//! document's record leaves out (its derivations are documented in spec/worker-metadata.md).

use std::collections::BTreeSet;

pub mod defaults;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The metadata record of one worker version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerMetadata {
    pub id: String,
    pub name: String,
    pub description: String,
    pub version: String,
    pub license: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    pub implementation: String,
    pub worker_type: String,
    pub build_system: String,
    pub distribution: Distribution,
    pub platforms: Vec<DeclaredPlatform>,
    #[serde(default)]
    pub dependencies: Dependencies,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    pub source: Source,
    #[serde(default)]
    pub build: Build,
    pub binary_name: String,
    pub install_path: String,
    pub supported_formats: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<u64>,
    pub supports_streaming: bool,
    pub supports_batching: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    #[serde(rename = "type")]
    pub kind: String,
    pub source_available: bool,
    pub binary_available: bool,
    pub requires_license: bool,
}

/// A platform the catalog declares (old names: `linux`/`macos`/`windows`, `x86_64`/`aarch64`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclaredPlatform {
    pub os: String,
    pub arch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dependencies {
    /// System libraries or drivers the worker needs (for example `cuda>=12`).
    #[serde(default)]
    pub system: Vec<String>,
    /// Runtime package dependencies (the legacy Entry's `depends`).
    #[serde(default)]
    pub runtime: Vec<String>,
    /// Build dependencies (the legacy Entry's `makedepends`).
    #[serde(default)]
    pub build: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    pub model: String,
    pub price_usd: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u64>,
    pub purchase_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Build {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
}

/// One problem in a metadata document: the field's path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem of a document, joined for messages.
pub fn describe(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

pub const IMPLEMENTATIONS: &[&str] = &["rust", "python", "cpp"];
pub const WORKER_TYPES: &[&str] = &["cpu", "cuda", "metal"];
pub const BUILD_SYSTEMS: &[&str] = &["cargo", "make", "cmake"];
/// The project's first two values, then the design document's.
pub const DISTRIBUTION_TYPES: &[&str] = &[
    "open-source",
    "premium",
    "source",
    "binary",
    "hybrid",
    "binary-only",
    "source-only",
];
pub const SOURCE_TYPES: &[&str] = &["git", "tarball"];
pub const DECLARED_OSES: &[&str] = &["linux", "macos", "windows"];
pub const DECLARED_ARCHITECTURES: &[&str] = &["x86_64", "aarch64"];
pub const PRICING_MODELS: &[&str] = &["subscription", "one-time", "free"];
pub const PRICING_INTERVALS: &[&str] = &["month", "year"];

/// The top-level fields, in the schema's order; anything else is refused.
pub const TOP_LEVEL_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "version",
    "license",
    "author",
    "homepage",
    "implementation",
    "worker_type",
    "build_system",
    "distribution",
    "platforms",
    "dependencies",
    "features",
    "tags",
    "pricing",
    "source",
    "build",
    "binary_name",
    "install_path",
    "supported_formats",
    "max_context_length",
    "supports_streaming",
    "supports_batching",
];

impl WorkerMetadata {
    /// Parses and checks a metadata.json document.
    pub fn parse(bytes: &[u8]) -> Result<Self, Vec<FieldError>> {
        let mut value: Value = serde_json::from_slice(bytes).map_err(|error| {
            vec![FieldError {
                field: "$".into(),
                message: format!("not valid JSON: {error}"),
            }]
        })?;
        defaults::fill_defaults(&mut value);
        let mut check = Checker::default();
        check.document(&value);
        if !check.errors.is_empty() {
            return Err(check.errors);
        }
        serde_json::from_value(value).map_err(|error| {
            vec![FieldError {
                field: "$".into(),
                message: error.to_string(),
            }]
        })
    }

    /// Checks that the record belongs to `worker_id` at `version`.
    pub fn check_identity(&self, worker_id: &str, version: &str) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.id != worker_id {
            errors.push(FieldError {
                field: "id".into(),
                message: format!("is {:?}, but the worker is {worker_id:?}", self.id),
            });
        }
        if self.version != version {
            errors.push(FieldError {
                field: "version".into(),
                message: format!("is {:?}, but the version is {version:?}", self.version),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn object<'v>(&mut self, value: &'v Value, field: &str) -> Option<&'v Map<String, Value>> {
        match value.as_object() {
            Some(object) => Some(object),
            None => {
                self.fail(field, "must be an object");
                None
            }
        }
    }

    fn unknown_fields(&mut self, object: &Map<String, Value>, prefix: &str, known: &[&str]) {
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                self.fail(&join(prefix, key), "is not a field of the worker metadata schema");
            }
        }
    }

    fn string(&mut self, object: &Map<String, Value>, prefix: &str, key: &str, required: bool) -> Option<String> {
        let field = join(prefix, key);
        match object.get(key) {
            None if required => {
                self.fail(&field, "is required");
                None
            }
            None => None,
            Some(Value::String(text)) if text.trim().is_empty() => {
                self.fail(&field, "must not be empty");
                None
            }
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.fail(&field, "must be a string");
                None
            }
        }
    }

    fn one_of(&mut self, object: &Map<String, Value>, prefix: &str, key: &str, allowed: &[&str], required: bool) {
        if let Some(text) = self.string(object, prefix, key, required) {
            if !allowed.contains(&text.as_str()) {
                self.fail(
                    &join(prefix, key),
                    format!("is {text:?}; must be one of {}", allowed.join(", ")),
                );
            }
        }
    }

    fn boolean(&mut self, object: &Map<String, Value>, prefix: &str, key: &str) -> Option<bool> {
        match object.get(key) {
            None => {
                self.fail(&join(prefix, key), "is required");
                None
            }
            Some(Value::Bool(flag)) => Some(*flag),
            Some(_) => {
                self.fail(&join(prefix, key), "must be true or false");
                None
            }
        }
    }

    fn unsigned(&mut self, object: &Map<String, Value>, prefix: &str, key: &str, required: bool) {
        match object.get(key) {
            None if required => self.fail(&join(prefix, key), "is required"),
            None => {}
            Some(value) if value.as_u64().is_some() => {}
            Some(_) => self.fail(&join(prefix, key), "must be a non-negative integer"),
        }
    }

    fn strings(&mut self, object: &Map<String, Value>, prefix: &str, key: &str, required: bool) {
        let field = join(prefix, key);
        match object.get(key) {
            None if required => self.fail(&field, "is required"),
            None => {}
            Some(Value::Array(items)) => {
                for (position, item) in items.iter().enumerate() {
                    if item.as_str().is_none_or(|text| text.trim().is_empty()) {
                        self.fail(&format!("{field}[{position}]"), "must be a non-empty string");
                    }
                }
            }
            Some(_) => self.fail(&field, "must be an array of strings"),
        }
    }

    fn document(&mut self, value: &Value) {
        let Some(root) = self.object(value, "$") else {
            return;
        };
        self.unknown_fields(root, "", TOP_LEVEL_FIELDS);
        if let Some(id) = self.string(root, "", "id", true) {
            if !super::is_valid_worker_id(&id) {
                self.fail(
                    "id",
                    format!("{id:?} is not a worker id (lowercase letters and digits joined by single '-')"),
                );
            }
        }
        self.string(root, "", "name", true);
        self.string(root, "", "description", true);
        if let Some(version) = self.string(root, "", "version", true) {
            if super::parse_version(&version).is_none() {
                self.fail(
                    "version",
                    format!("{version:?} is not a semantic version without build metadata"),
                );
            }
        }
        self.string(root, "", "license", true);
        self.string(root, "", "author", false);
        if let Some(homepage) = self.string(root, "", "homepage", false) {
            if url::Url::parse(&homepage).is_err() {
                self.fail("homepage", "must be an absolute URL");
            }
        }
        self.one_of(root, "", "implementation", IMPLEMENTATIONS, true);
        self.one_of(root, "", "worker_type", WORKER_TYPES, true);
        self.one_of(root, "", "build_system", BUILD_SYSTEMS, true);
        let mut requires_license = false;
        match root.get("distribution") {
            None => self.fail("distribution", "is required"),
            Some(value) => {
                if let Some(distribution) = self.object(value, "distribution") {
                    let known = ["type", "source_available", "binary_available", "requires_license"];
                    self.unknown_fields(distribution, "distribution", &known);
                    self.one_of(distribution, "distribution", "type", DISTRIBUTION_TYPES, true);
                    self.boolean(distribution, "distribution", "source_available");
                    self.boolean(distribution, "distribution", "binary_available");
                    requires_license = self
                        .boolean(distribution, "distribution", "requires_license")
                        .unwrap_or(false);
                }
            }
        }
        match root.get("platforms") {
            None => self.fail("platforms", "is required"),
            Some(Value::Array(platforms)) => {
                let mut seen = BTreeSet::new();
                for (position, platform) in platforms.iter().enumerate() {
                    let prefix = format!("platforms[{position}]");
                    let Some(platform) = self.object(platform, &prefix) else {
                        continue;
                    };
                    self.unknown_fields(platform, &prefix, &["os", "arch", "binary_size", "checksum"]);
                    self.one_of(platform, &prefix, "os", DECLARED_OSES, true);
                    self.one_of(platform, &prefix, "arch", DECLARED_ARCHITECTURES, true);
                    if platform.get("binary_size").is_some_and(Value::is_string) {
                        self.fail(
                            &join(&prefix, "binary_size"),
                            "must be a number of bytes or a size such as \"45MB\" (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
                        );
                    } else {
                        self.unsigned(platform, &prefix, "binary_size", false);
                    }
                    if let Some(checksum) = self.string(platform, &prefix, "checksum", false) {
                        if checksum.parse::<crate::oci::Digest>().is_err() {
                            self.fail(&join(&prefix, "checksum"), "must be a digest such as sha256:<64 hex>");
                        }
                    }
                    let key = (platform.get("os").cloned(), platform.get("arch").cloned());
                    if !seen.insert(format!("{key:?}")) {
                        self.fail(&prefix, "repeats an earlier platform");
                    }
                }
            }
            Some(_) => self.fail("platforms", "must be an array"),
        }
        if let Some(value) = root.get("dependencies") {
            if let Some(dependencies) = self.object(value, "dependencies") {
                self.unknown_fields(dependencies, "dependencies", &["system", "runtime", "build"]);
                for key in ["system", "runtime", "build"] {
                    self.strings(dependencies, "dependencies", key, false);
                }
            }
        }
        self.strings(root, "", "features", false);
        self.strings(root, "", "tags", false);
        match root.get("pricing") {
            None if requires_license => self.fail("pricing", "is required when distribution.requires_license is true"),
            None => {}
            Some(value) => {
                if let Some(pricing) = self.object(value, "pricing") {
                    let known = ["model", "price_usd", "interval", "trial_days", "purchase_url"];
                    self.unknown_fields(pricing, "pricing", &known);
                    self.one_of(pricing, "pricing", "model", PRICING_MODELS, true);
                    match pricing.get("price_usd") {
                        Some(price) if price.as_f64().is_some_and(|p| p >= 0.0) => {}
                        Some(_) => self.fail("pricing.price_usd", "must be a non-negative number"),
                        None => self.fail("pricing.price_usd", "is required"),
                    }
                    self.one_of(pricing, "pricing", "interval", PRICING_INTERVALS, false);
                    self.unsigned(pricing, "pricing", "trial_days", false);
                    if let Some(url) = self.string(pricing, "pricing", "purchase_url", true) {
                        if url::Url::parse(&url).is_err() {
                            self.fail("pricing.purchase_url", "must be an absolute URL");
                        }
                    }
                }
            }
        }
        match root.get("source") {
            None => self.fail("source", "is required"),
            Some(value) => {
                if let Some(source) = self.object(value, "source") {
                    self.unknown_fields(source, "source", &["type", "url", "branch", "tag", "path"]);
                    self.one_of(source, "source", "type", SOURCE_TYPES, true);
                    // Empty only when derived from a record without `homepage`.
                    match source.get("url") {
                        None => self.fail("source.url", "is required"),
                        Some(Value::String(_)) => {}
                        Some(_) => self.fail("source.url", "must be a string"),
                    }
                    for key in ["branch", "tag", "path"] {
                        self.string(source, "source", key, false);
                    }
                }
            }
        }
        if let Some(value) = root.get("build") {
            if let Some(build) = self.object(value, "build") {
                self.unknown_fields(build, "build", &["features", "profile", "flags"]);
                self.strings(build, "build", "features", false);
                self.string(build, "build", "profile", false);
                self.strings(build, "build", "flags", false);
            }
        }
        if let Some(binary) = self.string(root, "", "binary_name", true) {
            if binary.contains('/') || binary.contains('\\') || binary == "." || binary == ".." {
                self.fail("binary_name", "must be a plain file name");
            }
        }
        self.string(root, "", "install_path", true);
        self.strings(root, "", "supported_formats", true);
        self.unsigned(root, "", "max_context_length", false);
        self.boolean(root, "", "supports_streaming");
        self.boolean(root, "", "supports_batching");
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn valid() -> Value {
        serde_json::json!({
            "id": "llm-worker-rbee-cpu",
            "name": "LLM Worker (CPU)",
            "description": "Candle-based LLM inference on the CPU",
            "version": "0.1.0",
            "license": "GPL-3.0-or-later",
            "implementation": "rust",
            "worker_type": "cpu",
            "build_system": "cargo",
            "distribution": {"type": "open-source", "source_available": true, "binary_available": true, "requires_license": false},
            "platforms": [{"os": "linux", "arch": "x86_64"}],
            "source": {"type": "git", "url": "https://github.com/rbee-keeper/rbee.git", "branch": "main"},
            "binary_name": "llm-worker-rbee-cpu",
            "install_path": "/usr/local/bin/llm-worker-rbee-cpu",
            "supported_formats": ["gguf", "safetensors"],
            "supports_streaming": true,
            "supports_batching": false
        })
    }

    fn errors_of(value: &Value) -> Vec<String> {
        match WorkerMetadata::parse(value.to_string().as_bytes()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn a_valid_record_parses_and_round_trips() {
        let metadata = WorkerMetadata::parse(valid().to_string().as_bytes()).unwrap();
        assert_eq!(metadata.worker_type, "cpu");
        let again = serde_json::to_vec(&metadata).unwrap();
        assert_eq!(WorkerMetadata::parse(&again).unwrap(), metadata);
    }

    #[test]
    fn errors_name_the_field() {
        let mut bad = valid();
        bad["worker_type"] = "gpu".into();
        bad["distribution"]["requires_license"] = "yes".into();
        bad["platforms"] = serde_json::json!([{"os": "linux", "arch": "mips"}]);
        bad["workerType"] = "cpu".into();
        bad.as_object_mut().unwrap().remove("license");
        bad["platforms"][0]["binary_size"] = "45 parsecs".into();
        assert_eq!(
            errors_of(&bad),
            vec![
                "workerType",
                "license",
                "worker_type",
                "distribution.requires_license",
                "platforms[0].arch",
                "platforms[0].binary_size",
            ]
        );
        let mut premium = valid();
        premium["distribution"]["requires_license"] = true.into();
        assert_eq!(errors_of(&premium), vec!["pricing"]);
        assert_eq!(
            WorkerMetadata::parse(b"{not json").unwrap_err()[0].field,
            "$",
            "malformed JSON is reported at the root"
        );
    }
}

#[cfg(test)]
mod schema_file {
    use super::*;

    /// spec/worker-metadata.schema.json and this module describe the same record.
    #[test]
    fn the_schema_file_agrees_with_the_checks() {
        let schema: Value = serde_json::from_str(include_str!("../../spec/worker-metadata.schema.json")).unwrap();
        let properties: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = TOP_LEVEL_FIELDS.to_vec();
        let mut listed = properties.clone();
        known.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, known);
        let valid = tests::valid();
        for required in schema["required"].as_array().unwrap() {
            let field = required.as_str().unwrap();
            let mut missing = valid.clone();
            missing.as_object_mut().unwrap().remove(field);
            let errors = WorkerMetadata::parse(missing.to_string().as_bytes()).unwrap_err();
            assert_eq!(errors[0].field, field, "the schema requires {field}");
        }
        for (field, values) in [
            ("implementation", IMPLEMENTATIONS),
            ("worker_type", WORKER_TYPES),
            ("build_system", BUILD_SYSTEMS),
        ] {
            let listed: Vec<&str> = schema["properties"][field]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(listed, values, "{field}");
        }
    }
}
