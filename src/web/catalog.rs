//! The catalog page (`/`): a plain GET form (search text, tag, worker type, platform) that
//! works without JavaScript, and the matching workers with their open/premium badge, star
//! count, latest version and platforms.

use maud::{html, Markup};

use super::{layout, Section};

/// The page's query as the form sent it (empty: not filtering on that).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogQuery {
    pub text: String,
    pub tag: String,
    pub worker_type: String,
    pub platform: String,
}

impl CatalogQuery {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.tag.is_empty() && self.worker_type.is_empty() && self.platform.is_empty()
    }
}

/// One worker in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub worker_type: String,
    pub tags: Vec<String>,
    pub platforms: Vec<String>,
    pub premium: bool,
    /// The latest version in the registry, or the one the catalog declares.
    pub version: String,
    /// Whether the registry has a version of it (else only the catalog lists it).
    pub published: bool,
    pub stars: u64,
}

/// What the page shows: the query, the matching workers, and the values each filter offers
/// (from every worker, so a filter never offers nothing).
#[derive(Debug, Clone, Default)]
pub struct CatalogView {
    pub query: CatalogQuery,
    pub entries: Vec<CatalogEntry>,
    pub tags: Vec<String>,
    pub worker_types: Vec<String>,
    pub platforms: Vec<String>,
    /// How many workers there are in all.
    pub total: usize,
}

/// The link of a worker's page.
pub fn worker_href(id: &str) -> String {
    format!("/w/{id}")
}

fn select(name: &str, label: &str, id: &str, values: &[String], chosen: &str) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                option value="" selected[chosen.is_empty()] { "Any" }
                @for value in values {
                    option value=(value) selected[value == chosen] { (value) }
                }
            }
        }
    }
}

/// The whole catalog page.
pub fn catalog_page(view: &CatalogView) -> Markup {
    let query = &view.query;
    let content = html! {
        h1 { "Workers" }
        form class="filters" method="get" action="/" role="search" aria-label="Workers" {
            div class="field grow" {
                label for="q" { "Search name and description" }
                input id="q" type="search" name="q" value=(query.text);
            }
            (select("tag", "Tag", "tag", &view.tags, &query.tag))
            (select("type", "Worker type", "type", &view.worker_types, &query.worker_type))
            (select("platform", "Platform", "platform", &view.platforms, &query.platform))
            div class="field actions" {
                button type="submit" { "Filter" }
                @if !query.is_empty() {
                    " " a href="/" { "Clear" }
                }
            }
        }
        p id="result-count" class="muted" role="status" {
            @if query.is_empty() {
                (view.entries.len()) " workers"
            } @else {
                (view.entries.len()) " of " (view.total) " workers match"
            }
        }
        @if view.entries.is_empty() {
            p class="notice" { "No worker matches. Try fewer words or another filter." }
        } @else {
            ul class="workers" {
                @for entry in &view.entries {
                    li class="worker" data-worker=(entry.id) {
                        h2 { a href=(worker_href(&entry.id)) { (entry.name) } }
                        p class="meta" {
                            @if entry.premium {
                                span class="badge premium" { "Premium" }
                            } @else {
                                span class="badge open" { "Open" }
                            }
                            " "
                            code { (entry.id) }
                            " · "
                            @if entry.published { "v" (entry.version) } @else { "v" (entry.version) " (catalog only)" }
                            " · "
                            span class="stars" { (entry.stars) @if entry.stars == 1 { " star" } @else { " stars" } }
                        }
                        p class="description" { (entry.description) }
                        dl class="facts" {
                            dt { "Type" } dd { (entry.worker_type) }
                            @if !entry.platforms.is_empty() {
                                dt { "Platforms" } dd { (entry.platforms.join(", ")) }
                            }
                            @if !entry.tags.is_empty() {
                                dt { "Tags" }
                                dd {
                                    @for (at, tag) in entry.tags.iter().enumerate() {
                                        @if at > 0 { ", " }
                                        a href=(format!("/?tag={}", urlencode(tag))) { (tag) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Workers", Section::Catalog, content)
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, description: &str) -> CatalogEntry {
        CatalogEntry {
            id: "w".into(),
            name: name.into(),
            description: description.into(),
            worker_type: "cpu".into(),
            tags: vec!["a&b".into()],
            platforms: vec!["linux-x86_64".into()],
            premium: true,
            version: "1.0.0".into(),
            published: true,
            stars: 1,
        }
    }

    #[test]
    fn markup_in_names_and_descriptions_is_text() {
        let view = CatalogView {
            query: CatalogQuery {
                text: "\"><script>".into(),
                ..CatalogQuery::default()
            },
            entries: vec![entry("<i>x</i>", "<b>bold</b>")],
            total: 1,
            ..CatalogView::default()
        };
        let html = catalog_page(&view).into_string();
        assert!(html.contains("&lt;i&gt;x&lt;/i&gt;") && html.contains("&lt;b&gt;bold&lt;/b&gt;"));
        assert!(html.contains(r#"value="&quot;&gt;&lt;script&gt;""#), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<b>bold"));
        assert!(html.contains(r#"href="/?tag=a%26b""#));
        assert!(html.contains("1 star<"));
    }
}
