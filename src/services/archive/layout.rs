//! The archive's layout, pure: entry paths, the annotations of `index.json`, how an entry
//! names its repository and tag, the contents manifest, and `--since` dates
//! (spec/replication.md, "Archives").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::oci::{Digest, RepoName, Tag};

/// The tag of a manifest (image-spec, "Pre-Defined Annotation Keys").
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's full image name (`<repository>:<tag>`, no host in our archives).
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The repository, our own annotation: present on every entry of our `index.json`.
pub const REPOSITORY: &str = "dev.rbee.repository";

pub const OCI_LAYOUT: &str = "oci-layout";
pub const INDEX: &str = "index.json";
/// Our directory.
pub const RBEE_DIR: &str = "rbee";
/// Every other file of the archive with its size and SHA-256 (written last).
pub const CONTENTS: &str = "rbee/contents.json";
/// The license verification public keys, in the `license.verify_keys` file format.
pub const LICENSE_KEYS: &str = "rbee/license-keys.pub";
/// The revoked license ids.
pub const REVOCATIONS: &str = "rbee/revocations.json";
/// The bare catalog repository's files are under this prefix.
pub const CATALOG_PREFIX: &str = "rbee/catalog.git/";

/// The `oci-layout` file's content.
pub const OCI_LAYOUT_CONTENT: &[u8] = b"{\"imageLayoutVersion\":\"1.0.0\"}";

/// The path of a blob in the layout.
pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

/// The digest a `blobs/<algorithm>/<hex>` path names; `None` when the path is not under
/// `blobs/` at that depth, an error when it is but does not name a digest.
pub fn parse_blob_path(path: &str) -> Option<Result<Digest, String>> {
    let rest = path.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    if hex.contains('/') {
        return Some(Err(format!("entry {path:?}: a blob's path is blobs/<algorithm>/<hex>")));
    }
    Some(
        format!("{algorithm}:{hex}")
            .parse::<Digest>()
            .map_err(|_| format!("entry {path:?}: the name is not a digest")),
    )
}

/// An entry's path as the archive gives it, checked and normalised (`./` and empty
/// components dropped, no trailing `/`): refused when absolute, when a component is `..`,
/// when it is not UTF-8 or holds a NUL or a backslash.
pub fn normalize_entry_path(raw: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| format!("entry {:?}: the path is not UTF-8", String::from_utf8_lossy(raw)))?;
    if text.starts_with('/') {
        return Err(format!("entry {text:?}: absolute paths are refused"));
    }
    if text.contains('\0') || text.contains('\\') {
        return Err(format!("entry {text:?}: the path holds a NUL or a backslash"));
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("entry {text:?}: paths with `..` are refused")),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(format!("entry {text:?}: an empty path"));
    }
    Ok(parts.join("/"))
}

/// `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<IndexEntry>,
}

/// A descriptor of `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl IndexEntry {
    /// The entry of a manifest of `repository`, tagged `tag` or not (a referrer).
    pub fn new(media_type: &str, digest: &Digest, size: i64, repository: &RepoName, tag: Option<&str>) -> IndexEntry {
        let mut annotations = BTreeMap::new();
        annotations.insert(REPOSITORY.to_string(), repository.to_string());
        if let Some(tag) = tag {
            annotations.insert(REF_NAME.to_string(), tag.to_string());
            annotations.insert(CONTAINERD_NAME.to_string(), format!("{repository}:{tag}"));
        }
        IndexEntry {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            annotations,
        }
    }

    /// The repository and tag this entry names. The repository: our annotation, else the
    /// containerd name's, else a `ref.name` of the form `<repository>:<tag>` (what skopeo
    /// writes for `oci-archive:F:name:tag`), else `fallback` (import's `--repo`). The tag:
    /// `ref.name` when it is a tag, else the tag of either full name; none for a referrer.
    pub fn target(&self, fallback: Option<&RepoName>) -> Result<(RepoName, Option<Tag>), String> {
        let ref_name = self.annotations.get(REF_NAME).map(String::as_str);
        let full = self
            .annotations
            .get(CONTAINERD_NAME)
            .map(|name| split_image_name(name))
            .transpose()?;
        let ref_full = match ref_name {
            Some(text) if Tag::parse(text).is_err() => Some(split_image_name(text)?),
            _ => None,
        };
        let repository = match self.annotations.get(REPOSITORY) {
            Some(name) => {
                Some(RepoName::parse(name).map_err(|_| format!("{REPOSITORY} {name:?} is not a repository name"))?)
            }
            None => full
                .as_ref()
                .map(|(name, _)| name.clone())
                .or_else(|| ref_full.as_ref().map(|(name, _)| name.clone())),
        };
        let repository = match (repository, fallback) {
            (Some(name), _) => name,
            (None, Some(name)) => name.clone(),
            (None, None) => {
                return Err(format!(
                    "index.json entry {} names no repository ({REPOSITORY} or {CONTAINERD_NAME}); import it with --repo NAME",
                    self.digest
                ))
            }
        };
        let tag = match ref_name {
            Some(text) => match Tag::parse(text) {
                Ok(tag) => Some(tag),
                Err(_) => ref_full.and_then(|(_, tag)| tag),
            },
            None => full.and_then(|(_, tag)| tag),
        };
        Ok((repository, tag))
    }
}

/// `[host/]repository[:tag][@digest]` as (repository, tag). A first component with a `.` or
/// a `:`, or `localhost`, is a host and dropped (Docker's rule).
pub fn split_image_name(text: &str) -> Result<(RepoName, Option<Tag>), String> {
    let without_digest = text.split_once('@').map_or(text, |(name, _)| name);
    let (rest, tag) = match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (without_digest, None),
    };
    let rest = match rest.split_once('/') {
        Some((host, path)) if host.contains('.') || host.contains(':') || host == "localhost" => path,
        _ => rest,
    };
    let repository =
        RepoName::parse(rest).map_err(|_| format!("image name {text:?}: {rest:?} is not a repository name"))?;
    let tag = tag
        .map(|tag| Tag::parse(tag).map_err(|_| format!("image name {text:?}: {tag:?} is not a tag")))
        .transpose()?;
    Ok((repository, tag))
}

