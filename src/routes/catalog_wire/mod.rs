//! Wire types of the JSON catalog API: the legacy shapes old clients parse strictly
//! (LEGACY-API.md: camelCase, lowercase enums) and the v1 shapes (spec/openapi.yaml), which
//! keep the design document's fields as it names and types them (`downloads` a number,
//! `stars`, `last_updated`; the metadata.json fields in worker records) and add the
//! catalog's own beside them. They are built from service values, never from database
//! rows, and pinned by snapshot tests of whole responses (tests/it/workers_legacy.rs,
//! tests/it/workers_v1.rs).
//!
//! `legacy` holds the old shapes, `v1` the new ones; both are re-exported here.

mod legacy;
mod v1;

pub use legacy::*;
pub use v1::*;

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
