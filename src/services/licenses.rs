//! License tokens. SKELETON: the licenses branch replaces this file.

use super::{Registry, RegistryError};
use crate::auth::principal::Principal;

impl Registry {
    pub(super) async fn authenticate_license(&self, _secret: &str) -> Result<Option<Principal>, RegistryError> {
        Ok(None)
    }
}
