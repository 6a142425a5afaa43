//! rbee-registry: an OCI Distribution registry for rbee workers.
//!
//! Where things live (see ARCHITECTURE.md for the full map):
//! - [`artifact`]: the worker artifact format (media types, platforms, metadata), pure.
//! - [`auth`]: principals, scope actions and the access policy, pure.
//! - [`oci`]: pure OCI types and parsing (digests, names, paths, ranges, manifest checks).
//! - [`git`]: the Git catalog repository (gix) and its smart HTTP server.
//! - [`routes`]: the axum route table and thin handlers; errors become HTTP here only.
//! - [`services`]: the registry's rules (uploads, blobs, manifests, tags, referrers).
//! - [`db`]: every sqlx query, with migrations for SQLite and PostgreSQL.
//! - [`storage`]: the one wrapper over `object_store`.
//! - [`client`]: the Distribution client, with `publish` and `install` built on it.
//! - [`config`]: configuration assembled from flags, environment and file.
//! - [`observability`]: the Prometheus series and recorder (a leaf; the request middleware is `routes::observe`).
//! - [`web`]: the browser pages' HTML (maud templates), pure.
//! - [`server`]: wiring the above into a running server.
//!
//! Dependency direction: routes → services → db / storage / oci.

pub mod artifact;
#[cfg(feature = "server")]
pub mod auth;
pub mod client;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod db;
#[cfg(feature = "server")]
pub mod git;
#[cfg(feature = "server")]
pub mod observability;
pub mod oci;
#[cfg(feature = "server")]
pub mod routes;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod services;
#[cfg(feature = "server")]
pub mod storage;
#[cfg(feature = "server")]
pub mod web;
