//! `/licenses/check`: a license holder pastes a license token (posted, never in a URL) and
//! sees which workers it covers and until when: the answer of `POST /v1/licenses/verify`.

use maud::{html, Markup};

use super::forms::{Field, FieldKind, FormState};
use super::{layout, Section};

/// The verdict shown, as `/v1/licenses/verify` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckAnswer {
    Valid {
        workers: Vec<String>,
        /// RFC 3339, as the API's `expires_at`.
        expires_at: String,
    },
    /// The API's `reason`: `invalid`, `expired` or `revoked`.
    Invalid(&'static str),
}

fn reason_text(reason: &str) -> &'static str {
    match reason {
        "revoked" => "This license was revoked: it no longer gives access to any worker.",
        "expired" => "This license has expired.",
        _ => "This is not a valid license token of this registry.",
    }
}

/// The form, with the answer to the last check (`answer`) or a field error (`state`).
pub fn license_check_page(answer: Option<&CheckAnswer>, state: &FormState) -> Markup {
    let field = Field {
        name: "token",
        label: "License token",
        kind: FieldKind::TextArea,
        hint: Some("Paste the whole token; it starts with rbee_lic_. It is checked and not kept."),
        required: true,
        autocomplete: "off",
    };
    layout(
        "Check a license",
        Section::Licenses,
        html! {
            h1 { "Check a license" }
            @match answer {
                Some(CheckAnswer::Valid { workers, expires_at }) => {
                    section id="check-result" class="notice" role="status" data-valid="true" aria-labelledby="result-heading" {
                        h2 id="result-heading" { "Valid license" }
                        dl {
                            dt { "Covers" }
                            dd { ul id="check-workers" { @for worker in workers { li { code { (worker) } } } } }
                            dt { "Valid until" }
                            dd { time id="check-expires" datetime=(expires_at) { (expires_at) } }
                        }
                    }
                }
                Some(CheckAnswer::Invalid(reason)) => {
                    section id="check-result" class="notice error" role="status" data-valid="false"
                        data-reason=(reason) aria-labelledby="result-heading" {
                        h2 id="result-heading" { "Not valid: " (reason) }
                        p { (reason_text(reason)) }
                    }
                }
                None => {}
            }
            form method="post" action="/licenses/check" {
                (field.render(state))
                button type="submit" { "Check license" }
            }
            p class="muted" { "Programs ask the same question with " code { "POST /v1/licenses/verify" } "." }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_show_workers_expiry_or_the_reason() {
        let valid = CheckAnswer::Valid {
            workers: vec!["<b>w</b>".into()],
            expires_at: "2027-01-31T00:00:00Z".into(),
        };
        let page = license_check_page(Some(&valid), &FormState::default()).into_string();
        assert!(page.contains(r#"data-valid="true""#) && page.contains("&lt;b&gt;w&lt;/b&gt;"));
        assert!(page.contains(r#"datetime="2027-01-31T00:00:00Z""#));
        let page = license_check_page(Some(&CheckAnswer::Invalid("revoked")), &FormState::default()).into_string();
        assert!(page.contains(r#"data-reason="revoked""#) && page.contains("was revoked"));
    }
}
