//! The server's token parsers: the scope grammar (`auth::scopes::parse_scopes`, from `scope=`
//! parameters) and token verification (`auth::token::verify`, from `Authorization: Bearer`).
//!
//! Invariants: a parsed scope prints back to a scope that parses to the same access, and its
//! repository name has no `:`; a token built by flipping fuzzed bytes of a signed token, or
//! the raw input as a token, is refused unless it carries exactly the signed claims (the
//! signature covers them); `verify` never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rbee_registry::auth::scopes::{parse_scope, parse_scopes, Access, AccessEntry};
use rbee_registry::auth::token::{sign, verify, Claims, PublicKey, SigningKey, Validation};

struct Fixture {
    token: String,
    claims: Claims,
    keys: Vec<PublicKey>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let new = SigningKey::generate().unwrap();
        let key = SigningKey::from_pkcs8(&new.kid, &new.pkcs8).unwrap();
        let claims = Claims {
            iss: "rbee".into(),
            sub: "anonymous".into(),
            aud: "rbee".into(),
            exp: 2_000,
            nbf: 1_000,
            iat: 1_000,
            jti: "j".into(),
            access: vec![AccessEntry {
                kind: "repository".into(),
                name: "workers/a".into(),
                actions: vec!["pull".into()],
            }],
        };
        Fixture {
            token: sign(&claims, &key),
            claims,
            keys: vec![key.public_key()],
        }
    })
}

const VALIDATION: Validation<'static> = Validation {
    issuer: "rbee",
    audience: "rbee",
    now: 1_500,
    skew: 30,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for access in parse_scopes([text.as_ref()]) {
        if let Access::Repository { name, .. } = &access {
            assert!(!name.as_str().contains(':'), "{name}");
        }
        assert_eq!(parse_scope(&access.to_scope()), Some(access.clone()), "{access:?}");
        assert_eq!(access.to_entry().to_access(), Some(access));
    }

    let fixture = fixture();
    if let Ok(claims) = verify(&text, &fixture.keys, &VALIDATION) {
        assert_eq!(claims, fixture.claims, "an unsigned token was accepted: {text:?}");
    }
    let mut mutated = fixture.token.clone().into_bytes();
    for pair in data.chunks(2) {
        if let [at, bits] = pair {
            let at = usize::from(*at) * mutated.len() / 256;
            mutated[at] ^= bits;
        }
    }
    let mutated = String::from_utf8_lossy(&mutated);
    if let Ok(claims) = verify(&mutated, &fixture.keys, &VALIDATION) {
        assert_eq!(claims, fixture.claims, "a changed token was accepted: {mutated:?}");
    }
});
