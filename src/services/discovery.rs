//! Content discovery: tag lists, the repository catalog and the referrers API.

use std::collections::BTreeMap;

use super::{Registry, RegistryError};
use crate::db::{manifests, repositories, tags};
use crate::oci::{Digest, RepoName};

/// Page size when the client does not ask for one.
pub const DEFAULT_PAGE_SIZE: u64 = 10_000;

/// One page of a sorted listing; `next_last` is set when more entries follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<String>,
    pub next_last: Option<String>,
}

/// A manifest that refers to another through its `subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: u64,
    pub annotations: Option<BTreeMap<String, String>>,
}

fn page_of(mut entries: Vec<String>, limit: u64) -> Page {
    let more = entries.len() as u64 > limit;
    entries.truncate(limit as usize);
    let next_last = if more { entries.last().cloned() } else { None };
    Page { entries, next_last }
}

impl Registry {
    /// Tags of a repository in byte order (`GET /v2/<name>/tags/list?n=&last=`).
    pub async fn list_tags(&self, name: &RepoName, n: Option<u64>, last: Option<&str>) -> Result<Page, RegistryError> {
        let Some(repository_id) = repositories::find(self.db.reader(), name).await? else {
            return Err(RegistryError::NameUnknown(name.to_string()));
        };
        let limit = n.unwrap_or(DEFAULT_PAGE_SIZE).min(DEFAULT_PAGE_SIZE);
        if limit == 0 {
            return Ok(Page {
                entries: Vec::new(),
                next_last: None,
            });
        }
        let entries = tags::list(&self.db, repository_id, last, limit as i64 + 1).await?;
        Ok(page_of(entries, limit))
    }

    /// Repository names in byte order (`GET /v2/_catalog?n=&last=`).
    pub async fn list_repositories(&self, n: Option<u64>, last: Option<&str>) -> Result<Page, RegistryError> {
        let limit = n.unwrap_or(DEFAULT_PAGE_SIZE).min(DEFAULT_PAGE_SIZE);
        if limit == 0 {
            return Ok(Page {
                entries: Vec::new(),
                next_last: None,
            });
        }
        let entries = repositories::list(self.db.reader(), last, limit as i64 + 1).await?;
        Ok(page_of(entries, limit))
    }

    /// Manifests whose `subject` is `digest`, optionally only those of one artifact type
    /// (`GET /v2/<name>/referrers/<digest>?artifactType=`).
    pub async fn list_referrers(
        &self,
        name: &RepoName,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let rows = manifests::referrers(self.db.reader(), name, digest, artifact_type).await?;
        Ok(rows
            .into_iter()
            .map(|row| Referrer {
                digest: row.digest,
                media_type: row.media_type,
                artifact_type: row.artifact_type,
                size: row.size as u64,
                annotations: row.annotations.and_then(|text| serde_json::from_str(&text).ok()),
            })
            .collect())
    }
}
