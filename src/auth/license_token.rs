//! License tokens (spec/auth.md "Licenses and publishers"): `rbee_lic_` + base64url (no
//! padding) of `len:u16be ‖ claims ‖ signature`, where `claims` is a small JSON object
//! (signing key id, license id, holder, worker ids, expiry in Unix seconds) and `signature`
//! is the 64-byte Ed25519 signature of a fixed domain string followed by `claims`. A registry
//! holding only the public key of `kid` verifies a token offline. Pure: no I/O, no clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

/// The prefix of every license token.
pub const LICENSE_TOKEN_PREFIX: &str = "rbee_lic_";
/// What the signature covers besides the claims, so a signature made for anything else never
/// verifies as a license.
const DOMAIN: &[u8] = b"rbee-license-v1\0";
const SIGNATURE_LEN: usize = 64;
/// Upper bound of a token's text (a header value; many worker ids still fit).
pub const MAX_TOKEN_LEN: usize = 8192;

/// What a license token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseClaims {
    /// The signing key's id.
    pub kid: String,
    /// The license's id (its record in the issuing registry's database).
    #[serde(rename = "lid")]
    pub license_id: String,
    /// The holder (an e-mail address).
    #[serde(rename = "sub")]
    pub holder: String,
    /// The licensed worker ids.
    #[serde(rename = "wrk")]
    pub workers: Vec<String>,
    /// Unix seconds after which the token is expired.
    #[serde(rename = "exp")]
    pub expires_at: i64,
}

/// Why a token is refused. The variants are for logs and tests; clients learn only
/// "invalid" (or "expired", which the caller decides with its clock).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseTokenError {
    #[error("not a license token")]
    Malformed,
    #[error("signed with an unknown key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
}

/// An Ed25519 key id: base64url of the first 9 bytes of SHA-256 of the public key.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..9])
}

/// A license signing key (private). Never `Debug`-printed with its secret.
pub struct SigningKey {
    kid: String,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    /// A new key and its PKCS#8 document (what is stored).
    pub fn generate() -> Result<(SigningKey, Vec<u8>), LicenseTokenError> {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| LicenseTokenError::Malformed)?;
        let key = SigningKey::from_pkcs8(document.as_ref())?;
        Ok((key, document.as_ref().to_vec()))
    }

    pub fn from_pkcs8(document: &[u8]) -> Result<SigningKey, LicenseTokenError> {
        let pair = Ed25519KeyPair::from_pkcs8(document).map_err(|_| LicenseTokenError::Malformed)?;
        Ok(SigningKey {
            kid: key_id(pair.public_key().as_ref()),
            pair,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> VerifyKey {
        VerifyKey {
            kid: self.kid.clone(),
            public_key: self.pair.public_key().as_ref().to_vec(),
        }
    }

    /// The token for `claims` (whose `kid` is set to this key's).
    pub fn sign(&self, claims: &LicenseClaims) -> String {
        let mut claims = claims.clone();
        claims.kid = self.kid.clone();
        let body = serde_json::to_vec(&claims).expect("claims serialize");
        let mut message = DOMAIN.to_vec();
        message.extend_from_slice(&body);
        let signature = self.pair.sign(&message);
        let mut raw = Vec::with_capacity(2 + body.len() + SIGNATURE_LEN);
        raw.extend_from_slice(&(body.len() as u16).to_be_bytes());
        raw.extend_from_slice(&body);
        raw.extend_from_slice(signature.as_ref());
        format!("{LICENSE_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }
}

/// A public key that verifies licenses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyKey {
    pub kid: String,
    pub public_key: Vec<u8>,
}

impl VerifyKey {
    pub fn from_public_key(public_key: Vec<u8>) -> Result<VerifyKey, LicenseTokenError> {
        if public_key.len() != 32 {
            return Err(LicenseTokenError::Malformed);
        }
        Ok(VerifyKey {
            kid: key_id(&public_key),
            public_key,
        })
    }

    /// The line of a public-key file: `ed25519 <kid> <base64url public key>`.
    pub fn to_line(&self) -> String {
        format!("ed25519 {} {}", self.kid, URL_SAFE_NO_PAD.encode(&self.public_key))
    }

    /// Reads a public-key file: one [`VerifyKey::to_line`] per line; blank lines and `#`
    /// comments are skipped. A line whose key id does not belong to its key is refused.
    pub fn parse_file(text: &str) -> Result<Vec<VerifyKey>, String> {
        let mut keys = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bad = |why: &str| format!("line {}: {why} (expected `ed25519 <kid> <public key>`)", number + 1);
            let [algorithm, kid, key] = fields[..] else {
                return Err(bad("three fields"));
            };
            if algorithm != "ed25519" {
                return Err(bad("unknown algorithm"));
            }
            let bytes = URL_SAFE_NO_PAD
                .decode(key)
                .map_err(|_| bad("the key is not base64url"))?;
            let verify = VerifyKey::from_public_key(bytes).map_err(|_| bad("not a 32-byte Ed25519 key"))?;
            if verify.kid != kid {
                return Err(bad("the key id does not match the key"));
            }
            keys.push(verify);
        }
        Ok(keys)
    }
}

/// The claims of `token` without checking its signature (to find the key id), or an error
/// when it is not shaped as a license token.
pub fn peek(token: &str) -> Result<LicenseClaims, LicenseTokenError> {
    split(token).map(|(claims, _, _)| claims)
}

fn split(token: &str) -> Result<(LicenseClaims, Vec<u8>, Vec<u8>), LicenseTokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(LicenseTokenError::Malformed);
    }
    let encoded = token
        .strip_prefix(LICENSE_TOKEN_PREFIX)
        .ok_or(LicenseTokenError::Malformed)?;
    let raw = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| LicenseTokenError::Malformed)?;
    if raw.len() < 2 + SIGNATURE_LEN {
        return Err(LicenseTokenError::Malformed);
    }
    let len = u16::from_be_bytes([raw[0], raw[1]]) as usize;
    if raw.len() != 2 + len + SIGNATURE_LEN {
        return Err(LicenseTokenError::Malformed);
    }
    let body = raw[2..2 + len].to_vec();
    let signature = raw[2 + len..].to_vec();
    let claims: LicenseClaims = serde_json::from_slice(&body).map_err(|_| LicenseTokenError::Malformed)?;
    Ok((claims, body, signature))
}

