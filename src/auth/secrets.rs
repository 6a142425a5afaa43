//! Opaque secrets and signed URLs: random tokens (publisher tokens), their stored hash and
//! its constant-time comparison, and the HMAC of the registry's self-signed download URLs.
//! Pure apart from the system's random source.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

/// `prefix` + 32 random bytes as base64url.
pub fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// `N` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes
}

/// What is stored of a secret: hex SHA-256. Secrets are random and long, so no salt or
/// stretching is needed; the hash only keeps a database dump from being usable as tokens.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()))
}

/// Compares two stored hashes in constant time.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signature of a self-signed download URL's `message` (hex HMAC-SHA256 with `key`).
pub fn url_signature(key: &[u8], message: &str) -> String {
    hex::encode(ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), message.as_bytes()).as_ref())
}

/// Whether `signature` (hex) is `key`'s signature of `message`; constant time.
pub fn url_signature_valid(key: &[u8], message: &str, signature: &str) -> bool {
    let Ok(tag) = hex::decode(signature) else {
        return false;
    };
    ring::hmac::verify(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
        message.as_bytes(),
        &tag,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hashes_and_url_signatures() {
        let a = random_token("rbee_pub_");
        let b = random_token("rbee_pub_");
        assert_ne!(a, b);
        assert_eq!(a.len(), "rbee_pub_".len() + 43);
        assert!(same_hash(&secret_hash(&a), &secret_hash(&a)));
        assert!(!same_hash(&secret_hash(&a), &secret_hash(&b)));
        let key = random_bytes::<32>();
        let signature = url_signature(&key, "m");
        assert!(url_signature_valid(&key, "m", &signature));
        assert!(!url_signature_valid(&key, "n", &signature));
        assert!(!url_signature_valid(&key, "m", "zz"));
        assert!(!url_signature_valid(&random_bytes::<32>(), "m", &signature));
    }
}
