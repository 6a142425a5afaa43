//! Installing one platform of a worker (`rbee-registry install`, and the library entry point
//! [`install_worker`] for rbee-hive): resolves the version's index through the OCI API, picks
//! the platform's manifest, reads the metadata layer, downloads the package with `Range`
//! resume while hashing and safely unpacking it into a staging directory in the same pass
//! ([`super::download`]), verifies its SHA-256 and only then switches to it atomically.
//!
//! Layout under the prefix:
//!
//! ```text
//! <prefix>/
//! ├── bin/<binary>                  -> ../workers/<id>/current/bin/<binary>
//! ├── workers/<id>/
//! │   ├── current                   -> <version>-<digest prefix>   (switched by one rename)
//! │   └── <version>-<digest prefix>/  bin/<binary>, LICENSE, README.md, metadata.json
//! └── .rbee/
//!     ├── downloads/<hex>.partial   an unfinished download, resumed by the next attempt
//!     └── staging-<uuid>/           an unpack in progress, removed on any failure
//! ```
//!
//! A failed install (download, checksum, refused archive entry) never touches `current`,
//! so the previous version stays installed.

use std::path::{Path, PathBuf};

use super::download::{download_and_unpack, DownloadFailed, Target};
use super::progress::Progress;
use super::unpack::UnpackError;
use super::{ClientError, RegistryClient};
use crate::artifact::{
    self, check_platform_manifest, check_worker_index, metadata::describe, Platform, WorkerMetadata,
    MAX_SMALL_BLOB_BYTES,
};
use crate::oci::media_types::{OCI_INDEX, OCI_MANIFEST};
use crate::oci::{Digest, Reference, Tag};

