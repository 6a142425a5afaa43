//! The admin pages (behind the admin sign-in): sign-in, overview, licenses (list, issue,
//! revoke with a confirmation step) and publisher tokens (list, create, revoke with a
//! confirmation step). Every form carries its form token (`forms::form_token`). A new
//! secret is rendered only by the page answering the request that made it.

use maud::{html, Markup};

use super::forms::{self, Field, FieldKind, FormState};
use super::{layout, Section};

/// A license as the list shows it (never its token).
#[derive(Debug, Clone)]
pub struct LicenseView {
    pub id: String,
    pub holder: String,
    pub workers: Vec<String>,
    /// RFC 3339.
    pub expires: String,
    /// `active`, `expired` or `cancelled`.
    pub status: &'static str,
}

impl LicenseView {
    fn active(&self) -> bool {
        self.status == "active"
    }
}

/// A publisher token as the list shows it (never the token).
#[derive(Debug, Clone)]
pub struct PublisherView {
    pub name: String,
    pub patterns: Vec<String>,
    pub allow_delete: bool,
    /// RFC 3339, or `None`: never.
    pub expires: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

/// Which admin page is shown (marked in the admin navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminPage {
    Overview,
    Licenses,
    Publishers,
}

/// The frame of the signed-in pages: admin navigation, sign-out form, then `content`.
fn admin_layout(title: &str, page: AdminPage, token: &str, content: Markup) -> Markup {
    let item = |href: &str, label: &str, this: AdminPage| {
        html! {
            li {
                @if this == page { a href=(href) aria-current="page" { (label) } }
                @else { a href=(href) { (label) } }
            }
        }
    };
    layout(
        title,
        Section::Admin,
        html! {
            div class="admin-bar" {
                nav aria-label="Admin" {
                    ul {
                        (item("/admin", "Overview", AdminPage::Overview))
                        (item("/admin/licenses", "Licenses", AdminPage::Licenses))
                        (item("/admin/publishers", "Publisher tokens", AdminPage::Publishers))
                    }
                }
                form method="post" action="/admin/logout" {
                    (forms::form_token(token))
                    button type="submit" { "Sign out" }
                }
            }
            (content)
        },
    )
}

