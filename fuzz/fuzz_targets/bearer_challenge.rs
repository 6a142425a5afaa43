//! The client's `WWW-Authenticate: Bearer …` challenge parser (`client::parse_bearer_challenge`).
//! (The server's token parsers are the `tokens` target.)
//!
//! Two inputs from one: the bytes as a header, and a challenge built from fuzzed parameter
//! values (quoted, in a fuzzed order and spacing), which must parse back to those values.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rbee_registry::client::{parse_bearer_challenge, BearerChallenge};

fn check_header(header: &str) {
    if let Some(challenge) = parse_bearer_challenge(header) {
        let scheme = header.trim().get(..7);
        assert!(
            matches!(scheme, Some("Bearer " | "bearer ")),
            "{header:?} is no Bearer challenge"
        );
        assert!(
            header.to_ascii_lowercase().contains("realm"),
            "{challenge:?} from {header:?}"
        );
    }
}

/// A parameter value a server would send quoted: no `"` or `\` (no escapes needed).
fn value(u: &mut Unstructured<'_>) -> Option<String> {
    let text = String::arbitrary(u).ok()?;
    (!text.contains(['"', '\\'])).then_some(text)
}

fn check_built(u: &mut Unstructured<'_>) -> Option<()> {
    let realm = value(u)?;
    let service = bool::arbitrary(u).ok()?.then(|| value(u)).flatten();
    let scope = bool::arbitrary(u).ok()?.then(|| value(u)).flatten();
    let mut parameters = vec![("realm", realm.clone())];
    parameters.extend(service.clone().map(|s| ("service", s)));
    parameters.extend(scope.clone().map(|s| ("scope", s)));
    let rotate = usize::from(u8::arbitrary(u).ok()?) % parameters.len();
    parameters.rotate_left(rotate);
    let separator = if bool::arbitrary(u).ok()? { ", " } else { "," };
    let upper_keys = bool::arbitrary(u).ok()?;
    let body: Vec<String> = parameters
        .iter()
        .map(|(key, value)| {
            let key = if upper_keys {
                key.to_ascii_uppercase()
            } else {
                key.to_string()
            };
            format!("{key}=\"{value}\"")
        })
        .collect();
    let header = format!("Bearer {}", body.join(separator));
    let expected = BearerChallenge { realm, service, scope };
    assert_eq!(parse_bearer_challenge(&header), Some(expected), "{header:?}");
    Some(())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        check_header(header);
    }
    let _ = check_built(&mut Unstructured::new(data));
});
