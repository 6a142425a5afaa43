//! Who may do what: principals (who presented which credential), the actions of a registry
//! scope, the scope grammar, the access each `/v2` request needs, the access policy, and
//! the signed tokens that carry access. Pure domain: no database, no HTTP (keys and secrets
//! are passed in). spec/auth.md is the contract.

pub mod access;
pub mod csrf;
pub mod license_token;
pub mod policy;
pub mod principal;
pub mod scope;
pub mod scopes;
pub mod secrets;
pub mod token;
pub mod webhook;

/// Whether the registry asks for tokens (`auth.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Docker/OCI token authentication (the default).
    On,
    /// An open registry, as CNCF distribution runs by default: for a trusted network only.
    Off,
}