/// `rbee/contents.json`: every other file of the archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contents {
    /// 1.
    pub format: u32,
    /// When the archive was written (RFC 3339).
    pub created: String,
    /// `--since` of an incremental archive (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub files: Vec<ContentsFile>,
}

/// A file of the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContentsFile {
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// `rbee/revocations.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Revocations {
    pub revoked: Vec<String>,
}

/// A `--since` date: `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.fraction]` with `Z`, an offset
/// `±HH:MM` or none (UTC), as milliseconds since the Unix epoch.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.fff]Z)");
    let number = |s: &str| -> Result<i64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let fields: Vec<&str> = date.split('-').collect();
    let [year, month, day] = fields[..] else {
        return Err(bad());
    };
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    let month = time::Month::try_from(u8::try_from(month).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(
        i32::try_from(year).map_err(|_| bad())?,
        month,
        u8::try_from(day).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    let mut millis = date.midnight().assume_utc().unix_timestamp() * 1000;
    if let Some(time) = time {
        let (clock, offset_minutes) = if let Some(clock) = time.strip_suffix('Z') {
            (clock, 0)
        } else if let Some(at) = time.rfind(['+', '-']) {
            let (clock, offset) = time.split_at(at);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = offset[1..].split_once(':').ok_or_else(bad)?;
            let (hours, minutes) = (number(hours)?, number(minutes)?);
            if hours > 23 || minutes > 59 {
                return Err(bad());
            }
            (clock, sign * (hours * 60 + minutes))
        } else {
            (time, 0)
        };
        let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
        let parts: Vec<&str> = whole.split(':').collect();
        let [hours, minutes, seconds] = parts[..] else {
            return Err(bad());
        };
        let (hours, minutes, seconds) = (number(hours)?, number(minutes)?, number(seconds)?);
        if hours > 23 || minutes > 59 || seconds > 60 {
            return Err(bad());
        }
        let fraction_millis = if fraction.is_empty() {
            0
        } else {
            let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
            number(fraction)?;
            number(&digits)?
        };
        millis += ((hours * 60 + minutes) * 60 + seconds) * 1000 + fraction_millis - offset_minutes * 60_000;
    }
    Ok(millis)
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| millis.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_checked_and_normalised() {
        assert_eq!(normalize_entry_path(b"./blobs/sha256/ab").unwrap(), "blobs/sha256/ab");
        assert_eq!(normalize_entry_path(b"blobs/").unwrap(), "blobs");
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"blobs/../../x",
            b"a\\b",
            b"\xff",
            b"./",
            b"",
        ] {
            assert!(normalize_entry_path(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn blob_paths_name_digests() {
        let digest = Digest::sha256_of(b"x");
        assert_eq!(parse_blob_path(&blob_path(&digest)).unwrap().unwrap(), digest);
        assert!(parse_blob_path("blobs/sha256/zz").unwrap().is_err());
        assert!(parse_blob_path("index.json").is_none());
        assert!(parse_blob_path("blobs/sha256").is_none());
    }

    #[test]
    fn entries_name_their_repository_and_tag() {
        let digest = Digest::sha256_of(b"{}");
        let repo = RepoName::parse("workers/llm-worker-rbee-cpu").unwrap();
        let ours = IndexEntry::new(
            "application/vnd.oci.image.index.v1+json",
            &digest,
            2,
            &repo,
            Some("0.1.0"),
        );
        let (name, tag) = ours.target(None).unwrap();
        assert_eq!(
            (name.as_str(), tag.unwrap().as_str()),
            ("workers/llm-worker-rbee-cpu", "0.1.0")
        );
        let entry = |pairs: &[(&str, &str)]| IndexEntry {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: digest.to_string(),
            size: 2,
            annotations: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        // Only the containerd name (with a host).
        let (name, tag) = entry(&[(CONTAINERD_NAME, "registry.example:5000/team/app:1.2")])
            .target(None)
            .unwrap();
        assert_eq!((name.as_str(), tag.unwrap().as_str()), ("team/app", "1.2"));
        // Only ref.name as a tag: the repository from --repo, or an error naming the way out.
        let only_tag = entry(&[(REF_NAME, "v1")]);
        assert!(only_tag.target(None).unwrap_err().contains("--repo"));
        let fallback = RepoName::parse("imported/app").unwrap();
        let (name, tag) = only_tag.target(Some(&fallback)).unwrap();
        assert_eq!((name.as_str(), tag.unwrap().as_str()), ("imported/app", "v1"));
        // skopeo's ref.name `name:tag`.
        let (name, tag) = entry(&[(REF_NAME, "team/app:v2")]).target(None).unwrap();
        assert_eq!((name.as_str(), tag.unwrap().as_str()), ("team/app", "v2"));
        // A referrer: repository only.
        let (name, tag) = entry(&[(REPOSITORY, "team/app")]).target(None).unwrap();
        assert_eq!((name.as_str(), tag), ("team/app", None));
    }

    #[test]
    fn since_dates_parse() {
        assert_eq!(parse_since("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_since("1970-01-01T00:00:01.5Z").unwrap(), 1500);
        assert_eq!(parse_since("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(parse_since("2026-12-02T20:00:00Z").unwrap(), 1_796_241_600_000);
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-12-02T25:00:00Z",
            "2026-12-02T10:00",
            "2026-12-02T10:00:00+99999999999999999:00",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
