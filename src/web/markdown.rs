//! README Markdown to sanitised HTML: pulldown-cmark renders it (raw HTML passes through
//! the renderer), then ammonia keeps only an allow-list of elements and attributes, so no
//! script, style, event attribute or `javascript:` URL survives, and every link gets
//! `rel="noopener noreferrer"`. Headings move down two levels (a README's `#` becomes an
//! `h3`) so they nest under the page's own `h1` and the README section's `h2`.

use maud::{Markup, PreEscaped};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Largest README rendered, bytes (the catalog keeps files up to 1 MiB).
const MAX_README: usize = 1 << 20;

/// `markdown` as sanitised HTML, safe to put inside the page.
pub fn render_readme(markdown: &str) -> Markup {
    let markdown = truncate(markdown, MAX_README);
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: lower(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level))),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events);
    PreEscaped(sanitise(&html))
}

/// The HTML allow-list: ammonia's defaults (no script, style, iframe, form or event
/// attribute; URLs only `http`, `https`, `mailto` or relative), links opened without the
/// opener or a referrer.
pub fn sanitise(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(html)
        .to_string()
}

fn lower(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sanitiser_removes_scripts_event_attributes_and_javascript_urls() {
        let readme = "# Title\n\n<script>alert(1)</script>\n\n\
            <img src=\"x.png\" onerror=\"alert(2)\" alt=\"pic\">\n\n\
            [click](javascript:alert(3)) and <a href=\"JaVaScRiPt:alert(4)\">raw</a>\n\n\
            <p style=\"color:red\" onclick=\"alert(5)\">styled</p>\n\n\
            <iframe src=\"https://evil.example\"></iframe><style>body{}</style>\n\n\
            [ok](https://example.com/docs) <b>bold</b>\n";
        let html = render_readme(readme).into_string();
        let lower = html.to_lowercase();
        for banned in [
            "<script",
            "alert(1)",
            "onerror",
            "onclick",
            "javascript:",
            "<iframe",
            "<style",
            "style=",
        ] {
            assert!(!lower.contains(banned), "{banned} survived: {html}");
        }
        assert!(html.contains("<h3>Title</h3>"), "{html}");
        assert!(html.contains(r#"<img src="x.png" alt="pic">"#), "{html}");
        assert!(
            html.contains(r#"<a href="https://example.com/docs" rel="noopener noreferrer">ok</a>"#),
            "{html}"
        );
        assert!(html.contains("<b>bold</b>"), "{html}");
        assert!(html.contains("styled"), "{html}");
    }

    #[test]
    fn headings_nest_under_the_page_and_long_readmes_are_cut_on_a_character() {
        let html = render_readme("# a\n## b\n### c\n#### d\n").into_string();
        assert!(html.contains("<h3>a</h3>") && html.contains("<h4>b</h4>"), "{html}");
        assert!(html.contains("<h5>c</h5>") && html.contains("<h6>d</h6>"), "{html}");
        assert_eq!(truncate("héllo", 2), "h");
    }
}
