//! Push, manifests: image manifests by tag and by digest stored byte for byte, indexes and
//! Docker types, and the manifests a registry refuses.

use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use crate::content::{
    descriptor, oci_config, oci_manifest, random_bytes, sha256_digest, short_id, unknown_digest, INVALID_REFERENCE,
};
use crate::expect::{
    expect_body_eq, expect_content_type, expect_error, expect_header_eq, expect_spec_error_format_if_json,
    expect_status, location_of,
};
use crate::fixtures::{Env, Image};
use crate::http::ReqBody;
use crate::media::{
    ACCEPT_ALL, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER,
    OCI_MANIFEST,
};
use crate::runner::{need, Report};

pub fn run(env: &Env, rep: &mut Report) {
    let wf = "push";
    let reg = &env.reg;
    let ns = env.ns.as_str();

    let mut img: Option<Image> = None;
    check!(rep, wf, "setup: push config and layer blobs for the manifest checks", {
        let layer = random_bytes(5000);
        let layer_digest = env.push_blob(ns, &layer)?;
        let config = oci_config(&[&layer_digest]);
        let config_digest = env.push_blob(ns, &config)?;
        img = Some(Image {
            config,
            config_digest,
            layer,
            layer_digest,
            manifest: Vec::new(),
            digest: String::new(),
        });
        Ok(())
    });
    let img = &img;

    // A manifest written with unusual whitespace, so that a registry which
    // re-serialises it would be caught.
    let mut oci_m: Option<(Vec<u8>, Url)> = None;
    let oci_tag = format!("push-{}-oci", short_id());
    check!(
        rep,
        wf,
        "PUT OCI image manifest by tag returns 201 with Location and Docker-Content-Digest",
        {
            let i = need(img, "setup")?;
            let v: Value = serde_json::from_slice(&oci_manifest(
                descriptor(OCI_CONFIG, &i.config),
                vec![descriptor(OCI_LAYER, &i.layer)],
                json!({"annotations": {"rbee.conformance": "push"}}),
            ))
            .unwrap();
            let bytes = format!("{}\n", serde_json::to_string_pretty(&v).unwrap().replace("  ", "   ")).into_bytes();
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &oci_tag, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            let loc = location_of(reg, &r)?;
            oci_m = Some((bytes, loc));
            expect_header_eq(&r, "Docker-Content-Digest", &digest)
        }
    );

    check!(
        rep,
        wf,
        "the manifest Location is pullable and the manifest is stored byte-for-byte (whitespace kept)",
        {
            let (bytes, loc) = need(&oci_m, "manifest PUT")?;
            let r = reg.get_manifest(ns, &oci_tag)?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, bytes)?;
            let g = reg.send(
                Method::GET,
                loc.clone(),
                &[("Accept", ACCEPT_ALL.into())],
                ReqBody::Empty,
            )?;
            expect_status(&g, &[200]).map_err(|e| format!("GET Location: {e}"))?;
            expect_body_eq(&g, bytes)
        }
    );

    check!(
        rep,
        wf,
        "PUT manifest by digest returns 201 with Docker-Content-Digest equal to that digest",
        {
            let i = need(img, "setup")?;
            let bytes = oci_manifest(
                descriptor(OCI_CONFIG, &i.config),
                vec![descriptor(OCI_LAYER, &i.layer)],
                json!({"annotations": {"rbee.conformance.by": "digest"}}),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            location_of(reg, &r)?;
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            let g = reg.get_manifest(ns, &digest)?;
            expect_status(&g, &[200])?;
            expect_body_eq(&g, &bytes)
        }
    );

    check!(rep, wf, "PUT manifest by a digest that does not match the body is rejected with 400 (DIGEST_INVALID or MANIFEST_INVALID)", {
        let i = need(img, "setup")?;
        let bytes = oci_manifest(
            descriptor(OCI_CONFIG, &i.config),
            vec![descriptor(OCI_LAYER, &i.layer)],
            json!({"annotations": {"rbee.conformance.by": "wrong-digest"}}),
        );
        let wrong = unknown_digest();
        let r = reg.put_manifest(ns, &wrong, OCI_MANIFEST, &bytes)?;
        if r.status == 201 {
            env.remember_manifest(ns, &wrong);
            env.remember_manifest(ns, &sha256_digest(&bytes));
        }
        expect_error(&r, &[400], &["DIGEST_INVALID", "MANIFEST_INVALID"])
    });

    check!(
        rep,
        wf,
        "PUT OCI image manifest with an empty layers list returns 201",
        {
            let i = need(img, "setup")?;
            let bytes = oci_manifest(descriptor(OCI_CONFIG, &i.config), vec![], json!({}));
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &format!("push-{}-nolayers", short_id()), OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            Ok(())
        }
    );

    let mut index_children: Option<Vec<(Vec<u8>, String)>> = None;
    check!(
        rep,
        wf,
        "setup: push two platform image manifests by digest for the index",
        {
            let i = need(img, "setup")?;
            let mut v = Vec::new();
            for arch in ["amd64", "arm64"] {
                let bytes = oci_manifest(
                    descriptor(OCI_CONFIG, &i.config),
                    vec![descriptor(OCI_LAYER, &i.layer)],
                    json!({"annotations": {"rbee.conformance.arch": arch}}),
                );
                let d = env.push_manifest(ns, &sha256_digest(&bytes), OCI_MANIFEST, &bytes)?;
                v.push((bytes, d));
            }
            index_children = Some(v);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "PUT OCI image index returns 201; GET returns it with Content-Type application/vnd.oci.image.index.v1+json",
        {
            let children = need(&index_children, "index children")?;
            let manifests: Vec<Value> = children
                .iter()
                .zip(["amd64", "arm64"])
                .map(|((b, _), arch)| {
                    let mut d = descriptor(OCI_MANIFEST, b);
                    d["platform"] = json!({"architecture": arch, "os": "linux"});
                    d
                })
                .collect();
            let bytes = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": manifests,
            }))
            .unwrap();
            let digest = sha256_digest(&bytes);
            let tag = format!("push-{}-index", short_id());
            let r = reg.put_manifest(ns, &tag, OCI_INDEX, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            location_of(reg, &r)?;
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            let g = reg.get_manifest(ns, &tag)?;
            expect_status(&g, &[200])?;
            expect_content_type(&g, OCI_INDEX)?;
            expect_body_eq(&g, &bytes)
        }
    );

    let mut docker_m: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        "PUT Docker schema2 manifest returns 201; GET returns it with the Docker schema2 Content-Type",
        {
            let layer = random_bytes(3333);
            let layer_digest = env.push_blob(ns, &layer)?;
            let config = serde_json::to_vec(&json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"rbee.conformance.nonce": uuid::Uuid::new_v4().to_string()}},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }))
            .unwrap();
            env.push_blob(ns, &config)?;
            let bytes = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": descriptor(DOCKER_CONFIG, &config),
                "layers": [descriptor(DOCKER_LAYER, &layer)],
            }))
            .unwrap();
            let digest = sha256_digest(&bytes);
            let tag = format!("push-{}-docker", short_id());
            let r = reg.put_manifest(ns, &tag, DOCKER_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            docker_m = Some((bytes.clone(), digest));
            let g = reg.get_manifest(ns, &tag)?;
            expect_status(&g, &[200])?;
            expect_content_type(&g, DOCKER_MANIFEST)?;
            expect_body_eq(&g, &bytes)
        }
    );

    check!(
        rep,
        wf,
        "PUT Docker manifest list returns 201; GET returns it with the Docker manifest list Content-Type",
        {
            let (child, _) = need(&docker_m, "Docker schema2 manifest")?;
            let mut d = descriptor(DOCKER_MANIFEST, child);
            d["platform"] = json!({"architecture": "amd64", "os": "linux"});
            let bytes = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": DOCKER_LIST,
                "manifests": [d],
            }))
            .unwrap();
            let digest = sha256_digest(&bytes);
            let tag = format!("push-{}-dockerlist", short_id());
            let r = reg.put_manifest(ns, &tag, DOCKER_LIST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            expect_header_eq(&r, "Docker-Content-Digest", &digest)?;
            let g = reg.get_manifest(ns, &tag)?;
            expect_status(&g, &[200])?;
            expect_content_type(&g, DOCKER_LIST)?;
            expect_body_eq(&g, &bytes)
        }
    );

    check!(rep, wf, "PUT manifest referencing an unknown blob is rejected with 400 MANIFEST_BLOB_UNKNOWN (accepting is spec-allowed without --strict)", {
        let i = need(img, "setup")?;
        let missing = random_bytes(700);
        let bytes = oci_manifest(
            descriptor(OCI_CONFIG, &i.config),
            vec![descriptor(OCI_LAYER, &missing)],
            json!({}),
        );
        let r = reg.put_manifest(ns, &format!("push-{}-unknownblob", short_id()), OCI_MANIFEST, &bytes)?;
        if r.status == 201 {
            env.remember_manifest(ns, &sha256_digest(&bytes));
            if !env.strict {
                env.note("registry accepts manifests that reference unknown blobs (spec: MAY reject)");
                return Ok(());
            }
            return Err("accepted (201) a manifest that references a blob the registry does not hold".into());
        }
        expect_error(&r, &[400], &["MANIFEST_BLOB_UNKNOWN"])
    });

    check!(
        rep,
        wf,
        "PUT of a body that is not a manifest (not JSON) returns 400 with error code MANIFEST_INVALID",
        {
            let r = reg.put_manifest(ns, &format!("push-{}-garbage", short_id()), OCI_MANIFEST, b"blablabla")?;
            if r.status == 201 {
                env.remember_manifest(ns, &sha256_digest(b"blablabla"));
            }
            expect_error(&r, &[400], &["MANIFEST_INVALID"])
        }
    );

    // The reference of a PUT must be a tag or the digest: a valid manifest under a reference
    // that is neither is refused. distribution answers TAG_INVALID (a legacy code the spec
    // lists), and its tests also accept MANIFEST_INVALID and NAME_INVALID.
    check!(
        rep,
        wf,
        &format!("PUT manifest with a reference that is neither a tag nor a digest ({INVALID_REFERENCE}) returns 400 (TAG_INVALID, MANIFEST_INVALID or NAME_INVALID)"),
        {
            let i = need(img, "setup")?;
            let bytes = oci_manifest(
                descriptor(OCI_CONFIG, &i.config),
                vec![descriptor(OCI_LAYER, &i.layer)],
                json!({"annotations": {"rbee.conformance.by": "invalid-reference"}}),
            );
            let r = reg.put_manifest(ns, INVALID_REFERENCE, OCI_MANIFEST, &bytes)?;
            if r.status == 201 {
                env.remember_manifest(ns, &sha256_digest(&bytes));
            }
            expect_error(&r, &[400], &["TAG_INVALID", "MANIFEST_INVALID", "NAME_INVALID"])
        }
    );

    check!(
        rep,
        wf,
        "PUT of a 4,000,000-byte manifest is accepted (spec: registries should support at least 4 MB)",
        {
            let i = need(img, "setup")?;
            let bytes = padded_manifest(i, 4_000_000);
            let r = reg.put_manifest(ns, &format!("push-{}-4mb", short_id()), OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &sha256_digest(&bytes));
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "PUT of a 5 MiB manifest is rejected with 413 (without --strict also 400 MANIFEST_INVALID or SIZE_INVALID)",
        {
            let i = need(img, "setup")?;
            let bytes = padded_manifest(i, 5 * 1024 * 1024);
            let r = match reg.put_manifest(ns, &format!("push-{}-5mib", short_id()), OCI_MANIFEST, &bytes) {
                Ok(r) => r,
                Err(e) => return Err(format!("no HTTP answer to the oversized manifest: {e}")),
            };
            if r.status == 201 {
                env.remember_manifest(ns, &sha256_digest(&bytes));
                return Err(
                    "a 5 MiB manifest was accepted (201); the registry SHOULD enforce a size limit and answer 413"
                        .into(),
                );
            }
            if r.status == 413 {
                return expect_spec_error_format_if_json(&r);
            }
            if env.strict {
                return expect_status(&r, &[413]);
            }
            expect_error(&r, &[400], &["MANIFEST_INVALID", "SIZE_INVALID"])
        }
    );
}

/// An OCI image manifest padded with an annotation to exactly `size` bytes.
fn padded_manifest(i: &Image, size: usize) -> Vec<u8> {
    let build = |pad: usize| {
        oci_manifest(
            descriptor(OCI_CONFIG, &i.config),
            vec![descriptor(OCI_LAYER, &i.layer)],
            json!({"annotations": {"rbee.conformance.padding": "p".repeat(pad)}}),
        )
    };
    let base = build(0).len();
    let bytes = build(size.saturating_sub(base));
    debug_assert_eq!(bytes.len(), size.max(base));
    bytes
}
