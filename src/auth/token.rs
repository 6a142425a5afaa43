//! Registry tokens: JWTs (`header.payload.signature`, base64url without padding) signed with
//! Ed25519 (`alg` pinned to `EdDSA`, the key named by `kid`), carrying `iss`, `sub`, `aud`,
//! `exp`, `nbf`, `iat`, `jti` and `access: [{type, name, actions}]`.
//!
//! Pure: keys are passed in. Verification refuses any other `alg` (`none`, HMAC, RSA, …)
//! before looking at the signature, a `kid` not among the given keys, a bad signature, an
//! expired or not-yet-valid token (beyond `skew` seconds), another audience or issuer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use super::scopes::AccessEntry;

/// The one signature algorithm of tokens.
pub const ALGORITHM: &str = "EdDSA";

/// Why a token was refused. The registry answers every one as `invalid_token` and never
/// tells the client which (the variant is for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token signed with an algorithm other than EdDSA")]
    Algorithm,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("bad token signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token for another audience")]
    Audience,
    #[error("token from another issuer")]
    Issuer,
    #[error("could not make a key")]
    KeyGeneration,
}

impl TokenError {
    /// A fixed label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Algorithm => "algorithm",
            TokenError::UnknownKey => "unknown_key",
            TokenError::Signature => "signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::Audience => "audience",
            TokenError::Issuer => "issuer",
            TokenError::KeyGeneration => "key_generation",
        }
    }
}

/// A signing key: an Ed25519 key pair and its id. Its `Debug` shows the id only.
pub struct SigningKey {
    kid: String,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

/// A new key's material: the PKCS#8 document (secret) and the public key.
pub struct NewKey {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    pub public: Vec<u8>,
}

impl SigningKey {
    /// A fresh key pair from the system's random source.
    pub fn generate() -> Result<NewKey, TokenError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| TokenError::KeyGeneration)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| TokenError::KeyGeneration)?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(NewKey {
            kid: kid_of(&public),
            pkcs8: pkcs8.as_ref().to_vec(),
            public,
        })
    }

    /// The key stored as PKCS#8.
    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Self, TokenError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| TokenError::Malformed)?;
        Ok(SigningKey {
            kid: kid.to_string(),
            pair,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            kid: self.kid.clone(),
            bytes: self.pair.public_key().as_ref().to_vec(),
        }
    }
}

/// A key id: base64url of the first 12 bytes of the public key's SHA-256.
pub fn kid_of(public: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public);
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12])
}

/// A public key that verifies tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    pub bytes: Vec<u8>,
}

impl PublicKey {
    /// The key as a JWK (RFC 8037: `OKP`, `Ed25519`).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(&self.bytes),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        })
    }
}

/// The claims of a registry token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    /// Unix seconds.
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<AccessEntry>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// Signs `claims` with `key`.
pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let header = Header {
        alg: ALGORITHM.into(),
        typ: Some("JWT".into()),
        kid: Some(key.kid.clone()),
    };
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("a header serializes"));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{payload}");
    let signature = key.pair.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// What a token must match besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// Clock difference tolerated on `exp` and `nbf`, seconds.
    pub skew: i64,
}

/// The `kid` a token's header names, if the token has the shape of one (no check of anything).
pub fn kid_of_token(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header.kid
}

