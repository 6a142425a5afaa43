//! Test content: digests, random bytes and names, and the JSON of configs, descriptors and
//! OCI image manifests. Pure functions, no HTTP.

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::media::OCI_MANIFEST;

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// xorshift64* seeded from a v4 UUID: plenty for test content.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = uuid::Uuid::new_v4().as_u128();
        Rng(((seed >> 64) as u64 ^ seed as u64) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut rng = Rng::new();
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Short random lowercase hex string for tags and names.
pub fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// A manifest reference that is neither a tag (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`: it may
/// not start with a dot) nor a digest; the official OCI conformance suite reads it.
pub const INVALID_REFERENCE: &str = ".INVALID_MANIFEST_NAME";

/// A sha256 digest that (with overwhelming probability) no registry holds.
pub fn unknown_digest() -> String {
    sha256_digest(&random_bytes(64))
}

pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": sha256_digest(bytes),
        "size": bytes.len(),
    })
}

pub fn oci_config(layer_digests: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "rbee.conformance.nonce": uuid::Uuid::new_v4().to_string() } },
        "rootfs": { "type": "layers", "diff_ids": layer_digests },
    }))
    .unwrap()
}

/// An OCI image manifest. `extra` fields (artifactType, subject, annotations)
/// are merged in.
pub fn oci_manifest(config: Value, layers: Vec<Value>, extra: Value) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("schemaVersion".into(), json!(2));
    m.insert("mediaType".into(), json!(OCI_MANIFEST));
    m.insert("config".into(), config);
    m.insert("layers".into(), Value::Array(layers));
    if let Value::Object(e) = extra {
        for (k, v) in e {
            m.insert(k, v);
        }
    }
    serde_json::to_vec(&Value::Object(m)).unwrap()
}