/// The claims of `token` when its signature verifies with the key `keys` has for its `kid`.
/// Expiry is the caller's (it has the clock).
pub fn verify<'k>(
    token: &str,
    keys: impl IntoIterator<Item = &'k VerifyKey>,
) -> Result<LicenseClaims, LicenseTokenError> {
    let (claims, body, signature) = split(token)?;
    let key = keys
        .into_iter()
        .find(|key| key.kid == claims.kid)
        .ok_or(LicenseTokenError::UnknownKey)?;
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&body);
    UnparsedPublicKey::new(&ED25519, &key.public_key)
        .verify(&message, &signature)
        .map_err(|_| LicenseTokenError::BadSignature)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> LicenseClaims {
        LicenseClaims {
            kid: String::new(),
            license_id: "lic-1".into(),
            holder: "a@example.com".into(),
            workers: vec!["llm-worker-rbee-premium".into()],
            expires_at: 2_000_000_000,
        }
    }

    #[test]
    fn signs_and_verifies_with_only_the_public_key() {
        let (key, document) = SigningKey::generate().unwrap();
        let token = key.sign(&claims());
        assert!(token.starts_with(LICENSE_TOKEN_PREFIX));
        let public = key.public_key();
        let verified = verify(&token, [&public]).unwrap();
        assert_eq!(verified.workers, claims().workers);
        assert_eq!(verified.kid, key.kid());
        // The stored document gives back the same key.
        assert_eq!(SigningKey::from_pkcs8(&document).unwrap().kid(), key.kid());
        // The public-key file round-trips.
        let parsed = VerifyKey::parse_file(&format!("# keys\n{}\n\n", public.to_line())).unwrap();
        assert_eq!(parsed, vec![public]);
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let public = key.public_key();
        let token = key.sign(&claims());
        let bytes = token.as_bytes();
        for at in LICENSE_TOKEN_PREFIX.len()..bytes.len() {
            let mut forged = bytes.to_vec();
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            assert!(verify(&forged, [&public]).is_err(), "byte {at} flipped");
        }
    }

    #[test]
    fn other_keys_and_shapes_are_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let (other, _) = SigningKey::generate().unwrap();
        let token = key.sign(&claims());
        assert_eq!(
            verify(&token, [&other.public_key()]),
            Err(LicenseTokenError::UnknownKey)
        );
        // Another key's signature under this key's id.
        let mut impostor = other.public_key();
        impostor.kid = key.kid().to_string();
        assert_eq!(verify(&token, [&impostor]), Err(LicenseTokenError::BadSignature));
        for bad in ["", "rbee_lic_", "rbee_lic_!!!", "rbee_pub_abc", "rbee_lic_AAAA"] {
            assert_eq!(
                verify(bad, [&key.public_key()]),
                Err(LicenseTokenError::Malformed),
                "{bad}"
            );
        }
        assert!(VerifyKey::parse_file("ed25519 wrongkid AAAA").is_err());
        let line = key.public_key().to_line().replace(key.kid(), other.kid());
        assert!(VerifyKey::parse_file(&line).is_err());
    }
}