/// Checks `token` against `keys` and `validation`; its claims when it passes.
pub fn verify(token: &str, keys: &[PublicKey], validation: &Validation<'_>) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header_text), Some(payload_text), Some(signature_text), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(header_text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != ALGORITHM {
        return Err(TokenError::Algorithm);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = keys.iter().find(|key| key.kid == kid).ok_or(TokenError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_text)
        .map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..header_text.len() + 1 + payload_text.len()];
    UnparsedPublicKey::new(&ED25519, &key.bytes)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload_text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.exp + validation.skew < validation.now {
        return Err(TokenError::Expired);
    }
    if claims.nbf - validation.skew > validation.now {
        return Err(TokenError::NotYetValid);
    }
    if claims.aud != validation.audience {
        return Err(TokenError::Audience);
    }
    if claims.iss != validation.issuer {
        return Err(TokenError::Issuer);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let new = SigningKey::generate().unwrap();
        SigningKey::from_pkcs8(&new.kid, &new.pkcs8).unwrap()
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "rbee".into(),
            sub: "anonymous".into(),
            aud: "rbee".into(),
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: "j".into(),
            access: vec![AccessEntry {
                kind: "repository".into(),
                name: "a".into(),
                actions: vec!["pull".into()],
            }],
        }
    }

    fn validation(now: i64) -> Validation<'static> {
        Validation {
            issuer: "rbee",
            audience: "rbee",
            now,
            skew: 30,
        }
    }

    fn encode(value: serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn signs_and_verifies() {
        let key = key();
        let token = sign(&claims(1000), &key);
        assert_eq!(kid_of_token(&token).as_deref(), Some(key.kid()));
        assert_eq!(verify(&token, &[key.public_key()], &validation(1000)), Ok(claims(1000)));
        // Within the skew either side.
        assert!(verify(&token, &[key.public_key()], &validation(1320)).is_ok());
        assert!(verify(&token, &[key.public_key()], &validation(975)).is_ok());
    }

    #[test]
    fn refuses_bad_tokens() {
        let key = key();
        let other = key_with_kid_of(&key);
        let keys = [key.public_key()];
        let token = sign(&claims(1000), &key);
        let (header, payload, _) = split(&token);
        let check = |token: &str, now| verify(token, &keys, &validation(now));
        assert_eq!(check(&token, 1331), Err(TokenError::Expired));
        assert_eq!(check(&token, 969), Err(TokenError::NotYetValid));
        // Another key with the same kid: forged signature.
        assert_eq!(check(&sign(&claims(1000), &other), 1000), Err(TokenError::Signature));
        // Unknown kid.
        assert_eq!(
            verify(&token, &[other_kid(&key)], &validation(1000)),
            Err(TokenError::UnknownKey)
        );
        // alg none, with and without a signature part.
        let none = encode(serde_json::json!({"alg": "none", "kid": key.kid()}));
        assert_eq!(check(&format!("{none}.{payload}."), 1000), Err(TokenError::Algorithm));
        assert_eq!(check(&format!("{none}.{payload}"), 1000), Err(TokenError::Malformed));
        // HMAC signed with the public key as the secret.
        let hs = encode(serde_json::json!({"alg": "HS256", "kid": key.kid()}));
        let input = format!("{hs}.{payload}");
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key.public_key().bytes),
            input.as_bytes(),
        );
        let hmac_token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
        assert_eq!(check(&hmac_token, 1000), Err(TokenError::Algorithm));
        // A tampered payload (more access) under the original signature.
        let mut more = claims(1000);
        more.access[0].actions.push("push".into());
        let tampered = format!(
            "{header}.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&more).unwrap()),
            split(&token).2
        );
        assert_eq!(check(&tampered, 1000), Err(TokenError::Signature));
        // Audience and issuer.
        let mut wrong = claims(1000);
        wrong.aud = "elsewhere".into();
        assert_eq!(check(&sign(&wrong, &key), 1000), Err(TokenError::Audience));
        let mut wrong = claims(1000);
        wrong.iss = "elsewhere".into();
        assert_eq!(check(&sign(&wrong, &key), 1000), Err(TokenError::Issuer));
        for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert_eq!(check(garbage, 1000), Err(TokenError::Malformed), "{garbage:?}");
        }
    }

    #[test]
    fn jwk_shape() {
        let key = key();
        let jwk = key.public_key().jwk();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
    }

    fn split(token: &str) -> (&str, &str, &str) {
        let mut parts = token.splitn(3, '.');
        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap())
    }

    fn key_with_kid_of(key: &SigningKey) -> SigningKey {
        let new = SigningKey::generate().unwrap();
        SigningKey::from_pkcs8(key.kid(), &new.pkcs8).unwrap()
    }

    fn other_kid(key: &SigningKey) -> PublicKey {
        PublicKey {
            kid: "someone-else".into(),
            bytes: key.public_key().bytes,
        }
    }
}
