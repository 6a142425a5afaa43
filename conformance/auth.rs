//! Authentication pieces of the client: `WWW-Authenticate` challenges (RFC 7235), the scopes
//! a token is asked for (the Docker token flow), and the Basic credentials header.

use std::collections::BTreeMap;

/// One challenge of a `WWW-Authenticate` header (RFC 7235): its scheme, lowercased, and its
/// parameters (names lowercased, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses the challenges of `WWW-Authenticate` values: `Bearer realm="…",service="…",
/// scope="repository:a/b:pull,push"`, several in one value (`Bearer realm="…", Basic
/// realm="…"`) or one per header. Commas inside quoted values stay in the value.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut challenges: Vec<Challenge> = Vec::new();
    for value in values {
        let mut chars = value.chars().peekable();
        loop {
            while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let mut token = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' || c == ',' || c.is_whitespace() {
                    break;
                }
                token.push(c);
                chars.next();
            }
            if token.is_empty() {
                if chars.next().is_none() {
                    break;
                }
                continue;
            }
            while matches!(chars.peek(), Some(c) if *c == ' ' || *c == '\t') {
                chars.next();
            }
            if chars.peek() != Some(&'=') {
                challenges.push(Challenge {
                    scheme: token.to_ascii_lowercase(),
                    params: BTreeMap::new(),
                });
                continue;
            }
            chars.next();
            while matches!(chars.peek(), Some(c) if *c == ' ' || *c == '\t') {
                chars.next();
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        _ => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' || c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            if let Some(challenge) = challenges.last_mut() {
                challenge.params.insert(token.to_ascii_lowercase(), value);
            }
        }
    }
    challenges
}

/// The scopes to ask the token endpoint for: those the challenge names (one `scope`
/// parameter may hold several, space-separated), all actions on the repository the request
/// is about (the endpoint grants what the credentials allow of them), and `pull` on the
/// source repository of a cross-repository mount.
pub fn token_scopes(challenge: &Challenge, repository: &str, mount_from: Option<&str>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    let mut add = |scope: String| {
        if !scope.is_empty() && !scopes.contains(&scope) {
            scopes.push(scope);
        }
    };
    if let Some(named) = challenge.params.get("scope") {
        named.split_whitespace().map(str::to_string).for_each(&mut add);
    }
    if !repository.is_empty() {
        add(format!("repository:{repository}:pull,push,delete"));
    }
    if let Some(from) = mount_from {
        add(format!("repository:{from}:pull"));
    }
    scopes
}

pub fn basic_auth_value(user: &str, pass: &str) -> String {
    // Minimal base64 to avoid another dependency.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    format!("Basic {out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn challenges_parse_with_quoted_commas_and_several_per_header() {
        let found = parse_challenges([
            r#"Bearer realm="https://r.example/token",service="r.example",scope="repository:a/b:pull,push""#,
        ]);
        assert_eq!(
            found,
            [Challenge {
                scheme: "bearer".into(),
                params: params(&[
                    ("realm", "https://r.example/token"),
                    ("service", "r.example"),
                    ("scope", "repository:a/b:pull,push"),
                ]),
            }]
        );
        let found = parse_challenges([
            r#"Bearer realm="https://r/token", error="invalid_token", Basic realm="r""#,
            "basic realm=plain",
        ]);
        let schemes: Vec<_> = found.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["bearer", "basic", "basic"]);
        assert_eq!(found[0].params["error"], "invalid_token");
        assert_eq!(found[1].params["realm"], "r");
        assert_eq!(found[2].params["realm"], "plain");
        let found = parse_challenges([r#"Bearer realm = "x\"y" , scope="registry:catalog:*""#]);
        assert_eq!(found[0].params["realm"], "x\"y");
        assert_eq!(found[0].params["scope"], "registry:catalog:*");
        assert!(parse_challenges(["", " , "]).is_empty());
    }

    #[test]
    fn token_scopes_cover_the_challenge_the_repository_and_a_mount_source() {
        let challenge = Challenge {
            scheme: "bearer".into(),
            params: params(&[("scope", "repository:a:pull repository:b:pull")]),
        };
        assert_eq!(
            token_scopes(&challenge, "a", Some("c")),
            [
                "repository:a:pull",
                "repository:b:pull",
                "repository:a:pull,push,delete",
                "repository:c:pull"
            ]
        );
        let bare = Challenge {
            scheme: "bearer".into(),
            params: BTreeMap::new(),
        };
        assert!(token_scopes(&bare, "", None).is_empty());
    }
}
