//! The browser pages over HTTP: the APIs answer exactly as before when a browser asks for
//! HTML; every page carries the Content-Security-Policy; catalog text holding markup is
//! shown as text (names, descriptions) or sanitised (READMEs); the star form refuses
//! cross-site posts and wrong tokens.

use reqwest::redirect::Policy;
use serde_json::Value;

use crate::catalog_fixtures::*;
use crate::licenses_cli::issue_license;
use crate::support::*;
use crate::worker_fixtures::publish_worker;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The cpu worker of the design catalog with markup in its name, description and README.
fn hostile_catalog() -> SourceRepo {
    let repo = design_catalog();
    let mut metadata: Value = serde_json::from_slice(&fixture("llm-worker-rbee-cpu.metadata.json")).unwrap();
    metadata["name"] = "<i>LLM</i> Worker".into();
    metadata["description"] = "<b>bold</b> <script>alert('d')</script>".into();
    let readme = "# Hostile\n\n<script>alert('r')</script>\n\n<img src=x onerror=\"alert('e')\">\n\n\
                  [click me](javascript:alert('j'))\n\n[docs](https://example.com/docs)\n";
    repo.commit_branch(
        CPU,
        &[
            file("metadata.json", serde_json::to_vec(&metadata).unwrap()),
            file("README.md", readme),
        ],
    );
    repo.set_index(&[CPU, CUDA, PREMIUM]);
    repo
}

