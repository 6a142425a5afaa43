//! Assertions on responses: each returns `Err(why)` naming what was expected and what came,
//! which the check runner prints on the check's `FAIL` line.

use url::Url;

use crate::content::sha256_digest;
use crate::http::{Registry, Resp};

/// The error codes of the spec's "Error Codes" table.
const SPEC_ERROR_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

/// Legacy Docker codes the spec says a client MAY encounter.
const LEGACY_ERROR_CODES: &[&str] = &["TAG_INVALID", "MANIFEST_UNVERIFIED", "UNKNOWN"];

pub fn expect_status(r: &Resp, allowed: &[u16]) -> Result<(), String> {
    if allowed.contains(&r.status) {
        return Ok(());
    }
    let want = allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" or ");
    Err(format!("expected HTTP {want}, got: {}", r.describe()))
}

/// Status must be allowed and the body a JSON error document holding one of `codes`.
pub fn expect_error(r: &Resp, allowed: &[u16], codes: &[&str]) -> Result<(), String> {
    expect_status(r, allowed)?;
    let got = r.error_codes().ok_or_else(|| {
        format!(
            "expected a JSON error body with code {}, got: {}",
            codes.join(" or "),
            r.describe()
        )
    })?;
    ensure!(
        got.iter().any(|c| codes.contains(&c.as_str())),
        "expected error code {}, got {:?} ({})",
        codes.join(" or "),
        got,
        r.describe()
    );
    Ok(())
}

/// A 4xx body MAY be in any format; when it is JSON it MUST be the spec's
/// error document with codes from the spec's table.
pub fn expect_spec_error_format_if_json(r: &Resp) -> Result<(), String> {
    let Some(v) = r.json() else { return Ok(()) };
    let errs = v
        .get("errors")
        .and_then(|e| e.as_array())
        .ok_or_else(|| format!("JSON error body without an `errors` array: {}", r.describe()))?;
    for e in errs {
        let code = e
            .get("code")
            .and_then(|c| c.as_str())
            .ok_or_else(|| format!("error entry without a string `code`: {}", r.describe()))?;
        ensure!(
            SPEC_ERROR_CODES.contains(&code) || LEGACY_ERROR_CODES.contains(&code),
            "error code {code:?} is not one of the spec's codes ({})",
            r.describe()
        );
    }
    Ok(())
}

pub fn expect_header_eq(r: &Resp, name: &str, want: &str) -> Result<(), String> {
    match r.header(name) {
        Some(v) if v == want => Ok(()),
        Some(v) => Err(format!("{name} is {v:?}, expected {want:?} ({})", r.describe())),
        None => Err(format!("{name} header missing ({})", r.describe())),
    }
}

pub fn expect_body_eq(r: &Resp, want: &[u8]) -> Result<(), String> {
    if r.body == want {
        return Ok(());
    }
    Err(format!(
        "body differs from what was pushed: got {} bytes (sha256 {}), expected {} bytes (sha256 {})",
        r.body.len(),
        sha256_digest(&r.body),
        want.len(),
        sha256_digest(want)
    ))
}

pub fn expect_content_type(r: &Resp, want: &str) -> Result<(), String> {
    match r.content_type() {
        Some(ct) if ct == want => Ok(()),
        Some(ct) => Err(format!("Content-Type is {ct:?}, expected {want:?}")),
        None => Err(format!("Content-Type missing, expected {want:?}")),
    }
}

pub fn location_of(reg: &Registry, r: &Resp) -> Result<Url, String> {
    let loc = r
        .header("location")
        .ok_or_else(|| format!("Location header missing ({})", r.describe()))?;
    ensure!(!loc.is_empty(), "Location header empty");
    reg.resolve(r, &loc)
}

/// Parses an upload `Range: 0-<end>` header, returning `end`.
pub fn upload_range_end(r: &Resp) -> Result<i64, String> {
    let v = r
        .header("range")
        .ok_or_else(|| format!("Range header missing ({})", r.describe()))?;
    let (a, b) = v
        .split_once('-')
        .ok_or_else(|| format!("Range header {v:?} is not <start>-<end>"))?;
    ensure!(a == "0", "Range header {v:?} does not start at 0");
    b.parse::<i64>()
        .map_err(|_| format!("Range header {v:?} has a non-numeric end"))
}