pub use super::download::DOWNLOAD_ATTEMPTS;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("worker {worker_id:?} has no published version")]
    NoVersion { worker_id: String },
    #[error("{0}")]
    NotAWorkerVersion(String),
    #[error("{worker_id} {version} has no package for {platform}; it has: {}", available.join(", "))]
    PlatformNotFound {
        worker_id: String,
        version: String,
        platform: String,
        available: Vec<String>,
    },
    #[error("the worker's metadata.json is invalid: {0}")]
    Metadata(String),
    #[error("the download of {digest} failed after {attempts} attempts: {reason}")]
    Download {
        digest: Digest,
        attempts: usize,
        reason: String,
    },
    #[error("checksum mismatch: expected {expected}, the download hashes to {computed}")]
    ChecksumMismatch { expected: Digest, computed: Digest },
    #[error("unsafe or broken package: {0}")]
    Unpack(#[from] UnpackError),
    #[error("the package has no bin/{0}")]
    MissingBinary(String),
    #[error("installing failed: {0}")]
    Io(#[from] std::io::Error),
    /// The registry refused the worker's content: a premium worker without a (valid) license.
    #[error("{worker_id} requires a license{}{}", purchase_url.as_ref().map(|url| format!(": buy one at {url}")).unwrap_or_default(), if *had_license { "; the license given is not valid for it" } else { ", then pass it with --license or RBEE_LICENSE_TOKEN" })]
    LicenseRequired {
        worker_id: String,
        purchase_url: Option<String>,
        had_license: bool,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    pub worker_id: String,
    /// A version; `None` installs the latest release.
    pub version: Option<String>,
    /// A platform; `None` installs the one of this machine.
    pub platform: Option<Platform>,
    pub prefix: PathBuf,
}

/// What was installed.
#[derive(Debug, Clone)]
pub struct InstallReport {
    pub worker_id: String,
    pub version: String,
    pub platform: Platform,
    pub package_digest: Digest,
    pub package_size: u64,
    /// The directory of this version.
    pub directory: PathBuf,
    /// `<prefix>/bin/<binary>`.
    pub binary: PathBuf,
    /// Bytes that were already on disk when the last download attempt started.
    pub resumed_from: u64,
    /// Download attempts made (1 when nothing was interrupted).
    pub attempts: usize,
}

/// Installs one platform of a worker version under a prefix.
pub async fn install_worker(
    client: &RegistryClient,
    request: &InstallRequest,
    progress: &mut dyn Progress,
) -> Result<InstallReport, InstallError> {
    match install(client, request, progress).await {
        Err(InstallError::Client(error)) if is_refusal(&error) => Err(InstallError::LicenseRequired {
            worker_id: request.worker_id.clone(),
            purchase_url: client.purchase_url(&request.worker_id).await,
            had_license: client.has_credentials(),
        }),
        other => other,
    }
}

/// Whether the registry refused access (`401`/`403`, or no token with the scope).
fn is_refusal(error: &ClientError) -> bool {
    match error {
        ClientError::Status { status, .. } => {
            matches!(status.as_u16(), 401 | 403)
        }
        ClientError::Token { .. } => true,
        _ => false,
    }
}

async fn install(
    client: &RegistryClient,
    request: &InstallRequest,
    progress: &mut dyn Progress,
) -> Result<InstallReport, InstallError> {
    let repository = artifact::worker_repository(&request.worker_id);
    let (version, index) = resolve_version(client, &repository, request).await?;
    let wanted = request.platform.clone().unwrap_or_else(Platform::host);
    let entry = index
        .entries
        .iter()
        .find(|entry| entry.platform.satisfies(&wanted))
        .ok_or_else(|| InstallError::PlatformNotFound {
            worker_id: request.worker_id.clone(),
            version: version.clone(),
            platform: wanted.to_string(),
            available: index.entries.iter().map(|e| e.platform.to_string()).collect(),
        })?;
    let manifest = client
        .get_manifest(&repository, &Reference::Digest(entry.digest.clone()), &[OCI_MANIFEST])
        .await?;
    let facts = check_platform_manifest(&entry.platform, &manifest.content)
        .map_err(|error| InstallError::NotAWorkerVersion(error.to_string()))?;
    let metadata_bytes = client
        .get_small_blob(&repository, &facts.metadata.digest, MAX_SMALL_BLOB_BYTES)
        .await?;
    let metadata = WorkerMetadata::parse(&metadata_bytes)
        .and_then(|m| m.check_identity(&request.worker_id, &version).map(|()| m))
        .map_err(|errors| InstallError::Metadata(describe(&errors)))?;

    let state = request.prefix.join(".rbee");
    let downloads = state.join("downloads");
    tokio::fs::create_dir_all(&downloads).await?;
    let digest = &facts.package.digest;
    let hex = digest.hex();
    let partial = downloads.join(format!("{hex}.partial"));
    let label = format!("{} {version} ({})", request.worker_id, entry.platform);
    let staging = state.join(format!("staging-{}", uuid::Uuid::new_v4().simple()));
    let target = Target {
        repository: &repository,
        digest,
        size: facts.package.size,
        partial: &partial,
        staging: &staging,
        label: &label,
    };
    let fetched = match download_and_unpack(client, &target, progress).await {
        Ok(fetched) => fetched,
        Err(DownloadFailed(reason)) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            return Err(InstallError::Download {
                digest: digest.clone(),
                attempts: DOWNLOAD_ATTEMPTS,
                reason,
            });
        }
    };
    let (attempts, resumed_from) = (fetched.attempts, fetched.resumed_from);
    progress.note(&format!("verified {digest}"));
    // Nothing unpacked leaves the staging directory before the digest matches.
    if &fetched.digest != digest {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(InstallError::ChecksumMismatch {
            expected: digest.clone(),
            computed: fetched.digest,
        });
    }
    if let Err(error) = fetched.unpacked {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        return Err(error.into());
    }
    let binary_in_package = staging.join("bin").join(&metadata.binary_name);
    match tokio::fs::symlink_metadata(&binary_in_package).await {
        Ok(meta) if meta.is_file() => {}
        _ => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            return Err(InstallError::MissingBinary(metadata.binary_name.clone()));
        }
    }
    make_executable(&binary_in_package).await?;

    let worker_directory = request.prefix.join("workers").join(&request.worker_id);
    tokio::fs::create_dir_all(&worker_directory).await?;
    let version_directory_name = format!("{version}-{}", &hex[..hex.len().min(12)]);
    let version_directory = worker_directory.join(&version_directory_name);
    if tokio::fs::symlink_metadata(&version_directory).await.is_ok() {
        // The same package was installed before; the fresh unpack replaces it.
        let old = state.join(format!("replaced-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::rename(&version_directory, &old).await?;
        tokio::fs::rename(&staging, &version_directory).await?;
        let _ = tokio::fs::remove_dir_all(&old).await;
    } else {
        tokio::fs::rename(&staging, &version_directory).await?;
    }
    // The switch: one rename of a link over `current`.
    replace_link(&worker_directory.join("current"), Path::new(&version_directory_name)).await?;
    let bin = request.prefix.join("bin");
    tokio::fs::create_dir_all(&bin).await?;
    let binary = bin.join(&metadata.binary_name);
    let link_target = Path::new("..")
        .join("workers")
        .join(&request.worker_id)
        .join("current")
        .join("bin")
        .join(&metadata.binary_name);
    replace_link(&binary, &link_target).await?;
    let _ = tokio::fs::remove_file(&partial).await;
    progress.note(&format!("installed {label} at {}", binary.display()));
    Ok(InstallReport {
        worker_id: request.worker_id.clone(),
        version,
        platform: entry.platform.clone(),
        package_digest: digest.clone(),
        package_size: facts.package.size,
        directory: version_directory,
        binary,
        resumed_from,
        attempts,
    })
}

/// The version to install and its checked index: the requested tag, or the highest release
/// tag (the highest pre-release when there is no release) that is a worker index.
async fn resolve_version(
    client: &RegistryClient,
    repository: &str,
    request: &InstallRequest,
) -> Result<(String, artifact::WorkerIndexFacts), InstallError> {
    let candidates: Vec<String> = match &request.version {
        Some(version) => vec![version.clone()],
        None => {
            let mut versions: Vec<semver::Version> = client
                .list_tags(repository)
                .await?
                .iter()
                .filter_map(|tag| artifact::parse_version(tag))
                .collect();
            versions.sort_by(|a, b| (a.pre.is_empty(), a).cmp(&(b.pre.is_empty(), b)).reverse());
            versions.iter().map(ToString::to_string).collect()
        }
    };
    let mut last_problem = None;
    for version in candidates {
        let reference = match Tag::parse(&version) {
            Ok(tag) => Reference::Tag(tag),
            Err(error) if request.version.is_some() => return Err(InstallError::NotAWorkerVersion(error.to_string())),
            Err(error) => {
                last_problem = Some(error.to_string());
                continue;
            }
        };
        let fetched = client.get_manifest(repository, &reference, &[OCI_INDEX]).await;
        let index = match fetched {
            Ok(index) => index,
            Err(error) if request.version.is_some() => return Err(error.into()),
            Err(error) => {
                last_problem = Some(error.to_string());
                continue;
            }
        };
        match check_worker_index(&index.content) {
            Ok(facts) => return Ok((version, facts)),
            Err(error) => last_problem = Some(format!("{repository}:{version}: {error}")),
        }
    }
    match last_problem {
        Some(problem) => Err(InstallError::NotAWorkerVersion(problem)),
        None => Err(InstallError::NoVersion {
            worker_id: request.worker_id.clone(),
        }),
    }
}

async fn make_executable(path: &Path) -> Result<(), std::io::Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = tokio::fs::metadata(path).await?.permissions().mode();
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o111)).await?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Points the link `at` to `target`, replacing any previous link in one rename.
async fn replace_link(at: &Path, target: &Path) -> Result<(), std::io::Error> {
    let staging = at.with_file_name(format!(
        ".{}.{}",
        at.file_name().and_then(|n| n.to_str()).unwrap_or("link"),
        uuid::Uuid::new_v4().simple()
    ));
    #[cfg(unix)]
    tokio::fs::symlink(target, &staging).await?;
    #[cfg(not(unix))]
    return Err(std::io::Error::other(format!(
        "installing needs symbolic links ({} -> {})",
        staging.display(),
        target.display()
    )));
    #[cfg(unix)]
    tokio::fs::rename(&staging, at).await
}
