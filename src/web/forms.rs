//! Form pieces of the pages: a labelled field whose hint and error are tied to it with
//! `aria-describedby` (and `aria-invalid` when it has an error), the hidden form token, and
//! the values and errors a re-shown form carries.

use maud::{html, Markup};

/// Name of the hidden field holding the form token (`auth::csrf`).
pub const FORM_TOKEN_FIELD: &str = "form_token";

/// What a form shows again after a refusal: the values typed and an error per field, plus
/// one error about the whole form.
#[derive(Debug, Clone, Default)]
pub struct FormState {
    values: Vec<(&'static str, String)>,
    errors: Vec<(&'static str, String)>,
    /// An error that belongs to no one field (shown above the form, announced).
    pub form_error: Option<String>,
}

impl FormState {
    pub fn with_value(mut self, field: &'static str, value: impl Into<String>) -> Self {
        self.values.push((field, value.into()));
        self
    }

    pub fn add_error(&mut self, field: &'static str, error: impl Into<String>) {
        self.errors.push((field, error.into()));
    }

    pub fn value(&self, field: &str) -> &str {
        self.values
            .iter()
            .find(|(name, _)| *name == field)
            .map_or("", |(_, value)| value.as_str())
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, error)| error.as_str())
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.form_error.is_some()
    }
}

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Email,
    Password,
    TextArea,
}

/// One labelled field: `name` is also its id's stem; `hint` and the error are described by it.
pub struct Field<'a> {
    pub name: &'static str,
    pub label: &'a str,
    pub kind: FieldKind,
    pub hint: Option<&'a str>,
    pub required: bool,
    pub autocomplete: &'a str,
}

impl Field<'_> {
    pub fn render(&self, state: &FormState) -> Markup {
        let id = format!("field-{}", self.name);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let error = state.error(self.name);
        let mut described = Vec::new();
        if self.hint.is_some() {
            described.push(hint_id.clone());
        }
        if error.is_some() {
            described.push(error_id.clone());
        }
        let described = (!described.is_empty()).then(|| described.join(" "));
        let invalid = error.map(|_| "true");
        // Secrets are never written back into a page.
        let value = match self.kind {
            FieldKind::Password => "",
            _ => state.value(self.name),
        };
        html! {
            div class="field" {
                label for=(id) { (self.label) }
                @if let Some(hint) = self.hint {
                    p class="hint muted" id=(hint_id) { (hint) }
                }
                @if let Some(error) = error {
                    p class="field-error" id=(error_id) { (error) }
                }
                @match self.kind {
                    FieldKind::TextArea => {
                        textarea id=(id) name=(self.name) rows="3" required[self.required]
                            aria-describedby=[described.as_deref()] aria-invalid=[invalid]
                            autocomplete=(self.autocomplete) spellcheck="false" { (value) }
                    }
                    kind => {
                        @let kind = match kind { FieldKind::Email => "email", FieldKind::Password => "password", _ => "text" };
                        input id=(id) name=(self.name) type=(kind) value=(value) required[self.required]
                            aria-describedby=[described.as_deref()] aria-invalid=[invalid]
                            autocomplete=(self.autocomplete) spellcheck="false";
                    }
                }
            }
        }
    }
}

/// The hidden form token every form carries.
pub fn form_token(token: &str) -> Markup {
    html! { input type="hidden" name=(FORM_TOKEN_FIELD) value=(token); }
}

/// The error about the whole form, announced when the page loads after a refusal.
pub fn form_error(state: &FormState) -> Markup {
    html! {
        @if let Some(error) = &state.form_error {
            div class="notice error" role="alert" id="form-error" { p { (error) } }
        } @else if state.has_errors() {
            div class="notice error" role="alert" id="form-error" { p { "Please correct the fields marked below." } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_tied_to_their_field_and_values_escaped() {
        let mut state = FormState::default().with_value("holder", "<b>x</b>");
        state.add_error("holder", "not an e-mail address");
        let field = Field {
            name: "holder",
            label: "Holder",
            kind: FieldKind::Email,
            hint: Some("Their e-mail"),
            required: true,
            autocomplete: "off",
        };
        let html = field.render(&state).into_string();
        assert!(
            html.contains(r#"aria-describedby="field-holder-hint field-holder-error""#),
            "{html}"
        );
        assert!(html.contains(r#"aria-invalid="true""#));
        assert!(html.contains(r#"id="field-holder-error""#));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && !html.contains("<b>x"));
        let secret = Field {
            kind: FieldKind::Password,
            ..field
        };
        let state = FormState::default().with_value("holder", "rbee_adm_secret");
        assert!(!secret.render(&state).into_string().contains("rbee_adm_secret"));
    }
}
