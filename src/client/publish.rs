//! `rbee-registry publish`: builds a worker version's manifests (spec/worker-artifact.md)
//! and pushes them through the Distribution API to any OCI registry: per platform the image
//! config, the package (streamed from disk) and the metadata layer, each platform manifest
//! by digest, then the index under the version tag, then an optional PKGBUILD as a referrer
//! of the index.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::{ClientError, RegistryClient};
use crate::artifact::layout::{self, Blob, IndexPart, PlatformParts};
use crate::artifact::metadata::describe;
use crate::artifact::{self, FieldError, Platform, WorkerMetadata};
use crate::oci::media_types::{OCI_EMPTY_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::oci::{Digest, Reference, ResumableSha256, Tag};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Invalid(String),
    #[error("invalid metadata.json: {}", describe(.0))]
    Metadata(Vec<FieldError>),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub worker_id: String,
    pub version: String,
    pub metadata: PathBuf,
    /// One package (a `.tar.gz`) per platform.
    pub platforms: Vec<(Platform, PathBuf)>,
    pub pkgbuild: Option<PathBuf>,
}

/// What was pushed.
#[derive(Debug, Clone)]
pub struct PublishReport {
    pub repository: String,
    pub index_digest: Digest,
    /// (platform, manifest digest, package digest, package size)
    pub platforms: Vec<(Platform, Digest, Digest, u64)>,
    pub pkgbuild_digest: Option<Digest>,
}

