//! The design document's metadata.json, accepted as written: before a record is checked,
//! the fields the legacy Entry needs but the design's record lacks are filled in by the rules
//! below (spec/worker-metadata.md, "Defaults and derivations"), and a `binary_size` written
//! as a size string (`"45MB"`) becomes a number of bytes. A field the document sets is never
//! changed, so today's stricter record parses exactly as before.

use serde_json::{Map, Value};

use super::WORKER_TYPES;

/// File formats a tag may name (`tags: ["gguf"]` → `supported_formats: ["gguf"]`).
pub const FORMAT_TAGS: &[&str] = &["gguf", "safetensors"];

/// Fills in the defaulted and derived fields of a metadata document (an object; anything
/// else is left for the checks to report).
pub fn fill_defaults(value: &mut Value) {
    let Some(root) = value.as_object_mut() else {
        return;
    };
    let id = root.get("id").and_then(Value::as_str).unwrap_or("").to_string();
    let tags: Vec<String> = root
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    insert(root, "implementation", || "rust".into());
    insert(root, "worker_type", || derive_worker_type(&tags, &id).into());
    insert(root, "build_system", || "cargo".into());
    insert(root, "platforms", || Value::Array(Vec::new()));
    let homepage = root.get("homepage").and_then(Value::as_str).unwrap_or("").to_string();
    insert(root, "source", || serde_json::json!({"type": "git", "url": homepage}));
    if !id.is_empty() {
        insert(root, "binary_name", || id.clone().into());
    }
    if let Some(binary) = root.get("binary_name").and_then(Value::as_str).map(str::to_string) {
        insert(root, "install_path", || format!("/usr/local/bin/{binary}").into());
    }
    insert(root, "supported_formats", || {
        let formats: Vec<Value> = FORMAT_TAGS
            .iter()
            .filter(|format| tags.iter().any(|tag| tag == *format))
            .map(|format| Value::from(*format))
            .collect();
        Value::Array(formats)
    });
    insert(root, "supports_streaming", || true.into());
    insert(root, "supports_batching", || false.into());
    if let Some(Value::Array(platforms)) = root.get_mut("platforms") {
        for platform in platforms.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::String(text)) = platform.get("binary_size") {
                if let Some(bytes) = parse_size(text) {
                    platform.insert("binary_size".into(), bytes.into());
                }
            }
        }
    }
}

fn insert(root: &mut Map<String, Value>, key: &str, value: impl FnOnce() -> Value) {
    if !root.contains_key(key) {
        root.insert(key.to_string(), value());
    }
}

/// `worker_type` when the record has none: the first tag that is a worker type, else the
/// first `-`-separated part of the id that is one, else `cpu`.
pub fn derive_worker_type(tags: &[String], id: &str) -> &'static str {
    let named = |word: &str| WORKER_TYPES.iter().find(|known| **known == word).copied();
    tags.iter()
        .find_map(|tag| named(tag))
        .or_else(|| id.split('-').find_map(named))
        .unwrap_or("cpu")
}

/// A size as the design writes it: a decimal number (fraction allowed) and an optional unit,
/// with or without a space: `B`; `KB`, `MB`, `GB`, `TB` (powers of 1000); `KiB`, `MiB`,
/// `GiB`, `TiB` (powers of 1024); case-insensitive. Rounded to the nearest byte. `None` for
/// anything else (the checks then report the field).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000_u64.pow(2),
        "gb" => 1000_u64.pow(3),
        "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u64 = whole.parse().ok()?;
    let mut bytes = whole.checked_mul(multiplier)?;
    if !fraction.is_empty() {
        // fraction × multiplier, exactly, then rounded half up.
        let digits = u32::try_from(fraction.len()).ok().filter(|d| *d <= 18)?;
        let scale = 10_u128.pow(digits);
        let part = u128::from(fraction.parse::<u64>().ok()?) * u128::from(multiplier);
        let rounded = (part + scale / 2) / scale;
        bytes = bytes.checked_add(u64::try_from(rounded).ok()?)?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_documented_rule() {
        for (text, bytes) in [
            ("45MB", Some(45_000_000)),
            ("42 MB", Some(42_000_000)),
            ("1.5GB", Some(1_500_000_000)),
            ("3KiB", Some(3072)),
            ("0.5kib", Some(512)),
            ("12", Some(12)),
            ("12B", Some(12)),
            ("1.0000005MB", Some(1_000_001)),
            ("", None),
            ("MB", None),
            ("4.MB", None),
            ("1.2.3MB", None),
            ("-1MB", None),
            ("45 parsecs", None),
            ("99999999999999999999TB", None),
        ] {
            assert_eq!(parse_size(text), bytes, "{text:?}");
        }
    }

    #[test]
    fn worker_type_comes_from_tags_then_the_id() {
        let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(derive_worker_type(&tags(&["llm", "cuda"]), "x-cpu"), "cuda");
        assert_eq!(derive_worker_type(&tags(&["llm"]), "llm-worker-rbee-metal"), "metal");
        assert_eq!(derive_worker_type(&[], "llm-worker-rbee-premium"), "cpu");
    }

    #[test]
    fn set_fields_are_never_changed() {
        let mut value = serde_json::json!({"id": "a-cuda", "worker_type": "metal", "binary_name": "b",
            "supports_streaming": false, "tags": ["gguf"]});
        fill_defaults(&mut value);
        assert_eq!(value["worker_type"], "metal");
        assert_eq!(value["install_path"], "/usr/local/bin/b");
        assert_eq!(value["supports_streaming"], false);
        assert_eq!(value["supported_formats"], serde_json::json!(["gguf"]));
        assert_eq!(value["source"], serde_json::json!({"type": "git", "url": ""}));
    }

    #[test]
    fn the_design_documents_examples_parse_as_written() {
        use super::super::WorkerMetadata;
        let cpu = WorkerMetadata::parse(include_bytes!(
            "../../../tests/fixtures/catalog/llm-worker-rbee-cpu.metadata.json"
        ))
        .unwrap();
        assert_eq!(cpu.distribution.kind, "hybrid");
        assert_eq!(cpu.platforms[0].binary_size, Some(45_000_000));
        assert_eq!((cpu.worker_type.as_str(), cpu.implementation.as_str()), ("cpu", "rust"));
        assert_eq!(cpu.binary_name, "llm-worker-rbee-cpu");
        assert_eq!(cpu.source.url, "https://github.com/veighnsche/llama-orch");
        let premium = WorkerMetadata::parse(include_bytes!(
            "../../../tests/fixtures/catalog/llm-worker-rbee-premium.metadata.json"
        ))
        .unwrap();
        assert!(premium.distribution.requires_license);
        assert!(premium.platforms.is_empty());
        assert_eq!(premium.pricing.unwrap().price_usd, 99.0);
    }
}
