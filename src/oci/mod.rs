//! Pure OCI types and parsing: digests, names, references, `/v2/` paths, byte ranges and
//! manifest checks. Nothing here does I/O; everything here fails only on parse.

pub mod digest;
pub mod hasher;
pub mod manifest;
pub mod media_types;
pub mod name;
#[cfg(test)]
mod properties;
pub mod range;
pub mod route;

pub use digest::{Digest, DigestAlgorithm};
pub use hasher::ResumableSha256;
pub use manifest::{inspect_manifest, ManifestFacts};
pub use name::{RepoName, Tag};
pub use range::{parse_content_range, resolve_range, ByteRange, RangeRequest};
pub use route::{parse_v2_path, Endpoint, Reference, V2Path};

/// Why a piece of client input is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid digest {0:?}")]
    Digest(String),
    #[error("invalid repository name {0:?}")]
    Name(String),
    #[error("invalid tag {0:?}")]
    Tag(String),
    #[error("invalid upload id {0:?}")]
    UploadId(String),
    #[error("invalid Content-Range {0:?}")]
    ContentRange(String),
    #[error("invalid manifest: {0}")]
    Manifest(String),
}
