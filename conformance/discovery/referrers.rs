//! Content discovery, the referrers API (distribution-spec v1.1): `subject` on push, the
//! referrers index, `artifactType` filtering.

use reqwest::Method;
use serde_json::{json, Value};

use crate::content::{descriptor, oci_manifest, random_bytes, sha256_digest, short_id, unknown_digest};
use crate::expect::{expect_content_type, expect_header_eq, expect_spec_error_format_if_json, expect_status};
use crate::fixtures::{Env, Image};
use crate::http::{with_query, ReqBody};
use crate::media::{ART_OTHER, ART_SBOM, ART_SIG_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use crate::runner::{need, Report, V11};

/// Referrers API (distribution-spec v1.1), part of content discovery.
pub fn run(env: &Env, rep: &mut Report) {
    let wf = "discovery";
    let reg = &env.reg;
    let ns = env.ns.as_str();

    struct Refs {
        subject_digest: String,
        a1: (Vec<u8>, String),
        a2: (Vec<u8>, String),
        a3: (Vec<u8>, String),
    }
    let mut subject: Option<Image> = None;
    let mut empty_ok = false;
    let mut sbom_layer: Option<Vec<u8>> = None;
    let mut sig_config: Option<Vec<u8>> = None;

    check!(
        rep,
        wf,
        "setup: push a subject image, the empty config blob and the artifact blobs",
        {
            subject = Some(env.push_image(ns, Some(&format!("ref-{}-subject", short_id())), 2000)?);
            env.push_blob(ns, b"{}")?;
            empty_ok = true;
            let layer = random_bytes(600);
            env.push_blob(ns, &layer)?;
            sbom_layer = Some(layer);
            let cfg = serde_json::to_vec(&json!({"nonce": uuid::Uuid::new_v4().to_string()})).unwrap();
            env.push_blob(ns, &cfg)?;
            sig_config = Some(cfg);
            Ok(())
        }
    );

    let empty_desc = || {
        let mut d = descriptor(OCI_EMPTY, b"{}");
        d["data"] = json!("e30=");
        d
    };

    // A1: artifact manifest with artifactType, empty config, subject.
    let mut a1: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        &format!(
            "{V11} PUT image manifest with `subject` and `artifactType` returns 201 and OCI-Subject: <subject digest>"
        ),
        {
            let s = need(&subject, "setup")?;
            let layer = need(&sbom_layer, "setup")?;
            ensure!(empty_ok, "setup failed");
            let bytes = oci_manifest(
                empty_desc(),
                vec![descriptor("application/vnd.rbee.conformance.sbom.layer.v1+json", layer)],
                json!({
                    "artifactType": ART_SBOM,
                    "subject": descriptor(OCI_MANIFEST, &s.manifest),
                    "annotations": {
                        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                        "rbee.conformance.kind": "sbom",
                    },
                }),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            a1 = Some((bytes, digest));
            expect_header_eq(&r, "OCI-Subject", &s.digest)
        }
    );

    // A2: no artifactType; the config media type stands in for it.
    let mut a2: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        &format!("{V11} PUT image manifest with `subject` and no artifactType returns 201 and OCI-Subject"),
        {
            let s = need(&subject, "setup")?;
            let cfg = need(&sig_config, "setup")?;
            let bytes = oci_manifest(
                descriptor(ART_SIG_CONFIG, cfg),
                vec![],
                json!({
                    "subject": descriptor(OCI_MANIFEST, &s.manifest),
                    "annotations": {"rbee.conformance.kind": "signature"},
                }),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            a2 = Some((bytes, digest));
            expect_header_eq(&r, "OCI-Subject", &s.digest)
        }
    );

    // A3: an index with a subject and no artifactType.
    let mut a3: Option<(Vec<u8>, String)> = None;
    check!(rep, wf, &format!("{V11} PUT image index with `subject` returns 201"), {
        let s = need(&subject, "setup")?;
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
            "subject": descriptor(OCI_MANIFEST, &s.manifest),
            "annotations": {"rbee.conformance.kind": "index"},
        }))
        .unwrap();
        let digest = sha256_digest(&bytes);
        let r = reg.put_manifest(ns, &digest, OCI_INDEX, &bytes)?;
        expect_status(&r, &[201])?;
        env.remember_manifest(ns, &digest);
        a3 = Some((bytes, digest));
        Ok(())
    });

    // A4: subject that does not exist (must be accepted).
    let dangling_subject = unknown_digest();
    let mut a4: Option<(Vec<u8>, String)> = None;
    check!(
        rep,
        wf,
        &format!("{V11} PUT manifest whose `subject` does not exist in the repository is accepted (201)"),
        {
            ensure!(empty_ok, "not run: prerequisite failed (setup)");
            let bytes = oci_manifest(
                empty_desc(),
                vec![empty_desc()],
                json!({
                    "artifactType": ART_OTHER,
                    "subject": {"mediaType": OCI_MANIFEST, "digest": dangling_subject, "size": 1234},
                }),
            );
            let digest = sha256_digest(&bytes);
            let r = reg.put_manifest(ns, &digest, OCI_MANIFEST, &bytes)?;
            expect_status(&r, &[201])?;
            env.remember_manifest(ns, &digest);
            a4 = Some((bytes, digest));
            Ok(())
        }
    );

    let refs = match (&subject, &a1, &a2, &a3) {
        (Some(s), Some(x1), Some(x2), Some(x3)) => Some(Refs {
            subject_digest: s.digest.clone(),
            a1: x1.clone(),
            a2: x2.clone(),
            a3: x3.clone(),
        }),
        _ => None,
    };

    let mut listing: Option<Vec<Value>> = None;
    check!(
        rep,
        wf,
        &format!("{V11} GET /referrers/<digest> returns 200 and an OCI image index (Content-Type and mediaType)"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let r = reg.get(&format!("/v2/{ns}/referrers/{}", rf.subject_digest))?;
            expect_status(&r, &[200])?;
            expect_content_type(&r, OCI_INDEX)?;
            let v = r.json().ok_or_else(|| format!("body is not JSON: {}", r.describe()))?;
            ensure!(
                v["schemaVersion"] == json!(2),
                "schemaVersion is {}",
                v["schemaVersion"]
            );
            ensure!(v["mediaType"] == json!(OCI_INDEX), "mediaType is {}", v["mediaType"]);
            let m = v["manifests"].as_array().ok_or("no `manifests` array")?;
            listing = Some(m.clone());
            Ok(())
        }
    );

    let find =
        |list: &[Value], digest: &str| -> Option<Value> { list.iter().find(|d| d["digest"] == json!(digest)).cloned() };

    check!(
        rep,
        wf,
        &format!(
            "{V11} the referrers list holds exactly the manifests whose subject is the digest, with mediaType and size"
        ),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let mut got: Vec<String> = list
                .iter()
                .filter_map(|d| d["digest"].as_str().map(String::from))
                .collect();
            got.sort();
            let mut want = vec![rf.a1.1.clone(), rf.a2.1.clone(), rf.a3.1.clone()];
            want.sort();
            ensure!(got == want, "listed {got:?}, expected {want:?}");
            for (bytes, digest, mt) in [
                (&rf.a1.0, &rf.a1.1, OCI_MANIFEST),
                (&rf.a2.0, &rf.a2.1, OCI_MANIFEST),
                (&rf.a3.0, &rf.a3.1, OCI_INDEX),
            ] {
                let d = find(list, digest).unwrap();
                ensure!(
                    d["mediaType"] == json!(mt),
                    "{digest}: mediaType {}, expected {mt}",
                    d["mediaType"]
                );
                ensure!(
                    d["size"] == json!(bytes.len()),
                    "{digest}: size {}, expected {}",
                    d["size"],
                    bytes.len()
                );
            }
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} a referrer descriptor carries the manifest's artifactType and annotations"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let d = find(list, &rf.a1.1).ok_or("artifact not listed")?;
            ensure!(
                d["artifactType"] == json!(ART_SBOM),
                "artifactType {}, expected {ART_SBOM}",
                d["artifactType"]
            );
            let want = json!({
                "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                "rbee.conformance.kind": "sbom",
            });
            ensure!(
                d["annotations"] == want,
                "annotations {}, expected {want}",
                d["annotations"]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} a referrer without artifactType is listed with the config mediaType as artifactType"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let d = find(list, &rf.a2.1).ok_or("artifact not listed")?;
            ensure!(
                d["artifactType"] == json!(ART_SIG_CONFIG),
                "artifactType {}, expected {ART_SIG_CONFIG}",
                d["artifactType"]
            );
            ensure!(
                d["annotations"]["rbee.conformance.kind"] == json!("signature"),
                "annotations {}",
                d["annotations"]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} an index referrer without artifactType is listed without artifactType, with its annotations"),
        {
            let rf = need(&refs, "referrer pushes")?;
            let list = need(&listing, "referrers GET")?;
            let d = find(list, &rf.a3.1).ok_or("index not listed")?;
            ensure!(
                d.get("artifactType").is_none(),
                "artifactType present: {}",
                d["artifactType"]
            );
            ensure!(
                d["annotations"]["rbee.conformance.kind"] == json!("index"),
                "annotations {}",
                d["annotations"]
            );
            Ok(())
        }
    );

    check!(rep, wf, &format!("{V11} ?artifactType= filters the referrers and sets OCI-Filters-Applied: artifactType (unfiltered list without the header allowed without --strict)"), {
        let rf = need(&refs, "referrer pushes")?;
        // The media type holds a '+', so it must be percent-encoded.
        let url = with_query(
            &reg.url(&format!("/v2/{ns}/referrers/{}", rf.subject_digest))?,
            "artifactType",
            ART_SBOM,
        );
        let r = reg.send(Method::GET, url, &[], ReqBody::Empty)?;
        expect_status(&r, &[200])?;
        expect_content_type(&r, OCI_INDEX)?;
        let v = r.json().ok_or("body is not JSON")?;
        let got: Vec<&str> = v["manifests"]
            .as_array()
            .ok_or("no `manifests` array")?
            .iter()
            .filter_map(|d| d["digest"].as_str())
            .collect();
        let applied = r
            .header("oci-filters-applied")
            .map(|h| h.split(',').any(|f| f.trim() == "artifactType"))
            .unwrap_or(false);
        if applied {
            ensure!(got == vec![rf.a1.1.as_str()], "filtered list {got:?}, expected only {}", rf.a1.1);
            return Ok(());
        }
        ensure!(!env.strict, "OCI-Filters-Applied: artifactType missing (got {:?})", r.header("oci-filters-applied"));
        ensure!(got.len() == 3, "no OCI-Filters-Applied header, yet the list was changed: {got:?}");
        env.note("referrers artifactType filter not applied (spec: SHOULD)");
        Ok(())
    });

    check!(
        rep,
        wf,
        &format!("{V11} referrers of a subject that was never pushed list the manifests that refer to it"),
        {
            let (_, d4) = need(&a4, "dangling-subject push")?;
            let r = reg.get(&format!("/v2/{ns}/referrers/{dangling_subject}"))?;
            expect_status(&r, &[200])?;
            let v = r.json().ok_or("body is not JSON")?;
            let got: Vec<&str> = v["manifests"]
                .as_array()
                .ok_or("no `manifests` array")?
                .iter()
                .filter_map(|d| d["digest"].as_str())
                .collect();
            ensure!(got == vec![d4.as_str()], "listed {got:?}, expected [{d4}]");
            let d = &v["manifests"][0];
            ensure!(
                d["artifactType"] == json!(ART_OTHER),
                "artifactType {}",
                d["artifactType"]
            );
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        &format!("{V11} referrers of an unknown digest return 200 with an empty OCI index"),
        {
            let r = reg.get(&format!("/v2/{ns}/referrers/{}", unknown_digest()))?;
            expect_status(&r, &[200])?;
            expect_content_type(&r, OCI_INDEX)?;
            let v = r.json().ok_or("body is not JSON")?;
            ensure!(v["mediaType"] == json!(OCI_INDEX), "mediaType is {}", v["mediaType"]);
            ensure!(
                v["manifests"] == json!([]),
                "manifests is {}, expected []",
                v["manifests"]
            );
            Ok(())
        }
    );

    check!(rep, wf, &format!("{V11} referrers of a malformed digest return 400"), {
        let r = reg.get(&format!("/v2/{ns}/referrers/sha256:not-a-digest"))?;
        expect_status(&r, &[400])?;
        expect_spec_error_format_if_json(&r)
    });
}
