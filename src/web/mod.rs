//! The browser pages: HTML rendered on the server from view values the routes hand in
//! (`maud`: templates compiled into the binary, every interpolation escaped unless it is a
//! `PreEscaped` value this module made). Pure: no I/O, no services; `routes::pages` gathers
//! the data and calls these functions.
//!
//! - [`layout`]: the page frame every page shares (landmarks, navigation, stylesheet).
//! - [`assets`]: the static files (stylesheet, icons) with their ETags.
//! - [`catalog`]: the catalog page (`/`); [`worker`]: a worker's page (`/w/{id}`), with
//!   [`markdown`] (README rendering and sanitising) and [`chart`] (the downloads SVG).
//! - [`forms`]: labelled fields with their hints and errors, the hidden form token.
//! - [`admin`]: the admin pages (sign-in, licenses, publisher tokens).
//! - [`license_check`]: a license holder's check of a license token.

pub mod admin;
pub mod assets;
pub mod catalog;
pub mod chart;
pub mod forms;
pub mod license_check;
pub mod markdown;
pub mod worker;

use maud::{html, Markup, DOCTYPE};

/// Where the page sits in the navigation, so the current entry is marked for screen readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Catalog,
    Licenses,
    Admin,
}

/// A whole page: `<head>`, the site header with its navigation, `main` holding `content`,
/// and the footer. `title` is plain text (escaped).
pub fn layout(title: &str, section: Section, content: Markup) -> Markup {
    let nav_item = |href: &str, label: &str, this: Section| {
        html! {
            li {
                @if this == section {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · rbee registry" }
                link rel="stylesheet" href=(assets::STYLESHEET.href());
                link rel="icon" type="image/svg+xml" href=(assets::ICON.href());
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="site" {
                    a class="brand" href="/" { "rbee registry" }
                    nav aria-label="Site" {
                        ul {
                            (nav_item("/", "Workers", Section::Catalog))
                            (nav_item("/licenses/check", "Check a license", Section::Licenses))
                            (nav_item("/admin", "Admin", Section::Admin))
                        }
                    }
                }
                main id="main" tabindex="-1" { (content) }
                footer class="site" {
                    p {
                        "Workers are OCI artifacts: pull them with "
                        code { "rbee-registry install" } ", " code { "oras" } " or "
                        code { "skopeo" } ". The catalog is a Git repository at "
                        code { "/catalog.git" } "."
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_escaped_and_the_current_section_marked() {
        let page = layout("<script>x</script>", Section::Licenses, html! { p { "body" } }).into_string();
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt; · rbee registry"));
        assert!(!page.contains("<script>x"));
        assert!(page.contains(r#"<a href="/licenses/check" aria-current="page">"#));
        assert!(page.contains(r#"<main id="main" tabindex="-1"><p>body</p></main>"#));
    }
}
