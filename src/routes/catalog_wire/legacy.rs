//! The legacy shapes old clients parse strictly (LEGACY-API.md: camelCase, lowercase enums).

use serde::Serialize;

use crate::artifact::metadata::{Build, Source};
use crate::artifact::WorkerMetadata;
use crate::services::workers::Worker;

/// `GET /health`.
#[derive(Debug, Serialize)]
pub struct LegacyHealth {
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
}

/// `GET /workers`.
#[derive(Debug, Serialize)]
pub struct LegacyWorkerList {
    pub workers: Vec<LegacyEntry>,
}

/// The legacy catalog Entry (LEGACY-API.md, "Entry").
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyEntry {
    pub id: String,
    pub implementation: String,
    pub worker_type: String,
    pub version: String,
    pub platforms: Vec<String>,
    pub architectures: Vec<String>,
    pub name: String,
    pub description: String,
    pub license: String,
    pub pkgbuild_url: String,
    pub build_system: String,
    pub source: LegacySource,
    pub build: LegacyBuild,
    pub depends: Vec<String>,
    pub makedepends: Vec<String>,
    pub binary_name: String,
    pub install_path: String,
    pub supported_formats: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<u64>,
    pub supports_streaming: bool,
    pub supports_batching: bool,
}

#[derive(Debug, Serialize)]
pub struct LegacySource {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LegacyBuild {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
}

const OS_ORDER: &[&str] = &["linux", "macos", "windows"];
const ARCHITECTURE_ORDER: &[&str] = &["x86_64", "aarch64"];

fn ordered(values: impl IntoIterator<Item = String>, order: &[&str]) -> Vec<String> {
    let mut values: Vec<String> = values.into_iter().collect();
    values.sort_by_key(|value| {
        (
            order.iter().position(|known| known == value).unwrap_or(order.len()),
            value.clone(),
        )
    });
    values.dedup();
    values
}

impl LegacyEntry {
    /// The entry of a worker: its latest version's metadata, with `platforms` and
    /// `architectures` from the platforms stored for that version (a worker without stored
    /// binaries reports what its metadata declares).
    pub fn of(worker: &Worker) -> Self {
        let metadata: &WorkerMetadata = &worker.metadata;
        let stored = worker
            .latest()
            .map(|latest| latest.platforms.as_slice())
            .unwrap_or_default();
        let (oses, architectures): (Vec<String>, Vec<String>) = if stored.is_empty() {
            metadata
                .platforms
                .iter()
                .map(|p| (p.os.clone(), p.arch.clone()))
                .unzip()
        } else {
            stored
                .iter()
                .filter_map(|p| {
                    Some((
                        p.platform.legacy_os()?.to_string(),
                        p.platform.legacy_architecture()?.to_string(),
                    ))
                })
                .unzip()
        };
        LegacyEntry {
            id: worker.id.to_string(),
            implementation: metadata.implementation.clone(),
            worker_type: metadata.worker_type.clone(),
            version: worker.shown_version(),
            platforms: ordered(oses, OS_ORDER),
            architectures: ordered(architectures, ARCHITECTURE_ORDER),
            name: metadata.name.clone(),
            description: metadata.description.clone(),
            license: metadata.license.clone(),
            pkgbuild_url: format!("/workers/{}/PKGBUILD", worker.id),
            build_system: metadata.build_system.clone(),
            source: LegacySource::from(&metadata.source),
            build: LegacyBuild::from(&metadata.build),
            depends: metadata.dependencies.runtime.clone(),
            makedepends: metadata.dependencies.build.clone(),
            binary_name: metadata.binary_name.clone(),
            install_path: metadata.install_path.clone(),
            supported_formats: metadata.supported_formats.clone(),
            max_context_length: metadata.max_context_length,
            supports_streaming: metadata.supports_streaming,
            supports_batching: metadata.supports_batching,
        }
    }
}

impl From<&Source> for LegacySource {
    fn from(source: &Source) -> Self {
        LegacySource {
            kind: source.kind.clone(),
            url: source.url.clone(),
            branch: source.branch.clone(),
            tag: source.tag.clone(),
            path: source.path.clone(),
        }
    }
}

impl From<&Build> for LegacyBuild {
    fn from(build: &Build) -> Self {
        LegacyBuild {
            features: build.features.clone(),
            profile: build.profile.clone(),
            flags: build.flags.clone(),
        }
    }
}
