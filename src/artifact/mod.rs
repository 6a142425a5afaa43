//! The rbee worker artifact format (spec/worker-artifact.md, spec/worker-metadata.md) as pure
//! code: media types, annotations, platform names, the metadata record and its validation,
//! building a worker version's manifests, and checking that stored manifests form one.
//!
//! Nothing here does I/O; the registry (`services::workers`), `client::publish` and
//! `client::install` all use these same rules, so what publish writes is what the registry
//! accepts and what install reads.

pub mod layout;
pub mod metadata;
pub mod platform;

pub use layout::{
    check_image_config, check_platform_manifest, check_worker_index, IndexEntry, PlatformManifestFacts,
    WorkerIndexFacts, WorkerLayoutError,
};
pub use metadata::{FieldError, WorkerMetadata};
pub use platform::{Platform, PlatformError};

use crate::oci::RepoName;

/// `artifactType` of a worker version's index and of each of its platform manifests.
pub const WORKER_ARTIFACT_TYPE: &str = "application/vnd.rbee.worker.v1+json";
/// Media type of the package layer: a gzip-compressed tar with `bin/<binary>`, `LICENSE`,
/// `README.md` and `metadata.json`.
pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.rbee.worker.package.v1.tar+gzip";
/// Media type of the metadata layer: the worker's `metadata.json`.
pub const METADATA_MEDIA_TYPE: &str = "application/vnd.rbee.worker.metadata.v1+json";
/// The standard OCI image config, carrying `os` and `architecture`.
pub const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// `artifactType` of a PKGBUILD attached to a version (a referrer of the version's index).
pub const PKGBUILD_ARTIFACT_TYPE: &str = "application/vnd.rbee.worker.pkgbuild.v1";
/// Media type of the PKGBUILD layer of that referrer.
pub const PKGBUILD_MEDIA_TYPE: &str = "application/vnd.rbee.worker.pkgbuild.v1+text";
/// Prefix of the repositories that hold workers: `workers/<worker-id>`.
pub const WORKER_REPOSITORY_PREFIX: &str = "workers/";
/// Largest metadata.json (and PKGBUILD) the registry reads, in bytes.
pub const MAX_SMALL_BLOB_BYTES: u64 = 1024 * 1024;

/// Annotation keys (Homebrew-bottle style: facts about a descriptor on the descriptor).
pub mod annotations {
    pub const TITLE: &str = "org.opencontainers.image.title";
    pub const VERSION: &str = "org.opencontainers.image.version";
    pub const CREATED: &str = "org.opencontainers.image.created";
    pub const DESCRIPTION: &str = "org.opencontainers.image.description";
    pub const LICENSES: &str = "org.opencontainers.image.licenses";
    pub const SOURCE: &str = "org.opencontainers.image.source";
    pub const WORKER_ID: &str = "dev.rbee.worker.id";
    pub const WORKER_PLATFORM: &str = "dev.rbee.worker.platform";
    pub const PACKAGE_DIGEST: &str = "dev.rbee.package.digest";
    pub const PACKAGE_SIZE: &str = "dev.rbee.package.size";
}

/// A worker id, checked once where it enters (a catalog route, a pushed repository's name)
/// and carried typed from there to the database: lowercase letters, digits and single `-`
/// between them, at most 128 characters, so `workers/<id>` is always a valid repository name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(String);

/// Why a text is not a worker id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid worker id")]
pub struct InvalidWorkerId(pub String);

impl WorkerId {
    pub fn parse(text: &str) -> Result<Self, InvalidWorkerId> {
        if is_valid_worker_id(text) {
            Ok(WorkerId(text.to_string()))
        } else {
            Err(InvalidWorkerId(text.to_string()))
        }
    }

