//! The admin token. SKELETON: the auth branch replaces this file (token created once on first
//! start, kept as a hash in the database, file `<data_dir>/admin-token` mode 0600).

use super::{Registry, RegistryError};
use crate::auth::principal::Principal;

impl Registry {
    pub(super) async fn authenticate_admin(&self, _secret: &str) -> Result<Option<Principal>, RegistryError> {
        Ok(None)
    }
}
