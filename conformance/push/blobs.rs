//! Push, blobs: POST then PUT, single POST, chunked and streamed uploads, digest checks,
//! cancelled and unknown sessions, cross-repository mounts.

use reqwest::Method;
use url::Url;

use crate::content::{random_bytes, sha256_digest, unknown_digest};
use crate::expect::{
    expect_body_eq, expect_error, expect_header_eq, expect_spec_error_format_if_json, expect_status, location_of,
    upload_range_end,
};
use crate::fixtures::Env;
use crate::http::{with_query, ReqBody};
use crate::runner::{need, Report};

pub fn run(env: &Env, rep: &mut Report) {
    let wf = "push";
    let reg = &env.reg;
    let ns = env.ns.as_str();
    let cross = env.cross.as_str();
    let uploads = format!("/v2/{ns}/blobs/uploads/");
    let octet = || ("Content-Type", "application/octet-stream".to_string());

    // --- POST then PUT ------------------------------------------------------
    let blob_a = random_bytes(3000);
    let digest_a = sha256_digest(&blob_a);
    let mut loc_a: Option<Url> = None;
    let mut blob_loc_a: Option<Url> = None;

    check!(rep, wf, "POST /blobs/uploads/ returns 202 with a Location", {
        let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
        expect_status(&r, &[202])?;
        loc_a = Some(location_of(reg, &r)?);
        Ok(())
    });

    check!(
        rep,
        wf,
        "PUT <location>?digest= with the whole blob returns 201 with a Location",
        {
            let loc = need(&loc_a, "POST")?;
            let r = reg.send(
                Method::PUT,
                with_query(loc, "digest", &digest_a),
                &[octet()],
                ReqBody::Bytes(blob_a.clone()),
            )?;
            expect_status(&r, &[201])?;
            env.remember_blob(ns, &digest_a);
            blob_loc_a = Some(location_of(reg, &r)?);
            if let Some(d) = r.header("docker-content-digest") {
                ensure!(d == digest_a, "Docker-Content-Digest {d} != {digest_a}");
            }
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "the Location returned by the blob PUT is pullable and serves the blob",
        {
            let loc = need(&blob_loc_a, "PUT")?;
            let r = reg.send(Method::GET, loc.clone(), &[], ReqBody::Empty)?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &blob_a)
        }
    );

    // --- single POST ---------------------------------------------------------
    let blob_b = random_bytes(2048);
    let digest_b = sha256_digest(&blob_b);
    check!(rep, wf, "single POST ?digest= with the blob returns 201 with a Location (spec-allowed fallback without --strict: 202 then PUT)", {
        let r = reg.req(
            Method::POST,
            &format!("{uploads}?digest={digest_b}"),
            &[octet()],
            ReqBody::Bytes(blob_b.clone()),
        )?;
        match r.status {
            201 => {
                env.remember_blob(ns, &digest_b);
                location_of(reg, &r)?;
            }
            202 if !env.strict => {
                env.note("single-POST upload not supported (202); completing with PUT as the spec allows");
                let loc = location_of(reg, &r)?;
                let r2 = reg.send(
                    Method::PUT,
                    with_query(&loc, "digest", &digest_b),
                    &[octet()],
                    ReqBody::Bytes(blob_b.clone()),
                )?;
                expect_status(&r2, &[201]).map_err(|e| format!("after 202 fallback: {e}"))?;
                env.remember_blob(ns, &digest_b);
            }
            202 => {
                return Err(format!(
                    "answered 202 (single-POST upload unsupported; the spec permits this, --strict does not): {}",
                    r.describe()
                ))
            }
            _ => expect_status(&r, &[201, 202])?,
        }
        let h = reg.head(&format!("/v2/{ns}/blobs/{digest_b}"))?;
        expect_status(&h, &[200]).map_err(|e| format!("blob not present afterwards: {e}"))
    });

    // --- chunked ---------------------------------------------------------------
    let mut loc_c: Option<Url> = None;
    let mut min_chunk = 0usize;

    check!(
        rep,
        wf,
        "chunked: POST with Content-Length 0 returns 202 with a Location",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            loc_c = Some(location_of(reg, &r)?);
            if let Some(v) = r.header("oci-chunk-min-length") {
                min_chunk = v
                    .parse()
                    .map_err(|_| format!("OCI-Chunk-Min-Length {v:?} is not an integer"))?;
            }
            Ok(())
        }
    );
    // Non-final chunks SHOULD be at least OCI-Chunk-Min-Length (v1.1) bytes.
    let chunk_size = min_chunk.clamp(64 * 1024, 64 * 1024 * 1024);
    if min_chunk > 0 {
        env.note(&format!(
            "OCI-Chunk-Min-Length {min_chunk}; using chunks of {chunk_size} bytes"
        ));
    }
    let blob_c = random_bytes(chunk_size * 2 + 999);
    let digest_c = sha256_digest(&blob_c);

    check!(
        rep,
        wf,
        "chunked: first PATCH with Content-Range 0-<n> returns 202, a Location and Range 0-<n>",
        {
            let loc = need(&loc_c, "POST")?.clone();
            let r = reg.send(
                Method::PATCH,
                loc,
                &[octet(), ("Content-Range", format!("0-{}", chunk_size - 1))],
                ReqBody::Bytes(blob_c[..chunk_size].to_vec()),
            )?;
            expect_status(&r, &[202])?;
            let new_loc = location_of(reg, &r)?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == chunk_size as i64 - 1,
                "Range end {end}, expected {}",
                chunk_size - 1
            );
            loc_c = Some(new_loc);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "chunked: GET upload status returns 204 with a Location and Range 0-<end of accepted data>",
        {
            let loc = need(&loc_c, "first PATCH")?.clone();
            let r = reg.send(Method::GET, loc, &[], ReqBody::Empty)?;
            expect_status(&r, &[204])?;
            let new_loc = location_of(reg, &r)?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == chunk_size as i64 - 1,
                "Range end {end}, expected {}",
                chunk_size - 1
            );
            loc_c = Some(new_loc);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "chunked: second PATCH continuing at the reported offset returns 202 and Range 0-<2n>",
        {
            let loc = need(&loc_c, "status")?.clone();
            let r = reg.send(
                Method::PATCH,
                loc,
                &[
                    octet(),
                    ("Content-Range", format!("{}-{}", chunk_size, 2 * chunk_size - 1)),
                ],
                ReqBody::Bytes(blob_c[chunk_size..2 * chunk_size].to_vec()),
            )?;
            expect_status(&r, &[202])?;
            let new_loc = location_of(reg, &r)?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == 2 * chunk_size as i64 - 1,
                "Range end {end}, expected {}",
                2 * chunk_size - 1
            );
            loc_c = Some(new_loc);
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "chunked: closing PUT ?digest= carrying the final chunk returns 201 with a Location",
        {
            let loc = need(&loc_c, "second PATCH")?;
            let r = reg.send(
                Method::PUT,
                with_query(loc, "digest", &digest_c),
                &[
                    octet(),
                    ("Content-Range", format!("{}-{}", 2 * chunk_size, blob_c.len() - 1)),
                ],
                ReqBody::Bytes(blob_c[2 * chunk_size..].to_vec()),
            )?;
            expect_status(&r, &[201])?;
            env.remember_blob(ns, &digest_c);
            location_of(reg, &r)?;
            expect_header_eq(&r, "Docker-Content-Digest", &digest_c)
        }
    );

    check!(rep, wf, "chunked: the assembled blob is served with the exact bytes", {
        need(&loc_c, "chunked upload")?;
        let r = reg.get(&format!("/v2/{ns}/blobs/{digest_c}"))?;
        expect_status(&r, &[200])?;
        expect_body_eq(&r, &blob_c)
    });

    check!(
        rep,
        wf,
        "chunked: out-of-order PATCH (gap after the last byte) returns 416 and the upload keeps its offset",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let c = chunk_size;
            let data = random_bytes(2 * c + 10);
            let r = reg.send(
                Method::PATCH,
                loc,
                &[octet(), ("Content-Range", format!("0-{}", c - 1))],
                ReqBody::Bytes(data[..c].to_vec()),
            )?;
            expect_status(&r, &[202]).map_err(|e| format!("first chunk: {e}"))?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(
                Method::PATCH,
                loc.clone(),
                &[octet(), ("Content-Range", format!("{}-{}", c + 10, 2 * c + 9))],
                ReqBody::Bytes(data[c + 10..].to_vec()),
            )?;
            if r.status != 416 {
                env.cancel_upload(&location_of(reg, &r).unwrap_or(loc));
                let hint = if r.status == 202 {
                    " (the chunk was accepted at the wrong offset: Content-Range is not checked; CNCF distribution 2.x behaves so)"
                } else {
                    ""
                };
                return Err(format!("expected HTTP 416, got: {}{hint}", r.describe()));
            }
            let s = reg.send(Method::GET, loc.clone(), &[], ReqBody::Empty)?;
            env.cancel_upload(&location_of(reg, &s).unwrap_or(loc));
            expect_status(&s, &[204]).map_err(|e| format!("status after 416: {e}"))?;
            let end = upload_range_end(&s)?;
            ensure!(
                end == c as i64 - 1,
                "after the 416 the upload reports Range end {end}, expected {}",
                c - 1
            );
            Ok(())
        }
    );

    // --- streamed PATCH ------------------------------------------------------
    let blob_s = random_bytes(100_000);
    let digest_s = sha256_digest(&blob_s);
    check!(
        rep,
        wf,
        "streamed: PATCH without Content-Range (chunked transfer encoding) returns 202 with Range 0-<size-1>",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(Method::PATCH, loc, &[octet()], ReqBody::Stream(blob_s.clone()))?;
            expect_status(&r, &[202])?;
            let end = upload_range_end(&r)?;
            ensure!(
                end == blob_s.len() as i64 - 1,
                "Range end {end}, expected {}",
                blob_s.len() - 1
            );
            let loc = location_of(reg, &r)?;
            let r = reg.send(Method::PUT, with_query(&loc, "digest", &digest_s), &[], ReqBody::Empty)?;
            expect_status(&r, &[201]).map_err(|e| format!("closing PUT without body: {e}"))?;
            env.remember_blob(ns, &digest_s);
            let g = reg.get(&format!("/v2/{ns}/blobs/{digest_s}"))?;
            expect_status(&g, &[200])?;
            expect_body_eq(&g, &blob_s)
        }
    );

    // --- wrong digest ----------------------------------------------------------
    let blob_w = random_bytes(1500);
    let real_w = sha256_digest(&blob_w);
    let claimed_w = unknown_digest();
    let mut wrong_rejected = false;
    check!(
        rep,
        wf,
        "PUT with a digest that does not match the content returns 400 with error code DIGEST_INVALID",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(
                Method::PUT,
                with_query(&loc, "digest", &claimed_w),
                &[octet()],
                ReqBody::Bytes(blob_w.clone()),
            )?;
            if r.status == 201 {
                env.remember_blob(ns, &claimed_w);
            } else {
                env.cancel_upload(&loc);
            }
            expect_error(&r, &[400], &["DIGEST_INVALID"])?;
            wrong_rejected = true;
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "after a digest mismatch neither the claimed nor the real digest is stored",
        {
            ensure!(
                wrong_rejected,
                "not run: prerequisite failed (digest mismatch rejection)"
            );
            let r = reg.head(&format!("/v2/{ns}/blobs/{claimed_w}"))?;
            expect_status(&r, &[404]).map_err(|e| format!("claimed digest: {e}"))?;
            let r = reg.head(&format!("/v2/{ns}/blobs/{real_w}"))?;
            expect_status(&r, &[404]).map_err(|e| format!("real digest: {e}"))
        }
    );

    check!(rep, wf, "PUT with a malformed digest (sha256:xyz) returns 400", {
        let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
        expect_status(&r, &[202])?;
        let loc = location_of(reg, &r)?;
        let r = reg.send(
            Method::PUT,
            with_query(&loc, "digest", "sha256:xyz"),
            &[octet()],
            ReqBody::Bytes(b"abc".to_vec()),
        )?;
        env.cancel_upload(&loc);
        expect_status(&r, &[400])?;
        expect_spec_error_format_if_json(&r)
    });

    // --- cancel and unknown uploads -------------------------------------------
    check!(
        rep,
        wf,
        "DELETE of an upload session returns 204, after which its status is 404 BLOB_UPLOAD_UNKNOWN",
        {
            let r = reg.req(Method::POST, &uploads, &[], ReqBody::Empty)?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(
                Method::PATCH,
                loc,
                &[octet(), ("Content-Range", "0-99".into())],
                ReqBody::Bytes(random_bytes(100)),
            )?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            let r = reg.send(Method::DELETE, loc.clone(), &[], ReqBody::Empty)?;
            expect_status(&r, &[204])?;
            let r = reg.send(Method::GET, loc, &[], ReqBody::Empty)?;
            expect_error(&r, &[404], &["BLOB_UPLOAD_UNKNOWN"])
        }
    );

    check!(
        rep,
        wf,
        "GET status of an upload session that never existed returns 404 (BLOB_UPLOAD_UNKNOWN or BLOB_UPLOAD_INVALID)",
        {
            let r = reg.get(&format!("{uploads}{}", uuid::Uuid::new_v4()))?;
            expect_error(&r, &[404], &["BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"])
        }
    );

    // --- cross-repository mount --------------------------------------------
    let mut mounted = false;
    check!(
        rep,
        wf,
        "mount: POST ?mount=<digest>&from=<repo> of an existing blob returns 201 with a Location",
        {
            ensure!(blob_loc_a.is_some(), "not run: prerequisite failed (blob push)");
            let r = reg.req(
                Method::POST,
                &format!("/v2/{cross}/blobs/uploads/?mount={digest_a}&from={ns}"),
                &[],
                ReqBody::Empty,
            )?;
            if r.status == 202 {
                if let Ok(loc) = location_of(reg, &r) {
                    env.cancel_upload(&loc);
                }
            }
            expect_status(&r, &[201])?;
            env.remember_blob(cross, &digest_a);
            mounted = true;
            location_of(reg, &r)?;
            if let Some(d) = r.header("docker-content-digest") {
                ensure!(d == digest_a, "Docker-Content-Digest {d} != {digest_a}");
            }
            Ok(())
        }
    );

    check!(
        rep,
        wf,
        "mount: the mounted blob is served from the target repository",
        {
            ensure!(mounted, "not run: prerequisite failed (mount)");
            let r = reg.get(&format!("/v2/{cross}/blobs/{digest_a}"))?;
            expect_status(&r, &[200])?;
            expect_body_eq(&r, &blob_a)
        }
    );

    check!(
        rep,
        wf,
        "mount: POST ?mount= of a blob the source does not have returns 202 with a Location (upload session)",
        {
            let r = reg.req(
                Method::POST,
                &format!("/v2/{cross}/blobs/uploads/?mount={}&from={ns}", unknown_digest()),
                &[],
                ReqBody::Empty,
            )?;
            expect_status(&r, &[202])?;
            let loc = location_of(reg, &r)?;
            env.cancel_upload(&loc);
            Ok(())
        }
    );
}