async fn html_of(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app
        .client
        .get(app.url(path))
        .header("accept", HTML)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn apis_answer_as_before_when_a_browser_asks_for_html() {
    let source = design_catalog();
    let app = start_with_source(source.path.to_str().unwrap()).await;
    synced(&app).await;
    let dir = tempfile::tempdir().unwrap();
    publish_worker(&app, dir.path(), CPU, "0.1.0", &["linux/amd64"], None).await;
    for path in [
        "/health",
        "/workers",
        "/workers/llm-worker-rbee-cpu",
        "/workers/llm-worker-rbee-cpu/PKGBUILD",
        "/workers/no-such-worker",
        "/v1/workers",
        "/v1/workers/llm-worker-rbee-cpu",
        "/v1/workers/llm-worker-rbee-cpu/versions",
        "/v1/catalog/status",
        "/v2/",
        "/v2/_catalog",
        "/v2/workers/llm-worker-rbee-cpu/tags/list",
        "/catalog.git/info/refs?service=git-upload-pack",
    ] {
        let plain = app.get(path).await;
        let browser = app
            .client
            .get(app.url(path))
            .header("accept", HTML)
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), browser.status(), "{path}");
        let content_type = |r: &reqwest::Response| r.headers().get("content-type").cloned();
        assert_eq!(content_type(&plain), content_type(&browser), "{path}");
        assert!(
            !content_type(&browser).is_some_and(|t| t.to_str().unwrap().starts_with("text/html")),
            "{path} answered HTML"
        );
        assert!(browser.headers().get("content-security-policy").is_none(), "{path}");
        let (plain, browser) = (plain.bytes().await.unwrap(), browser.bytes().await.unwrap());
        if !path.starts_with("/v1/catalog") {
            assert_eq!(plain, browser, "{path}");
        }
    }

    // A counted download shows on the worker page's chart (the download log per day).
    let (_, answer) = get_json(
        &app,
        "/v1/workers/llm-worker-rbee-cpu/0.1.0/download?platform=linux-x86_64",
    )
    .await;
    let url = answer["download_url"].as_str().unwrap();
    app.client.get(url).send().await.unwrap().bytes().await.unwrap();
    for _ in 0..200 {
        let (_, stats) = get_json(&app, "/v1/workers/llm-worker-rbee-cpu/stats").await;
        if stats["downloads"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, _, page) = html_of(&app, "/w/llm-worker-rbee-cpu").await;
    assert!(page.contains("1 download from "), "{page}");
    assert_eq!(page.matches(r#"<rect "#).count(), 1, "{page}");
    assert!(page.contains("<p>1 download in all.</p>"), "{page}");
}

#[tokio::test]
async fn pages_carry_the_csp_and_show_catalog_markup_as_text() {
    let source = hostile_catalog();
    let app = start_with_source(source.path.to_str().unwrap()).await;
    synced(&app).await;
    for (path, status) in [
        ("/", 200),
        ("/?q=inference&type=cpu", 200),
        ("/w/llm-worker-rbee-cpu", 200),
        ("/w/llm-worker-rbee-premium", 200),
        ("/w/no-such-worker", 404),
        ("/w/NOT..valid", 404),
    ] {
        let (got, headers, body) = html_of(&app, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(body.starts_with("<!DOCTYPE html><html lang=\"en\">"), "{path}");
    }

    // The catalog: the name and description are text.
    let (_, _, catalog) = html_of(&app, "/").await;
    assert!(catalog.contains("&lt;i&gt;LLM&lt;/i&gt; Worker"), "{catalog}");
    assert!(catalog.contains("&lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert('d')&lt;/script&gt;"));
    assert!(!catalog.contains("<script>alert") && !catalog.contains("<b>bold"));
    assert!(catalog.contains("3 workers"), "{catalog}");

    // The worker page: the README is sanitised, the description is text.
    let (_, _, page) = html_of(&app, "/w/llm-worker-rbee-cpu").await;
    let readme_start = page.find(r#"<div id="readme""#).expect("README container");
    let readme = &page[readme_start..readme_start + page[readme_start..].find("</section>").unwrap()];
    for banned in ["<script", "alert('r')", "onerror", "javascript:"] {
        assert!(!readme.to_lowercase().contains(banned), "{banned} in {readme}");
    }
    assert!(readme.contains(r#"<a href="https://example.com/docs" rel="noopener noreferrer">docs</a>"#));
    assert!(page.contains("&lt;b&gt;bold&lt;/b&gt;"));
    // The only script is the page's own file.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(page.contains(r#"<script src="/static/copy.js?v="#));

    // The premium worker shows its price, trial and purchase link from its pricing.
    let (_, _, premium) = html_of(&app, "/w/llm-worker-rbee-premium").await;
    assert!(premium.contains("$99") && premium.contains(" per month"), "{premium}");
    assert!(premium.contains("14-day free trial"));
    assert!(premium.contains(r#"href="https://rbee.ai/premium""#));

    // Filters: by type, tag and text.
    let (_, _, cuda) = html_of(&app, "/?type=cuda").await;
    assert!(cuda.contains(r#"data-worker="llm-worker-rbee-cuda""#));
    assert!(!cuda.contains(r#"data-worker="llm-worker-rbee-cpu""#));
    let (_, _, none) = html_of(&app, "/?q=no+such+words+anywhere").await;
    assert!(none.contains("No worker matches"));
}

#[tokio::test]
async fn the_star_form_refuses_cross_site_posts_and_wrong_tokens() {
    let source = design_catalog();
    let site = TestSite::new().await;
    let app = start_on(&site, source.path.to_str().unwrap()).await;
    synced(&app).await;
    let license = issue_license(&site, &[PREMIUM], "30d");
    let client = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    let post = |token: &str, action: &str, site_header: Option<&str>, origin: Option<&str>| {
        let mut request = client
            .post(app.url("/w/llm-worker-rbee-cuda/star"))
            .form(&[("token", token), ("action", action)]);
        if let Some(value) = site_header {
            request = request.header("sec-fetch-site", value);
        }
        if let Some(value) = origin {
            request = request.header("origin", value);
        }
        request.send()
    };
    let own = app.base_url.clone();

    let refused = post(&license, "star", Some("cross-site"), Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers()["content-security-policy"].to_str().is_ok());
    let refused = post(&license, "star", None, Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let wrong = post("rbee_lic_forged", "star", Some("same-origin"), Some(&own))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let (_, stats) = get_json(&app, "/v1/workers/llm-worker-rbee-cuda/stats").await;
    assert_eq!(stats["stars"], 0);

    let starred = post(&license, "star", Some("same-origin"), Some(&own)).await.unwrap();
    assert_eq!(starred.status(), 303);
    assert_eq!(
        starred.headers()["location"],
        "/w/llm-worker-rbee-cuda?star=added#stars-heading"
    );
    let again = post(&license, "star", Some("same-origin"), Some(&own)).await.unwrap();
    assert_eq!(
        again.headers()["location"],
        "/w/llm-worker-rbee-cuda?star=kept#stars-heading"
    );
    let (_, stats) = get_json(&app, "/v1/workers/llm-worker-rbee-cuda/stats").await;
    assert_eq!(stats["stars"], 1);
    let (_, _, page) = html_of(&app, "/w/llm-worker-rbee-cuda?star=added").await;
    assert!(page.contains(r#"<span id="star-count">1</span> star"#), "{page}");
    let (_, _, catalog) = html_of(&app, "/").await;
    assert!(catalog.contains(r#"<span class="stars">1 star</span>"#), "{catalog}");

    let removed = post(&license, "unstar", Some("same-origin"), Some(&own)).await.unwrap();
    assert_eq!(
        removed.headers()["location"],
        "/w/llm-worker-rbee-cuda?star=removed#stars-heading"
    );
    let (_, stats) = get_json(&app, "/v1/workers/llm-worker-rbee-cuda/stats").await;
    assert_eq!(stats["stars"], 0);
}
