//! Media types of the content the harness pushes and the `Accept` header of its pulls.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Artifact types used by the referrers checks.
pub const ART_SBOM: &str = "application/vnd.rbee.conformance.sbom.v1+json";
pub const ART_SIG_CONFIG: &str = "application/vnd.rbee.conformance.signature.config.v1+json";
pub const ART_OTHER: &str = "application/vnd.rbee.conformance.other.v1+json";

/// Every manifest media type we push, for the `Accept` header of pulls.
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";
