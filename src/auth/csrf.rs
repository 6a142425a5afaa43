//! Form tokens of the browser pages (cross-site request forgery): a form's hidden token is
//! the HMAC-SHA256 of a purpose under the secret of the cookie the page set (the admin
//! session, or the login form's nonce). A forging site can neither read that cookie
//! (`HttpOnly`, `SameSite=Strict`) nor the page, so it cannot compute the token; the server
//! stores nothing besides the session it already knows. Checked in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// What a form token is for: the same cookie secret gives a different token per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    /// The login form (bound to the login nonce cookie).
    Login,
    /// Every form of a signed-in admin (bound to the session cookie).
    Admin,
}

impl FormPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            FormPurpose::Login => b"rbee-registry form token: login",
            FormPurpose::Admin => b"rbee-registry form token: admin session",
        }
    }
}

/// The form token of `cookie_secret` for `purpose` (base64url).
pub fn form_token(cookie_secret: &str, purpose: FormPurpose) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, cookie_secret.as_bytes());
    URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, purpose.label()).as_ref())
}

/// Whether `presented` is the form token of `cookie_secret` for `purpose`; constant time.
pub fn form_token_valid(cookie_secret: &str, purpose: FormPurpose, presented: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(presented) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, cookie_secret.as_bytes());
    ring::hmac::verify(&key, purpose.label(), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_are_bound_to_their_secret_and_purpose() {
        let token = form_token("secret-one", FormPurpose::Admin);
        assert!(form_token_valid("secret-one", FormPurpose::Admin, &token));
        assert!(!form_token_valid("secret-two", FormPurpose::Admin, &token));
        assert!(!form_token_valid("secret-one", FormPurpose::Login, &token));
        assert!(!form_token_valid("secret-one", FormPurpose::Admin, ""));
        assert!(!form_token_valid("secret-one", FormPurpose::Admin, "not base64!"));
        assert_ne!(token, form_token("secret-two", FormPurpose::Admin));
    }
}
