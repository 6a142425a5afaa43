//! The content management workflow: deleting tags, manifests and blobs, and what answers
//! afterwards.

use serde_json::json;

use crate::content::{descriptor, oci_manifest, sha256_digest, short_id, unknown_digest};
use crate::expect::{expect_error, expect_spec_error_format_if_json, expect_status};
use crate::fixtures::{tags_page, Env, Image};
use crate::http::Registry;
use crate::media::{ART_OTHER, OCI_EMPTY, OCI_MANIFEST};
use crate::runner::{need, Report, V11};

pub fn run(env: &Env, rep: &mut Report) {
    let wf = "management";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let id = short_id();
    let tag_a = format!("mgmt-{id}-a");
    let tag_b = format!("mgmt-{id}-b");
    let tag_c = format!("mgmt-{id}-c");

    let mut img: Option<Image> = None;
    check!(rep, wf, "setup: push an image manifest under 2 tags", {
        let i = env.push_image(ns, Some(&tag_a), 1200)?;
        env.push_manifest(ns, &tag_b, OCI_MANIFEST, &i.manifest)?;
        img = Some(i);
        Ok(())
    });
    let img = &img;

    let mut tag_only: Option<Image> = None;
    let mut tag_deleted = false;
    check!(rep, wf, "DELETE of a tag returns 202 and the tag then 404s, the manifest staying (400/405 = tag deletion disabled, allowed without --strict)", {
        let i = env.push_image(ns, Some(&tag_c), 800)?;
        let r = reg.delete(&format!("/v2/{ns}/manifests/{tag_c}"))?;
        tag_only = Some(i);
        if (r.status == 400 || r.status == 405) && !env.strict {
            env.note(&format!("tag deletion disabled ({})", r.status));
            return Ok(());
        }
        expect_status(&r, &[202])?;
        tag_deleted = true;
        let g = reg.get_manifest(ns, &tag_c)?;
        expect_status(&g, &[404]).map_err(|e| format!("deleted tag still resolves: {e}"))?;
        let d = &tag_only.as_ref().unwrap().digest;
        let g = reg.get_manifest(ns, d)?;
        expect_status(&g, &[200]).map_err(|e| format!("manifest gone with its tag: {e}"))
    });

    check!(rep, wf, "a deleted tag is no longer in the tag list", {
        need(&tag_only, "tag delete")?;
        if !tag_deleted {
            ensure!(!env.strict, "tag deletion disabled");
            let (_, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list"))?;
            ensure!(
                tags.contains(&tag_c),
                "tag deletion reported as disabled, but the tag vanished"
            );
            return Ok(());
        }
        let (_, tags, _) = tags_page(reg, &format!("/v2/{ns}/tags/list"))?;
        ensure!(!tags.contains(&tag_c), "{tag_c} still listed");
        Ok(())
    });

    let mut manifest_deleted = false;
    check!(rep, wf, "DELETE manifest by digest returns 202", {
        let i = need(img, "setup")?;
        let r = reg.delete(&format!("/v2/{ns}/manifests/{}", i.digest))?;
        expect_status(&r, &[202])?;
        manifest_deleted = true;
        Ok(())
    });

    check!(
        rep,
        wf,
        "after deleting a manifest, GET by digest returns 404 MANIFEST_UNKNOWN",
        {
            ensure!(manifest_deleted, "not run: prerequisite failed (manifest delete)");
            let i = need(img, "setup")?;
            let r = reg.get_manifest(ns, &i.digest)?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "after deleting a manifest, every tag that pointed to it returns 404",
        {
            ensure!(manifest_deleted, "not run: prerequisite failed (manifest delete)");
            for t in [&tag_a, &tag_b] {
                let r = reg.get_manifest(ns, t)?;
                expect_status(&r, &[404]).map_err(|e| format!("tag {t}: {e}"))?;
            }
            Ok(())
        }
    );

    check!(rep, wf, "DELETE of an already deleted manifest returns 404", {
        ensure!(manifest_deleted, "not run: prerequisite failed (manifest delete)");
        let i = need(img, "setup")?;
        let r = reg.delete(&format!("/v2/{ns}/manifests/{}", i.digest))?;
        expect_status(&r, &[404])?;
        expect_spec_error_format_if_json(&r)
    });

    let mut blob_deleted = false;
    check!(rep, wf, "DELETE blob returns 202", {
        let i = need(img, "setup")?;
        let r = reg.delete(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
        expect_status(&r, &[202])?;
        blob_deleted = true;
        Ok(())
    });

    check!(
        rep,
        wf,
        "after deleting a blob, GET returns 404 BLOB_UNKNOWN and HEAD returns 404",
        {
            ensure!(blob_deleted, "not run: prerequisite failed (blob delete)");
            let i = need(img, "setup")?;
            let r = reg.get(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_error(&r, &[404], &["BLOB_UNKNOWN"])?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{}", i.layer_digest))?;
            expect_status(&r, &[404]).map_err(|e| format!("HEAD: {e}"))
        }
    );

    check!(rep, wf, "DELETE of an unknown blob returns 404 BLOB_UNKNOWN", {
        let r = reg.delete(&format!("/v2/{ns}/blobs/{}", unknown_digest()))?;
        expect_error(&r, &[404], &["BLOB_UNKNOWN"])
    });

    check!(
        rep,
        wf,
        "DELETE of an unknown manifest digest returns 404 MANIFEST_UNKNOWN",
        {
            let r = reg.delete(&format!("/v2/{ns}/manifests/{}", unknown_digest()))?;
            expect_error(&r, &[404], &["MANIFEST_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "DELETE of a manifest in a repository that does not exist returns 404",
        {
            let r = reg.delete(&format!(
                "/v2/{ns}-missing-{}/manifests/{}",
                short_id(),
                unknown_digest()
            ))?;
            expect_status(&r, &[404])?;
            expect_spec_error_format_if_json(&r)
        }
    );

    // Deleting a referrer drops it from the referrers list (v1.1).
    check!(
        rep,
        wf,
        &format!("{V11} deleting a referrer removes it from the referrers list of its subject"),
        {
            let subject = env.push_image(ns, None, 700)?;
            env.push_blob(ns, b"{}")?;
            let mut empty = descriptor(OCI_EMPTY, b"{}");
            empty["data"] = json!("e30=");
            let mut digests = Vec::new();
            for kind in ["keep", "drop"] {
                let bytes = oci_manifest(
                    empty.clone(),
                    vec![empty.clone()],
                    json!({
                        "artifactType": ART_OTHER,
                        "subject": descriptor(OCI_MANIFEST, &subject.manifest),
                        "annotations": {"rbee.conformance.kind": kind},
                    }),
                );
                digests.push(env.push_manifest(ns, &sha256_digest(&bytes), OCI_MANIFEST, &bytes)?);
            }
            let list = |reg: &Registry| -> Result<Vec<String>, String> {
                let r = reg.get(&format!("/v2/{ns}/referrers/{}", subject.digest))?;
                expect_status(&r, &[200])?;
                let v = r.json().ok_or("body is not JSON")?;
                let mut got: Vec<String> = v["manifests"]
                    .as_array()
                    .ok_or("no `manifests` array")?
                    .iter()
                    .filter_map(|d| d["digest"].as_str().map(String::from))
                    .collect();
                got.sort();
                Ok(got)
            };
            let mut both = digests.clone();
            both.sort();
            let before = list(reg)?;
            ensure!(before == both, "before delete: listed {before:?}, expected {both:?}");
            let r = reg.delete(&format!("/v2/{ns}/manifests/{}", digests[1]))?;
            expect_status(&r, &[202])?;
            let after = list(reg)?;
            ensure!(
                after == vec![digests[0].clone()],
                "after delete: listed {after:?}, expected [{}]",
                digests[0]
            );
            Ok(())
        }
    );
}
