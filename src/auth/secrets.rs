//! Secret material: random secrets (admin, publisher and refresh tokens), their stored hashes,
//! constant-time comparison, the sealing of a credential inside a refresh-token record, and
//! the HMAC of the registry's self-signed download URLs.
//!
//! A refresh token is `rbee_rft_<id>.<key>`: the database keeps, under the SHA-256 of `<id>`,
//! the credential the token was issued for, sealed (ChaCha20-Poly1305) with `<key>`, which
//! only the token holds. Using the token unseals the credential and authenticates it again,
//! so a revoked license or publisher refuses the refresh at once, and the database alone
//! reveals no credential.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// `bytes` random bytes from the system's source.
pub fn random_bytes(bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the system random source works");
    out
}

/// A random secret: `prefix` and 32 random bytes in base64url.
pub fn random_secret(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes(32)))
}

/// The hash under which a secret is stored: SHA-256, lowercase hex. The secrets hashed are
/// random (256 bits), so a fast hash is as good as a slow one here.
pub fn secret_hash(secret: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Equality of two secrets (or hashes) in time independent of where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "rbee_rft_";

/// A new refresh token and what the database keeps of it.
pub struct SealedRefresh {
    /// The token handed to the client (secret).
    pub token: String,
    /// `secret_hash` of its id: the record's key.
    pub id_hash: String,
    /// The credential, sealed with the token's key (base64url of nonce ‖ ciphertext).
    pub sealed: String,
}

/// Seals `credential` into a new refresh token.
pub fn seal_refresh(credential: &str) -> SealedRefresh {
    let id = URL_SAFE_NO_PAD.encode(random_bytes(18));
    let key_bytes = random_bytes(32);
    let nonce_bytes = random_bytes(NONCE_LEN);
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key_bytes).expect("32-byte key"));
    let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes).expect("12-byte nonce");
    let mut data = credential.as_bytes().to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(id.as_bytes()), &mut data)
        .expect("sealing a short credential");
    let mut sealed = nonce_bytes;
    sealed.extend_from_slice(&data);
    SealedRefresh {
        token: format!("{REFRESH_TOKEN_PREFIX}{id}.{}", URL_SAFE_NO_PAD.encode(key_bytes)),
        id_hash: secret_hash(&id),
        sealed: URL_SAFE_NO_PAD.encode(sealed),
    }
}

/// The record key (`secret_hash` of the id) of a refresh token, if it has the shape of one.
pub fn refresh_id_hash(token: &str) -> Option<String> {
    let (id, _) = token.strip_prefix(REFRESH_TOKEN_PREFIX)?.split_once('.')?;
    Some(secret_hash(id))
}

/// The credential sealed in a refresh record, unsealed with the token's key; `None` when the
/// token does not open it.
pub fn open_refresh(token: &str, sealed: &str) -> Option<String> {
    let (id, key_text) = token.strip_prefix(REFRESH_TOKEN_PREFIX)?.split_once('.')?;
    let key_bytes = URL_SAFE_NO_PAD.decode(key_text).ok()?;
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key_bytes).ok()?);
    let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(id.as_bytes()), &mut data).ok()?;
    String::from_utf8(plain.to_vec()).ok()
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
    fn refresh_tokens_open_only_with_their_key() {
        let sealed = seal_refresh("rbee_lic_secret");
        assert_eq!(refresh_id_hash(&sealed.token), Some(sealed.id_hash.clone()));
        assert_eq!(
            open_refresh(&sealed.token, &sealed.sealed).as_deref(),
            Some("rbee_lic_secret")
        );
        let other = seal_refresh("rbee_lic_secret");
        assert_eq!(open_refresh(&other.token, &sealed.sealed), None);
        let mut flipped = sealed.token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open_refresh(&String::from_utf8(flipped).unwrap(), &sealed.sealed), None);
        assert_eq!(refresh_id_hash("rbee_lic_x"), None);
    }

    #[test]
    fn secrets() {
        let a = random_secret("rbee_adm_");
        assert!(a.starts_with("rbee_adm_") && a.len() > 40);
        assert_ne!(a, random_secret("rbee_adm_"));
        assert!(secrets_equal(&secret_hash(&a), &secret_hash(&a)));
        assert!(!secrets_equal(&secret_hash(&a), &secret_hash("x")));
        assert!(!secrets_equal("ab", "abc"));
    }

    #[test]
    fn url_signatures() {
        let key = random_bytes(32);
        let signature = url_signature(&key, "m");
        assert!(url_signature_valid(&key, "m", &signature));
        assert!(!url_signature_valid(&key, "n", &signature));
        assert!(!url_signature_valid(&key, "m", "zz"));
        assert!(!url_signature_valid(&random_bytes(32), "m", &signature));
    }
}
