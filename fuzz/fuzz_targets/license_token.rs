//! License tokens (`auth::license_token`): a token text from the fuzzer, and a genuine token
//! with fuzzed edits.
//!
//! Invariants: `peek` and `verify` never panic; a text verifies with the fixed key only if it
//! is exactly a token that key signed for the same claims (so any edit of a genuine token is
//! refused); a fuzzed set of claims signs and verifies back to itself.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rbee_registry::auth::license_token::{peek, verify, LicenseClaims, SigningKey};

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("a key").0)
}

fn check_text(text: &str) {
    let key = key();
    let public = key.public_key();
    let _ = peek(text);
    if let Ok(claims) = verify(text, [&public]) {
        // Ed25519 signatures are deterministic: the same claims sign to the same token.
        assert_eq!(key.sign(&claims), text, "a text that is not this key's token verified");
    }
}

fn check_claims(u: &mut Unstructured<'_>) -> Option<()> {
    let claims = LicenseClaims {
        kid: String::new(),
        license_id: String::arbitrary(u).ok()?,
        holder: String::arbitrary(u).ok()?,
        workers: Vec::<String>::arbitrary(u).ok()?,
        expires_at: i64::arbitrary(u).ok()?,
    };
    let key = key();
    let token = key.sign(&claims);
    if token.len() > rbee_registry::auth::license_token::MAX_TOKEN_LEN {
        return Some(());
    }
    let verified = verify(&token, [&key.public_key()]).expect("a signed token verifies");
    assert_eq!(verified.workers, claims.workers);
    assert_eq!(verified.expires_at, claims.expires_at);
    // One edited character of the token is refused.
    let at = usize::from(u16::arbitrary(u).ok()?) % token.len();
    let replacement = char::from(u8::arbitrary(u).ok()? % 94 + 33);
    let mut edited: Vec<char> = token.chars().collect();
    if edited[at] != replacement {
        edited[at] = replacement;
        let edited: String = edited.into_iter().collect();
        assert!(verify(&edited, [&key.public_key()]).is_err(), "{edited}");
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
    }
    let _ = check_claims(&mut Unstructured::new(data));
});
