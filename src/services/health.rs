//! Readiness: whether the registry's two stores answer.

use super::Registry;

/// The state of each store; an error is a short description for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub database: Result<(), String>,
    pub storage: Result<(), String>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database.is_ok() && self.storage.is_ok()
    }
}

impl Registry {
    /// Asks the database and the blob store for a trivial answer each.
    pub async fn check_ready(&self) -> Readiness {
        let (database, storage) = tokio::join!(self.db.ping(), self.store.check());
        Readiness {
            database: database.map_err(|error| error.to_string()),
            storage: storage.map_err(|error| error.to_string()),
        }
    }
}
