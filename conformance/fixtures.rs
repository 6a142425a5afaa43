//! The test context (`Env`: the registry client, the namespaces, `--strict`, what to clean
//! up), the pushes every workflow uses to make its own content, and reading tag lists.

use std::cell::RefCell;

use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use crate::content::{descriptor, oci_config, oci_manifest, random_bytes, sha256_digest};
use crate::expect::{expect_status, location_of};
use crate::http::{with_query, Registry, ReqBody, Resp};
use crate::media::{OCI_CONFIG, OCI_LAYER, OCI_MANIFEST};

enum Cleanup {
    Manifest(String, String),
    Blob(String, String),
}

/// What every check sees: the registry, the namespaces, `--strict`, `-v` and the content to
/// delete at the end.
pub struct Env {
    pub reg: Registry,
    pub ns: String,
    pub cross: String,
    pub strict: bool,
    pub verbose: bool,
    cleanup: RefCell<Vec<Cleanup>>,
}

/// An image pushed for a workflow's own use.
pub struct Image {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layer: Vec<u8>,
    pub layer_digest: String,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl Env {
    pub fn new(reg: Registry, ns: String, cross: String, strict: bool, verbose: bool) -> Env {
        Env {
            reg,
            ns,
            cross,
            strict,
            verbose,
            cleanup: RefCell::new(Vec::new()),
        }
    }

    pub fn note(&self, msg: &str) {
        if self.verbose {
            eprintln!("note: {msg}");
        }
    }

    pub fn remember_blob(&self, repo: &str, digest: &str) {
        self.cleanup
            .borrow_mut()
            .push(Cleanup::Blob(repo.to_string(), digest.to_string()));
    }

    pub fn remember_manifest(&self, repo: &str, digest: &str) {
        self.cleanup
            .borrow_mut()
            .push(Cleanup::Manifest(repo.to_string(), digest.to_string()));
    }

    /// POST then PUT (the upload method every registry must support).
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<String, String> {
        let digest = sha256_digest(bytes);
        let r = self
            .reg
            .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], ReqBody::Empty)?;
        expect_status(&r, &[202])?;
        let loc = location_of(&self.reg, &r)?;
        let r = self.reg.send(
            Method::PUT,
            with_query(&loc, "digest", &digest),
            &[("Content-Type", "application/octet-stream".into())],
            ReqBody::Bytes(bytes.to_vec()),
        )?;
        expect_status(&r, &[201]).map_err(|e| format!("blob push failed: {e}"))?;
        self.remember_blob(repo, &digest);
        Ok(digest)
    }

    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String, String> {
        let digest = sha256_digest(bytes);
        let r = self.reg.put_manifest(repo, reference, media_type, bytes)?;
        expect_status(&r, &[201]).map_err(|e| format!("manifest push failed: {e}"))?;
        self.remember_manifest(repo, &digest);
        Ok(digest)
    }

    /// Pushes a config blob, one random layer and an OCI image manifest
    /// under `reference` (a tag or the manifest's digest when None).
    pub fn push_image(&self, repo: &str, tag: Option<&str>, layer_size: usize) -> Result<Image, String> {
        let layer = random_bytes(layer_size);
        let layer_digest = self.push_blob(repo, &layer)?;
        let config = oci_config(&[&layer_digest]);
        let config_digest = self.push_blob(repo, &config)?;
        let manifest = oci_manifest(
            descriptor(OCI_CONFIG, &config),
            vec![descriptor(OCI_LAYER, &layer)],
            json!({}),
        );
        let digest = sha256_digest(&manifest);
        let reference = tag.map(String::from).unwrap_or_else(|| digest.clone());
        self.push_manifest(repo, &reference, OCI_MANIFEST, &manifest)?;
        Ok(Image {
            config,
            config_digest,
            layer,
            layer_digest,
            manifest,
            digest,
        })
    }

    /// Cancels an upload session, best effort.
    pub fn cancel_upload(&self, loc: &Url) {
        match self.reg.send(Method::DELETE, loc.clone(), &[], ReqBody::Empty) {
            Ok(r) if r.status == 204 || r.status == 404 => {}
            Ok(r) => self.note(&format!("cancelling upload: {}", r.describe())),
            Err(e) => self.note(&format!("cancelling upload: {e}")),
        }
    }

    pub fn run_cleanup(&self) {
        let items = std::mem::take(&mut *self.cleanup.borrow_mut());
        let mut failed = 0;
        // Manifests first (newest first, so indexes go before their children),
        // then blobs.
        for item in items.iter().rev() {
            if let Cleanup::Manifest(repo, d) = item {
                match self.reg.delete(&format!("/v2/{repo}/manifests/{d}")) {
                    Ok(r) if r.status == 202 || r.status == 404 => {}
                    _ => failed += 1,
                }
            }
        }
        for item in items.iter().rev() {
            if let Cleanup::Blob(repo, d) = item {
                match self.reg.delete(&format!("/v2/{repo}/blobs/{d}")) {
                    Ok(r) if r.status == 202 || r.status == 404 => {}
                    _ => failed += 1,
                }
            }
        }
        if failed > 0 {
            self.note(&format!("clean-up: {failed} deletions failed"));
        }
    }
}

/// Parses an RFC 5988 `Link` header value, returning the target of rel="next".
pub fn link_next(value: &str) -> Option<String> {
    for part in value.split(',') {
        let part = part.trim();
        let (Some(start), Some(end)) = (part.find('<'), part.find('>')) else {
            continue;
        };
        if end <= start {
            continue;
        }
        let target = &part[start + 1..end];
        let params = &part[end + 1..];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if is_next {
            return Some(target.to_string());
        }
    }
    None
}

/// Fetches a tag list page. Returns (tags, Link next URL).
pub fn tags_page(reg: &Registry, path: &str) -> Result<(Resp, Vec<String>, Option<String>), String> {
    let r = reg.get(path)?;
    tags_parse(r)
}

pub fn tags_parse(r: Resp) -> Result<(Resp, Vec<String>, Option<String>), String> {
    expect_status(&r, &[200])?;
    let v = r.json().ok_or_else(|| format!("body is not JSON: {}", r.describe()))?;
    let tags = match v.get("tags") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(String::from).ok_or("non-string entry in tags"))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Null) => Vec::new(),
        _ => return Err(format!("no `tags` array in {}", r.describe())),
    };
    let next = r.all_headers("link").iter().find_map(|l| link_next(l));
    Ok((r, tags, next))
}