/// `GET /admin/login`: the admin token field.
pub fn login_page(token: &str, state: &FormState) -> Markup {
    let field = Field {
        name: "admin_token",
        label: "Admin token",
        kind: FieldKind::Password,
        hint: Some("The token serve wrote to <data_dir>/admin-token (it starts with rbee_adm_)."),
        required: true,
        autocomplete: "current-password",
    };
    layout(
        "Sign in",
        Section::Admin,
        html! {
            h1 { "Sign in to manage licenses" }
            (forms::form_error(state))
            form method="post" action="/admin/login" {
                (forms::form_token(token))
                (field.render(state))
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /admin`: counts and where to go.
pub fn overview_page(token: &str, licenses: &[LicenseView], publishers: &[PublisherView]) -> Markup {
    let active_licenses = licenses.iter().filter(|l| l.active()).count();
    let active_publishers = publishers.iter().filter(|p| p.status == "active").count();
    admin_layout(
        "Admin",
        AdminPage::Overview,
        token,
        html! {
            h1 { "Admin" }
            section aria-labelledby="overview-licenses" {
                h2 id="overview-licenses" { "Licenses" }
                p { (active_licenses) " active of " (licenses.len()) " issued. "
                    a href="/admin/licenses" { "Manage licenses" } }
            }
            section aria-labelledby="overview-publishers" {
                h2 id="overview-publishers" { "Publisher tokens" }
                p { (active_publishers) " active of " (publishers.len()) ". "
                    a href="/admin/publishers" { "Manage publisher tokens" } }
            }
        },
    )
}

fn license_table(licenses: &[LicenseView]) -> Markup {
    html! {
        @if licenses.is_empty() {
            p class="muted" { "No license issued yet." }
        } @else {
            table {
                caption class="visually-hidden" { "Issued licenses" }
                thead { tr { th scope="col" { "License" } th scope="col" { "Holder" } th scope="col" { "Workers" }
                    th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { "Action" } } }
                tbody {
                    @for license in licenses {
                        tr {
                            td { code { (license.id) } }
                            td { (license.holder) }
                            td { (license.workers.join(", ")) }
                            td { time datetime=(license.expires) { (license.expires) } }
                            td { span class={ "status " (license.status) } { (license.status) } }
                            td {
                                @if license.active() {
                                    a href={ "/admin/licenses/" (license.id) "/revoke" }
                                        aria-label={ "Revoke license " (license.id) " of " (license.holder) } { "Revoke…" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /admin/licenses`: the list and the issue form (`state`: values and errors of a
/// refused issue; `notice`: what the last action did).
pub fn licenses_page(token: &str, licenses: &[LicenseView], state: &FormState, notice: Option<&str>) -> Markup {
    let fields = [
        Field {
            name: "holder",
            label: "Holder e-mail",
            kind: FieldKind::Email,
            hint: None,
            required: true,
            autocomplete: "off",
        },
        Field {
            name: "workers",
            label: "Workers",
            kind: FieldKind::Text,
            hint: Some("Worker ids, separated by spaces or commas (llm-worker-rbee-premium)."),
            required: true,
            autocomplete: "off",
        },
        Field {
            name: "expires",
            label: "Expires",
            kind: FieldKind::Text,
            hint: Some("A duration from now (365d, 12h) or a date (2027-01-31)."),
            required: true,
            autocomplete: "off",
        },
    ];
    admin_layout(
        "Licenses",
        AdminPage::Licenses,
        token,
        html! {
            h1 { "Licenses" }
            @if let Some(notice) = notice { div class="notice" role="status" { p { (notice) } } }
            (license_table(licenses))
            section aria-labelledby="issue-heading" {
                h2 id="issue-heading" { "Issue a license" }
                (forms::form_error(state))
                form method="post" action="/admin/licenses" {
                    (forms::form_token(token))
                    @for field in &fields { (field.render(state)) }
                    button type="submit" { "Issue license" }
                }
            }
        },
    )
}

/// The one page that shows a new secret, with what it is for.
fn secret_panel(what: &str, secret: &str) -> Markup {
    html! {
        div class="notice secret" role="status" {
            p { "Copy the " (what) " now: it is shown only on this page and cannot be shown again." }
            label for="new-secret" { "New " (what) }
            textarea id="new-secret" readonly rows="4" spellcheck="false" autocomplete="off" { (secret) }
        }
    }
}

/// The answer to a successful issue: the license and its token, once.
pub fn license_issued_page(token: &str, license: &LicenseView, secret: &str) -> Markup {
    admin_layout(
        "License issued",
        AdminPage::Licenses,
        token,
        html! {
            h1 { "License issued" }
            dl {
                dt { "License" } dd { code { (license.id) } }
                dt { "Holder" } dd { (license.holder) }
                dt { "Workers" } dd { (license.workers.join(", ")) }
                dt { "Expires" } dd { time datetime=(license.expires) { (license.expires) } }
            }
            (secret_panel("license token", secret))
            p { a href="/admin/licenses" { "Back to the licenses" } }
        },
    )
}

/// The confirmation step of revoking: a checkbox that must be ticked and the revoke button.
fn confirm_form(token: &str, action: &str, cancel: &str, question: &str, button: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action=(action) {
            (forms::form_token(token))
            @if let Some(error) = error {
                div class="notice error" role="alert" id="confirm-error" { p { (error) } }
            }
            div class="field checkbox" {
                input type="checkbox" id="field-confirm" name="confirm" value="yes" required
                    aria-describedby=[error.map(|_| "confirm-error")] aria-invalid=[error.map(|_| "true")];
                label for="field-confirm" { (question) }
            }
            button type="submit" class="danger" { (button) }
            " "
            a href=(cancel) { "Cancel" }
        }
    }
}

/// `GET /admin/licenses/{id}/revoke`: what will be revoked, and the confirmation.
pub fn revoke_license_page(token: &str, license: &LicenseView, error: Option<&str>) -> Markup {
    admin_layout(
        "Revoke license",
        AdminPage::Licenses,
        token,
        html! {
            h1 { "Revoke license " code { (license.id) } }
            p { "Revoking is immediate and final: " (license.holder) " can no longer get tokens or download "
                (license.workers.join(", ")) " with this license, on every registry process." }
            (confirm_form(token, &format!("/admin/licenses/{}/revoke", license.id), "/admin/licenses",
                "Yes, revoke this license", "Revoke license", error))
        },
    )
}

fn publisher_table(publishers: &[PublisherView]) -> Markup {
    html! {
        @if publishers.is_empty() {
            p class="muted" { "No publisher token yet." }
        } @else {
            table {
                caption class="visually-hidden" { "Publisher tokens" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Repositories" } th scope="col" { "May delete" }
                    th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { "Action" } } }
                tbody {
                    @for publisher in publishers {
                        tr {
                            td { code { (publisher.name) } }
                            td { (publisher.patterns.join(" ")) }
                            td { @if publisher.allow_delete { "yes" } @else { "no" } }
                            td { @if let Some(expires) = &publisher.expires { time datetime=(expires) { (expires) } } @else { "never" } }
                            td { span class={ "status " (publisher.status) } { (publisher.status) } }
                            td {
                                @if publisher.status == "active" {
                                    a href={ "/admin/publishers/" (publisher.name) "/revoke" }
                                        aria-label={ "Revoke publisher token " (publisher.name) } { "Revoke…" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /admin/publishers`: the list and the create form.
pub fn publishers_page(token: &str, publishers: &[PublisherView], state: &FormState, notice: Option<&str>) -> Markup {
    let fields = [
        Field {
            name: "name",
            label: "Name",
            kind: FieldKind::Text,
            hint: Some("1 to 64 of a-z, 0-9, '.', '_', '-' (the CI job or team)."),
            required: true,
            autocomplete: "off",
        },
        Field {
            name: "repos",
            label: "Repository patterns",
            kind: FieldKind::TextArea,
            hint: Some("Where it may push, separated by spaces or lines: workers/*, workers/llm-*, team/**."),
            required: true,
            autocomplete: "off",
        },
        Field {
            name: "expires",
            label: "Expires (optional)",
            kind: FieldKind::Text,
            hint: Some("A duration from now (90d) or a date (2027-01-31); empty: never."),
            required: false,
            autocomplete: "off",
        },
    ];
    admin_layout(
        "Publisher tokens",
        AdminPage::Publishers,
        token,
        html! {
            h1 { "Publisher tokens" }
            @if let Some(notice) = notice { div class="notice" role="status" { p { (notice) } } }
            (publisher_table(publishers))
            section aria-labelledby="create-heading" {
                h2 id="create-heading" { "Create a publisher token" }
                (forms::form_error(state))
                form method="post" action="/admin/publishers" {
                    (forms::form_token(token))
                    @for field in &fields { (field.render(state)) }
                    div class="field checkbox" {
                        input type="checkbox" id="field-allow_delete" name="allow_delete" value="yes"
                            checked[state.value("allow_delete") == "yes"];
                        label for="field-allow_delete" { "Also allow deleting in those repositories" }
                    }
                    button type="submit" { "Create token" }
                }
            }
        },
    )
}

/// The answer to a successful create: the publisher and its token, once.
pub fn publisher_created_page(token: &str, publisher: &PublisherView, secret: &str) -> Markup {
    admin_layout(
        "Publisher token created",
        AdminPage::Publishers,
        token,
        html! {
            h1 { "Publisher token created" }
            dl {
                dt { "Name" } dd { code { (publisher.name) } }
                dt { "Repositories" } dd { (publisher.patterns.join(" ")) }
                dt { "May delete" } dd { @if publisher.allow_delete { "yes" } @else { "no" } }
                dt { "Expires" } dd { (publisher.expires.as_deref().unwrap_or("never")) }
            }
            (secret_panel("publisher token", secret))
            p { a href="/admin/publishers" { "Back to the publisher tokens" } }
        },
    )
}

/// `GET /admin/publishers/{name}/revoke`: what will be revoked, and the confirmation.
pub fn revoke_publisher_page(token: &str, publisher: &PublisherView, error: Option<&str>) -> Markup {
    admin_layout(
        "Revoke publisher token",
        AdminPage::Publishers,
        token,
        html! {
            h1 { "Revoke publisher token " code { (publisher.name) } }
            p { "Revoking is immediate and final: the token can no longer push to "
                (publisher.patterns.join(" ")) "." }
            (confirm_form(token, &format!("/admin/publishers/{}/revoke", publisher.name), "/admin/publishers",
                "Yes, revoke this token", "Revoke token", error))
        },
    )
}

/// A refusal or failure as a page (forbidden form, unknown license, server fault).
pub fn message_page(title: &str, message: &str, back: (&str, &str)) -> Markup {
    layout(
        title,
        Section::Admin,
        html! {
            h1 { (title) }
            div class="notice error" role="alert" { p { (message) } }
            p { a href=(back.0) { (back.1) } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(status: &'static str) -> LicenseView {
        LicenseView {
            id: "abc123".into(),
            holder: "<img src=x onerror=alert(1)>@example.com".into(),
            workers: vec!["llm-worker-rbee-premium".into()],
            expires: "2027-01-31T00:00:00Z".into(),
            status,
        }
    }

    #[test]
    fn every_form_carries_the_form_token_and_user_text_is_escaped() {
        let page = licenses_page("TOKEN", &[license("active")], &FormState::default(), None).into_string();
        // Sign-out and issue forms.
        assert_eq!(
            page.matches(r#"<input type="hidden" name="form_token" value="TOKEN">"#)
                .count(),
            2
        );
        assert!(!page.contains("<img src=x"));
        assert!(page.contains(r#"href="/admin/licenses/abc123/revoke""#));
        let cancelled = licenses_page("T", &[license("cancelled")], &FormState::default(), None).into_string();
        assert!(!cancelled.contains("/revoke"));
    }

    #[test]
    fn revoking_asks_for_a_confirmation() {
        let page = revoke_license_page("T", &license("active"), Some("Tick the box")).into_string();
        assert!(page.contains(r#"name="confirm" value="yes" required"#), "{page}");
        assert!(page.contains(r#"aria-describedby="confirm-error""#));
        assert!(page.contains(r#"action="/admin/licenses/abc123/revoke""#));
        assert!(page.contains(r#"<a href="/admin/licenses">Cancel</a>"#), "{page}");
    }
}