    /// The worker of a repository: `Ok(None)` when it is not a worker repository
    /// (`workers/<one component>`), an error when it is one whose id is not valid.
    pub fn of_repository(name: &RepoName) -> Result<Option<Self>, InvalidWorkerId> {
        worker_id_of_repository(name.as_str()).map(Self::parse).transpose()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The repository that holds the worker: `workers/<id>`.
    pub fn repository(&self) -> RepoName {
        RepoName::parse(&worker_repository(&self.0)).expect("a worker id makes a valid repository name")
    }
}

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The repository of a worker: `workers/<worker-id>`.
pub fn worker_repository(worker_id: &str) -> String {
    format!("{WORKER_REPOSITORY_PREFIX}{worker_id}")
}

/// The worker id of a repository name, when it is a worker repository.
pub fn worker_id_of_repository(repository: &str) -> Option<&str> {
    repository
        .strip_prefix(WORKER_REPOSITORY_PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Whether `id` is a valid worker id: lowercase letters, digits and single `-` between them
/// (so `workers/<id>` is a valid repository name), at most 128 characters.
pub fn is_valid_worker_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// A version tag: a semantic version without build metadata (`+` is not allowed in OCI tags).
pub fn parse_version(text: &str) -> Option<semver::Version> {
    let version = semver::Version::parse(text).ok()?;
    version.build.is_empty().then_some(version)
}

/// The newest non-pre-release version, or the newest pre-release when there is no release.
pub fn latest_version<'a>(versions: impl IntoIterator<Item = &'a semver::Version>) -> Option<&'a semver::Version> {
    let versions: Vec<&semver::Version> = versions.into_iter().collect();
    versions
        .iter()
        .copied()
        .filter(|v| v.pre.is_empty())
        .max()
        .or_else(|| versions.iter().copied().max())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids() {
        for good in ["llm-worker-rbee-cpu", "a", "x86-64"] {
            assert!(is_valid_worker_id(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", "a/b", "a.b"] {
            assert!(!is_valid_worker_id(bad), "{bad}");
        }
        assert_eq!(worker_id_of_repository("workers/abc"), Some("abc"));
        assert_eq!(worker_id_of_repository("workers/a/b"), None);
        assert_eq!(worker_id_of_repository("other/abc"), None);
    }

    #[test]
    fn worker_id_values_are_checked_once_and_name_their_repository() {
        let id = WorkerId::parse("llm-worker-rbee-cpu").unwrap();
        assert_eq!(id.as_str(), "llm-worker-rbee-cpu");
        assert_eq!(id.repository().as_str(), "workers/llm-worker-rbee-cpu");
        for bad in ["", "A", "a--b", "a/b", &"a".repeat(129)] {
            assert_eq!(WorkerId::parse(bad), Err(InvalidWorkerId(bad.to_string())), "{bad}");
        }
        let longest = WorkerId::parse(&"a".repeat(128)).unwrap();
        assert_eq!(longest.repository().as_str().len(), 136);
        let repository = |name: &str| RepoName::parse(name).unwrap();
        assert_eq!(
            WorkerId::of_repository(&repository("workers/abc")),
            Ok(Some(WorkerId::parse("abc").unwrap()))
        );
        assert_eq!(WorkerId::of_repository(&repository("workers/a/b")), Ok(None));
        assert_eq!(WorkerId::of_repository(&repository("library/abc")), Ok(None));
        assert_eq!(
            WorkerId::of_repository(&repository("workers/a__b")),
            Err(InvalidWorkerId("a__b".into()))
        );
    }

    #[test]
    fn latest_prefers_releases() {
        let versions: Vec<semver::Version> = ["0.1.0", "0.3.0-rc.1", "0.2.0", "0.2.0-beta"]
            .iter()
            .map(|v| parse_version(v).unwrap())
            .collect();
        assert_eq!(latest_version(&versions).unwrap().to_string(), "0.2.0");
        let only_pre: Vec<semver::Version> = vec![parse_version("1.0.0-alpha").unwrap()];
        assert_eq!(latest_version(&only_pre).unwrap().to_string(), "1.0.0-alpha");
        assert!(parse_version("1.0.0+build").is_none());
        assert!(parse_version("v1.0.0").is_none());
    }
}
