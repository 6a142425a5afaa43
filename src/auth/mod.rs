//! Who may do what: principals (who presented which credential), the actions of a registry
//! scope, and the access policy that decides which actions a principal has on a repository.
//! Pure domain: no database, no HTTP. spec/auth.md is the contract.

pub mod policy;
pub mod principal;
pub mod scope;
pub mod webhook;