/// Parses `linux/amd64=path.tar.gz` (either platform spelling).
pub fn parse_platform_argument(text: &str) -> Result<(Platform, PathBuf), PublishError> {
    let (platform, path) = text
        .split_once('=')
        .ok_or_else(|| PublishError::Invalid(format!("--platform {text:?}: expected PLATFORM=PATH")))?;
    let platform = Platform::parse(platform).map_err(|error| PublishError::Invalid(error.to_string()))?;
    Ok((platform, PathBuf::from(path)))
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 and size of a file, read in 256 KiB pieces.
async fn digest_file(path: &Path) -> Result<(Digest, u64), PublishError> {
    let mut file = tokio::fs::File::open(path).await.map_err(read_error(path))?;
    let mut hasher = ResumableSha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer).await.map_err(read_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let size = hasher.length();
    Ok((hasher.finish(), size))
}

/// Checks everything that can be checked before pushing; returns the metadata bytes.
async fn check_request(request: &PublishRequest) -> Result<Vec<u8>, PublishError> {
    if !artifact::is_valid_worker_id(&request.worker_id) {
        return Err(PublishError::Invalid(format!(
            "{:?} is not a worker id (lowercase letters and digits joined by single '-')",
            request.worker_id
        )));
    }
    if artifact::parse_version(&request.version).is_none() {
        return Err(PublishError::Invalid(format!(
            "{:?} is not a semantic version without build metadata",
            request.version
        )));
    }
    if request.platforms.is_empty() {
        return Err(PublishError::Invalid(
            "a worker version needs at least one --platform PLATFORM=PACKAGE".into(),
        ));
    }
    for (position, (platform, _)) in request.platforms.iter().enumerate() {
        if request.platforms[..position]
            .iter()
            .any(|(earlier, _)| earlier == platform)
        {
            return Err(PublishError::Invalid(format!("platform {platform} is given twice")));
        }
    }
    let metadata = tokio::fs::read(&request.metadata)
        .await
        .map_err(read_error(&request.metadata))?;
    WorkerMetadata::parse(&metadata)
        .and_then(|parsed| parsed.check_identity(&request.worker_id, &request.version))
        .map_err(PublishError::Metadata)?;
    for (platform, path) in &request.platforms {
        let mut magic = [0u8; 2];
        let mut file = tokio::fs::File::open(path).await.map_err(read_error(path))?;
        let read = file.read(&mut magic).await.map_err(read_error(path))?;
        if read < 2 || magic != [0x1f, 0x8b] {
            return Err(PublishError::Invalid(format!(
                "{platform}: {} is not a gzip file (a package is a .tar.gz)",
                path.display()
            )));
        }
    }
    Ok(metadata)
}

/// Pushes a worker version. Nothing is tagged unless every platform was pushed.
pub async fn publish(client: &RegistryClient, request: &PublishRequest) -> Result<PublishReport, PublishError> {
    let metadata = check_request(request).await?;
    // A semantic version (checked above) is always a valid tag.
    let version = Tag::parse(&request.version).map_err(|error| PublishError::Invalid(error.to_string()))?;
    let repository = artifact::worker_repository(&request.worker_id);
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();

    let metadata_digest = client.push_blob_bytes(&repository, &metadata).await?;
    let metadata_blob = Blob {
        media_type: artifact::METADATA_MEDIA_TYPE.into(),
        digest: metadata_digest,
        size: metadata.len() as u64,
    };
    let mut pushed = Vec::new();
    for (platform, path) in &request.platforms {
        let config = layout::image_config(platform);
        let config_blob = Blob {
            media_type: artifact::IMAGE_CONFIG_MEDIA_TYPE.into(),
            digest: client.push_blob_bytes(&repository, &config).await?,
            size: config.len() as u64,
        };
        let (package_digest, package_size) = digest_file(path).await?;
        client
            .push_blob_file(&repository, path, &package_digest, package_size)
            .await?;
        let package_blob = Blob {
            media_type: artifact::PACKAGE_MEDIA_TYPE.into(),
            digest: package_digest,
            size: package_size,
        };
        let manifest = layout::platform_manifest(&PlatformParts {
            worker_id: &request.worker_id,
            version: &request.version,
            platform,
            created: &created,
            config: &config_blob,
            package: &package_blob,
            metadata: &metadata_blob,
        });
        let manifest_digest = Digest::sha256_of(&manifest);
        client
            .put_manifest(
                &repository,
                &Reference::Digest(manifest_digest.clone()),
                OCI_MANIFEST,
                &manifest,
            )
            .await?;
        pushed.push((platform.clone(), manifest_digest, manifest.len() as u64, package_blob));
    }
    let parts: Vec<IndexPart<'_>> = pushed
        .iter()
        .map(|(platform, digest, size, package)| IndexPart {
            platform,
            manifest_digest: digest,
            manifest_size: *size,
            package,
        })
        .collect();
    let index = layout::worker_index(&request.worker_id, &request.version, &created, &parts);
    let index_digest = client
        .put_manifest(&repository, &Reference::Tag(version), OCI_INDEX, &index)
        .await?;

    let pkgbuild_digest = match &request.pkgbuild {
        None => None,
        Some(path) => {
            let text = tokio::fs::read(path).await.map_err(read_error(path))?;
            let empty_config = Blob {
                media_type: OCI_EMPTY_CONFIG.into(),
                digest: client.push_blob_bytes(&repository, layout::EMPTY_CONFIG).await?,
                size: layout::EMPTY_CONFIG.len() as u64,
            };
            let pkgbuild = Blob {
                media_type: artifact::PKGBUILD_MEDIA_TYPE.into(),
                digest: client.push_blob_bytes(&repository, &text).await?,
                size: text.len() as u64,
            };
            let subject = Blob {
                media_type: OCI_INDEX.into(),
                digest: index_digest.clone(),
                size: index.len() as u64,
            };
            let manifest = layout::pkgbuild_manifest(&subject, &empty_config, &pkgbuild, &created);
            let digest = Digest::sha256_of(&manifest);
            client
                .put_manifest(&repository, &Reference::Digest(digest.clone()), OCI_MANIFEST, &manifest)
                .await?;
            Some(digest)
        }
    };
    Ok(PublishReport {
        repository,
        index_digest,
        platforms: pushed
            .into_iter()
            .map(|(platform, manifest_digest, _, package)| (platform, manifest_digest, package.digest, package.size))
            .collect(),
        pkgbuild_digest,
    })
}
