//! The pull workflow: blobs and manifests read back by digest and by tag, ranges, and the
//! answers for what does not exist or cannot be named.

use reqwest::Method;

use crate::content::{sha256_digest, short_id, unknown_digest, INVALID_REFERENCE};
use crate::expect::{
    expect_body_eq, expect_content_type, expect_error, expect_header_eq, expect_spec_error_format_if_json,
    expect_status,
};
use crate::fixtures::{Env, Image};
use crate::http::{ReqBody, Resp};
use crate::media::OCI_MANIFEST;
use crate::runner::{need, Report};

pub fn run(env: &Env, rep: &mut Report) {
    let wf = "pull";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let tag = format!("pull-{}", short_id());
    let mut img: Option<Image> = None;

    check!(
        rep,
        wf,
        "setup: push a config blob, a layer blob and a tagged OCI image manifest",
        {
            img = Some(env.push_image(ns, Some(&tag), 64 * 1024 + 123)?);
            Ok(())
        }
    );
    let img = &img;

    check!(rep, wf, "HEAD existing blob returns 200", {
        let i = need(img, "setup")?;
        let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
        expect_status(&r, &[200])
    });

    check!(
        rep,
        wf,
        "HEAD existing blob has Content-Length equal to the blob size",
        {
            let i = need(img, "setup")?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[200])?;
            let len = r.content_length().ok_or("Content-Length header missing")?;
            ensure!(
                len == i.layer.len() as u64,
                "Content-Length {len}, expected {}",
                i.layer.len()
            );
            ensure!(
                r.body.is_empty(),
                "HEAD response carried a body of {} bytes",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "HEAD existing blob has Docker-Content-Digest equal to the digest",
        {
            let i = need(img, "setup")?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[200])?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.layer_digest)
        }
    );

    check!(
        rep,
        wf,
        "GET existing blob returns 200 and a body whose sha256 equals the digest",
        {
            let i = need(img, "setup")?;
            let r = reg.get(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[200])?;
            ensure!(
                sha256_digest(&r.body) == i.layer_digest,
                "body digest {} != requested {}",
                sha256_digest(&r.body),
                i.layer_digest
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "GET existing blob has Content-Length and Docker-Content-Digest matching the blob",
        {
            let i = need(img, "setup")?;
            let r = reg.get(&format!("/v2/{ns}/blobs/{}", i.config_digest))?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &i.config)?;
            let len = r.content_length().ok_or("Content-Length header missing")?;
            ensure!(
                len == i.config.len() as u64,
                "Content-Length {len}, expected {}",
                i.config.len()
            );
            expect_header_eq(&r, "Docker-Content-Digest", &i.config_digest)
        }
    );

    check!(
        rep,
        wf,
        "GET blob with Range bytes=100-1123 returns 206, Content-Range and exactly those bytes",
        {
            let i = need(img, "setup")?;
            let r = reg.req(
                Method::GET,
                &format!("/v2/{ns}/blobs/{}", i.layer_digest),
                &[("Range", "bytes=100-1123".into())],
                ReqBody::Empty,
            )?;
            expect_status(&r, &[206])?;
            let want_cr = format!("bytes 100-1123/{}", i.layer.len());
            expect_header_eq(&r, "Content-Range", &want_cr)?;
            ensure!(
                r.body == i.layer[100..1124],
                "got {} bytes that are not bytes 100..=1123 of the blob",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "GET blob with an open-ended Range bytes=<n>- returns 206 and the tail of the blob",
        {
            let i = need(img, "setup")?;
            let start = i.layer.len() - 77;
            let r = reg.req(
                Method::GET,
                &format!("/v2/{ns}/blobs/{}", i.layer_digest),
                &[("Range", format!("bytes={start}-"))],
                ReqBody::Empty,
            )?;
            expect_status(&r, &[206])?;
            let want_cr = format!("bytes {start}-{}/{}", i.layer.len() - 1, i.layer.len());
            expect_header_eq(&r, "Content-Range", &want_cr)?;
            ensure!(
                r.body == i.layer[start..],
                "got {} bytes that are not the last 77 bytes",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(rep, wf, "HEAD unknown blob returns 404", {
        let r = reg.head(&format!("/v2/{ns}/blobs/{}", unknown_digest()))?;
        expect_status(&r, &[404])
    });

    check!(rep, wf, "GET unknown blob returns 404 with error code BLOB_UNKNOWN", {
        let r = reg.get(&format!("/v2/{ns}/blobs/{}", unknown_digest()))?;
        expect_error(&r, &[404], &["BLOB_UNKNOWN"])
    });

    check!(
        rep,
        wf,
        "GET manifest by tag returns 200, the pushed bytes and Content-Type of the OCI image manifest",
        {
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &tag)?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &i.manifest)?;
            expect_content_type(&r, OCI_MANIFEST)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest by tag has Docker-Content-Digest equal to the manifest digest",
        {
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &tag)?;
            expect_status(&r, &[200])?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.digest)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest by digest returns 200, bytes whose sha256 equals the digest, and the OCI Content-Type",
        {
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &i.digest)?;
            expect_status(&r, &[200])?;
            ensure!(
                sha256_digest(&r.body) == i.digest,
                "body digest {} != requested {}",
                sha256_digest(&r.body),
                i.digest
            );
            expect_content_type(&r, OCI_MANIFEST)?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.digest)
        }
    );

    check!(
        rep,
        wf,
        "HEAD manifest by tag returns 200 with Docker-Content-Digest and Content-Length of the manifest",
        {
            let i = need(img, "setup")?;
            let r = reg.head_manifest(ns, &tag)?;
            expect_status(&r, &[200])?;
            expect_header_eq(&r, "Docker-Content-Digest", &i.digest)?;
            let len = r.content_length().ok_or("Content-Length header missing")?;
            ensure!(
                len == i.manifest.len() as u64,
                "Content-Length {len}, expected {}",
                i.manifest.len()
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "HEAD manifest by digest returns 200 with the OCI Content-Type and no body",
        {
            let i = need(img, "setup")?;
            let r = reg.head_manifest(ns, &i.digest)?;
            expect_status(&r, &[200])?;
            expect_content_type(&r, OCI_MANIFEST)?;
            ensure!(
                r.body.is_empty(),
                "HEAD response carried a body of {} bytes",
                r.body.len()
            );
            Ok(())
        }
    );

    check!(rep, wf, "HEAD manifest of an unknown tag returns 404", {
        let r = reg.head_manifest(ns, &format!("missing-{}", short_id()))?;
        expect_status(&r, &[404])
    });

    check!(
        rep,
        wf,
        "GET manifest of an unknown tag returns 404 with error code MANIFEST_UNKNOWN",
        {
            let r = reg.get_manifest(ns, &format!("missing-{}", short_id()))?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(rep, wf, "HEAD manifest of an unknown digest returns 404", {
        let r = reg.head_manifest(ns, &unknown_digest())?;
        expect_status(&r, &[404])
    });

    check!(
        rep,
        wf,
        "GET manifest of an unknown digest returns 404 with error code MANIFEST_UNKNOWN",
        {
            let r = reg.get_manifest(ns, &unknown_digest())?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "GET manifest in a repository that does not exist returns 404 (NAME_UNKNOWN or MANIFEST_UNKNOWN)",
        {
            let repo = format!("{ns}-missing-{}", short_id());
            let r = reg.get_manifest(&repo, "latest")?;
            expect_error(&r, &[404], &["NAME_UNKNOWN", "MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "GET an existing blob through a repository that does not hold it returns 404",
        {
            let i = need(img, "setup")?;
            let repo = format!("{ns}-missing-{}", short_id());
            let r = reg.get(&format!("/v2/{repo}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[404])?;
            expect_spec_error_format_if_json(&r)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest with an invalid repository name (uppercase) returns 400 or 404 with spec error codes",
        {
            let r = reg.get_manifest(&format!("Conformance/INVALID-{}", short_id()), "latest")?;
            expect_status(&r, &[400, 404])?;
            expect_spec_error_format_if_json(&r)
        }
    );

    check!(
        rep,
        wf,
        "GET manifest with a malformed reference (sha256:totallywrong) returns 400 or 404 with spec error codes",
        {
            let r = reg.get_manifest(ns, "sha256:totallywrong")?;
            expect_status(&r, &[400, 404]).map_err(|e| {
            if r.status >= 500 {
                format!("{e} (a server error for an invalid reference; CNCF distribution 2.8 is known to answer 500 here)")
            } else {
                e
            }
        })?;
            expect_spec_error_format_if_json(&r)
        }
    );

    // "<reference> MUST be either (a) the digest of the manifest or (b) a tag": a reference
    // that is neither names no manifest, and a manifest not found is a 404 (the official
    // conformance suite reads exactly this).
    check!(
        rep,
        wf,
        &format!("GET manifest with a reference that is neither a tag nor a digest ({INVALID_REFERENCE}) returns 404 with error code MANIFEST_UNKNOWN"),
        {
            let r = reg.get_manifest(ns, INVALID_REFERENCE)?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"]).map_err(|e| invalid_reference_hint(e, &r))
        }
    );

    check!(
        rep,
        wf,
        &format!("HEAD manifest with a reference that is neither a tag nor a digest ({INVALID_REFERENCE}) returns 404"),
        {
            let r = reg.head_manifest(ns, INVALID_REFERENCE)?;
            expect_status(&r, &[404]).map_err(|e| invalid_reference_hint(e, &r))
        }
    );
}

/// Explains a 400 for a reference that names nothing: reads answer 404 as for any manifest
/// that does not exist; only a PUT refuses the reference.
fn invalid_reference_hint(e: String, r: &Resp) -> String {
    if r.status == 400 {
        format!("{e} (refused as invalid; a read of a reference that names no manifest is a 404 in the spec and the official conformance suite)")
    } else {
        e
    }
}
