//! GitHub-style push webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
//! keyed with a shared secret. The comparison is constant-time (`ring::hmac::verify`).

use ring::hmac;

/// Why a webhook signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not sha256=<64 hex digits>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The header GitHub signs push webhooks with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Checks `header` (the header's value, if the request had one) against `body` and `secret`.
pub fn verify_hub_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let signature = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, body, &signature).map_err(|_| SignatureError::Mismatch)
}

/// The header value for `body` under `secret` (tests and tools that send webhooks).
pub fn sign_hub_body(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign_hub_body(b"It's a Secret to Everybody", b"Hello, World!"), expected);
        assert_eq!(
            verify_hub_signature(b"It's a Secret to Everybody", b"Hello, World!", Some(expected)),
            Ok(())
        );
        assert_eq!(
            verify_hub_signature(b"other", b"Hello, World!", Some(expected)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_hub_signature(b"k", b"b", None), Err(SignatureError::Missing));
        assert_eq!(
            verify_hub_signature(b"k", b"b", Some("sha1=00")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_hub_signature(b"k", b"b", Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }
}
