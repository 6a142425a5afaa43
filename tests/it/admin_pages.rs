//! The admin pages and the license check over HTTP (issue 13, must-show 3), with a small
//! cookie-keeping client: without a session a page sends to the sign-in page and a form is
//! refused (`403`); a wrong admin token signs nobody in; a form without its form token, with
//! another session's, or from another origin changes nothing; issuing shows the secret once;
//! revoking in the page makes the license fail at `/token` and `/v1/licenses/verify` at once,
//! on every process; the session cookie's attributes (`Secure` over HTTPS); and
//! `/licenses/check` answers what `/v1/licenses/verify` answers.

use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{json, Value};

use crate::auth_support::{admin_secret, request_token};
use crate::licenses_cli::{issue_license, PREMIUM};
use crate::support::*;

const SCOPE: &str = "repository:workers/llm-worker-rbee-premium:pull";

/// A client that keeps cookies by hand (so tests see and can forge them) and does not
/// follow redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").map_or("", |value| value.to_str().unwrap())
    }

    /// The hidden form token of the page's forms.
    fn form_token(&self) -> String {
        let marker = r#"name="form_token" value=""#;
        let start = self.body.find(marker).expect("a form token") + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }

    /// The `Set-Cookie` values of the answer.
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap().to_string())
            .collect()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser::with_client(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            app.base_url.clone(),
        )
    }

    fn with_client(client: reqwest::Client, base: String) -> Browser {
        Browser {
            client,
            base,
            cookies: Vec::new(),
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_string(), value.to_string()));
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie_header: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let request = if cookie_header.is_empty() {
            request
        } else {
            request.header("cookie", cookie_header.join("; "))
        };
        let response = request.send().await.unwrap();
        let page = Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: String::new(),
        };
        let body = response.text().await.unwrap();
        let page = Page { body, ..page };
        for set in page.set_cookies() {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.retain(|(n, _)| n != name);
            } else {
                self.set_cookie(name, value);
            }
        }
        page
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[]).await
    }

    async fn post_with(&mut self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut request = self.client.post(format!("{}{path}", self.base)).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// Signs in with `admin_token` through the form; the answer to the post.
    async fn sign_in_with(&mut self, admin_token: &str) -> Page {
        let login = self.get("/admin/login").await;
        assert_eq!(login.status, 200);
        let token = login.form_token();
        self.post(
            "/admin/login",
            &[("form_token", token.as_str()), ("admin_token", admin_token)],
        )
        .await
    }

    /// Signs in with the site's admin token; the form token of the session's forms.
    async fn sign_in(&mut self, app: &TestApp) -> String {
        let answer = self.sign_in_with(&admin_secret(app)).await;
        assert_eq!((answer.status, answer.location()), (303, "/admin"), "{}", answer.body);
        let overview = self.get("/admin").await;
        assert_eq!(overview.status, 200);
        overview.form_token()
    }
}

async fn verify(app: &TestApp, token: &str) -> Value {
    app.client
        .post(app.url("/v1/licenses/verify"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The issue form's fields with `token` as its form token.
fn issue_form(token: &str) -> [(&'static str, &str); 4] {
    [
        ("holder", "holder@example.com"),
        ("workers", PREMIUM),
        ("expires", "30d"),
        ("form_token", token),
    ]
}

/// Posts `token` to `/licenses/check` as a browser's form would.
async fn check_license(browser: &mut Browser, token: &str) -> Page {
    let request = browser
        .client
        .post(format!("{}/licenses/check", browser.base))
        .form(&[("token", token)]);
    browser.send(request).await
}

async fn license_count(site: &TestSite) -> usize {
    site.registry().await.list_licenses().await.unwrap().len()
}

#[tokio::test]
async fn admin_pages_refuse_without_a_session_and_a_wrong_admin_token_signs_nobody_in() {
    let app = TestSite::new().await.start_protected(|_| {}).await;
    let mut anonymous = Browser::new(&app);
    for path in [
        "/admin",
        "/admin/licenses",
        "/admin/publishers",
        "/admin/licenses/0123abcd/revoke",
        "/admin/publishers/ci/revoke",
    ] {
        let page = anonymous.get(path).await;
        assert_eq!((page.status, page.location()), (303, "/admin/login"), "{path}");
    }
    for path in [
        "/admin/licenses",
        "/admin/publishers",
        "/admin/logout",
        "/admin/licenses/0123abcd/revoke",
    ] {
        let page = anonymous.post(path, &[("holder", "a@example.com")]).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(page.body.contains("Nothing was changed"), "{}", page.body);
    }
    // A made-up session cookie is no session.
    anonymous.set_cookie("rbee_admin_session", "rbee_ses_forged");
    assert_eq!(anonymous.get("/admin").await.location(), "/admin/login");
    assert_eq!(anonymous.post("/admin/licenses", &[]).await.status, 403);

    // The sign-in form itself: its cookie and form token are needed, then the admin token.
    let mut browser = Browser::new(&app);
    let wrong = browser.sign_in_with("rbee_adm_not-the-token").await;
    assert_eq!(wrong.status, 403);
    assert!(
        wrong.body.contains("not this registry&#39;s admin token")
            || wrong.body.contains("not this registry's admin token")
    );
    assert!(wrong
        .body
        .contains(r#"aria-describedby="field-admin_token-hint field-admin_token-error""#));
    assert!(
        !wrong.body.contains("rbee_adm_not-the-token"),
        "the typed token is not shown again"
    );
    assert!(browser.cookie("rbee_admin_session").is_none());
    let admin = admin_secret(&app);
    let login = browser.get("/admin/login").await;
    let form_token = login.form_token();
    let missing_token = browser.post("/admin/login", &[("admin_token", admin.as_str())]).await;
    assert_eq!(missing_token.status, 403);
    let mut no_cookie = Browser::new(&app);
    let page = no_cookie
        .post(
            "/admin/login",
            &[("form_token", form_token.as_str()), ("admin_token", admin.as_str())],
        )
        .await;
    assert_eq!(page.status, 403);
    let cross_site = browser
        .post_with(
            "/admin/login",
            &[("form_token", form_token.as_str()), ("admin_token", admin.as_str())],
            &[("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert!(browser.cookie("rbee_admin_session").is_none());

    // The right token: a session cookie with its attributes, no Secure over plain HTTP.
    let signed_in = browser
        .post(
            "/admin/login",
            &[("form_token", form_token.as_str()), ("admin_token", admin.as_str())],
        )
        .await;
    assert_eq!((signed_in.status, signed_in.location()), (303, "/admin"));
    let session_cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("rbee_admin_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=28800"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert!(!session_cookie.contains("Secure"), "{session_cookie}");
    assert!(!session_cookie.contains(&admin), "the cookie is not the admin token");
    let overview = browser.get("/admin").await;
    assert_eq!(overview.status, 200);
    assert_eq!(overview.headers["cache-control"], "no-store");
    assert!(overview.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("form-action 'self'"));
    assert!(!overview.body.contains(&admin));

    // Signing out ends the session on the server: the old cookie no longer opens a page.
    let session = browser.cookie("rbee_admin_session").unwrap();
    let out = browser
        .post("/admin/logout", &[("form_token", overview.form_token().as_str())])
        .await;
    assert_eq!((out.status, out.location()), (303, "/admin/login"));
    assert!(browser.cookie("rbee_admin_session").is_none());
    browser.set_cookie("rbee_admin_session", &session);
    assert_eq!(browser.get("/admin").await.location(), "/admin/login");
}

#[tokio::test]
async fn admin_forms_without_their_form_token_change_nothing() {
    let site = TestSite::new().await;
    let app = site.start_protected(|_| {}).await;
    let mut one = Browser::new(&app);
    let mut other = Browser::new(&app);
    let token = one.sign_in(&app).await;
    let other_token = other.sign_in(&app).await;
    assert_ne!(token, other_token);
    // No form token, another session's, a forged one, or the right one from another origin.
    assert_eq!(one.post("/admin/licenses", &issue_form("")[..3]).await.status, 403);
    assert_eq!(one.post("/admin/licenses", &issue_form(&other_token)).await.status, 403);
    assert_eq!(one.post("/admin/licenses", &issue_form("AAAA")).await.status, 403);
    for headers in [
        &[("origin", "http://evil.example")][..],
        &[("origin", "null")][..],
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")][..],
    ] {
        let page = one.post_with("/admin/licenses", &issue_form(&token), headers).await;
        assert_eq!(page.status, 403, "{headers:?}");
    }
    assert_eq!(license_count(&site).await, 0, "nothing was issued");
    let page = one
        .post_with(
            "/admin/publishers",
            &[
                ("name", "ci"),
                ("repos", "workers/*"),
                ("form_token", other_token.as_str()),
            ],
            &[],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(site.registry().await.list_publishers().await.unwrap().is_empty());

    // A license to revoke: the revocation form without its token leaves it valid.
    let license = issue_license(&site, &[PREMIUM], "30d");
    let id = site.registry().await.find_license(&license).await.unwrap().id;
    let path = format!("/admin/licenses/{id}/revoke");
    assert_eq!(one.post(&path, &[("confirm", "yes")]).await.status, 403);
    assert_eq!(
        one.post(&path, &[("confirm", "yes"), ("form_token", other_token.as_str())])
            .await
            .status,
        403
    );
    assert_eq!(verify(&app, &license).await["valid"], true);
    // The right token from the same origin works (same-origin headers as a browser sends them).
    let origin = app.base_url.clone();
    let page = one
        .post_with(
            &path,
            &[("confirm", "yes"), ("form_token", token.as_str())],
            &[("origin", origin.as_str()), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(verify(&app, &license).await["reason"], "revoked");
}

#[tokio::test]
async fn issuing_shows_the_secret_once_and_revoking_in_the_page_holds_at_once_everywhere() {
    let site = TestSite::new().await;
    crate::licenses_cli::cli(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "true"]);
    let app = site.start_protected(|_| {}).await;
    let second = site.start_protected(|_| {}).await;
    let mut browser = Browser::new(&app);
    let token = browser.sign_in(&app).await;

    // A refused issue shows the errors tied to their fields and issues nothing.
    let refused = browser
        .post(
            "/admin/licenses",
            &[
                ("holder", "holder@example.com"),
                ("workers", "Not A Worker"),
                ("expires", "soon"),
                ("form_token", &token),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused
        .body
        .contains(r#"aria-describedby="field-workers-hint field-workers-error""#));
    assert!(refused
        .body
        .contains(r#"aria-describedby="field-expires-hint field-expires-error""#));
    assert_eq!(license_count(&site).await, 0);

    let issued = browser
        .post(
            "/admin/licenses",
            &[
                ("holder", "holder@example.com"),
                ("workers", &format!("{PREMIUM}, llm-worker-rbee-cpu")),
                ("expires", "30d"),
                ("form_token", &token),
            ],
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let start = issued.body.find("rbee_lic_").expect("the token is shown");
    let license: String = issued.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
        .collect();
    assert_eq!(issued.body.matches(&license).count(), 1, "shown once on the page");
    let answer = verify(&app, &license).await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["worker_ids"], json!(["llm-worker-rbee-cpu", PREMIUM]));
    assert_eq!(request_token(&second, Some(&license), &[SCOPE]).await.status(), 200);
    // Never again: not in the list, the overview or the revoke page.
    let id = site.registry().await.find_license(&license).await.unwrap().id;
    let list = browser.get("/admin/licenses").await;
    assert!(list.body.contains(&id) && list.body.contains("holder@example.com"));
    assert!(!list.body.contains("rbee_lic_"), "{}", list.body);
    assert!(!browser.get("/admin").await.body.contains("rbee_lic_"));
    let path = format!("/admin/licenses/{id}/revoke");
    let confirm = browser.get(&path).await;
    assert_eq!(confirm.status, 200);
    assert!(!confirm.body.contains("rbee_lic_"));
    assert!(confirm.body.contains(r#"name="confirm" value="yes" required"#));

    // Without the confirmation nothing is revoked.
    let unconfirmed = browser.post(&path, &[("form_token", &token)]).await;
    assert_eq!(unconfirmed.status, 400);
    assert!(unconfirmed.body.contains("nothing was revoked"));
    assert_eq!(verify(&second, &license).await["valid"], true);

    // Confirmed: refused at once at /token and /v1/licenses/verify, on both processes.
    let revoked = browser.post(&path, &[("form_token", &token), ("confirm", "yes")]).await;
    assert_eq!(
        (revoked.status, revoked.location()),
        (303, format!("/admin/licenses?revoked={id}").as_str())
    );
    for server in [&app, &second] {
        assert_eq!(
            verify(server, &license).await,
            json!({"valid": false, "reason": "revoked"})
        );
        assert_eq!(request_token(server, Some(&license), &[SCOPE]).await.status(), 401);
    }
    let list = browser.get(revoked.location()).await;
    assert!(list.body.contains(&format!("License {id} was revoked.")));
    assert!(list.body.contains("cancelled"));
    assert!(!list.body.contains(&path), "no revoke link for a cancelled license");

    // Publisher tokens: created with patterns (shown once), revoked with confirmation.
    let created = browser
        .post(
            "/admin/publishers",
            &[
                ("name", "ci-main"),
                ("repos", "workers/*\nteam/**"),
                ("form_token", &token),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    let start = created.body.find("rbee_pub_").expect("the token is shown");
    let publisher: String = created.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "_-".contains(*c))
        .collect();
    let push = "repository:workers/llm-worker-rbee-cpu:push";
    assert_eq!(request_token(&second, Some(&publisher), &[push]).await.status(), 200);
    let list = browser.get("/admin/publishers").await;
    assert!(list.body.contains("workers/* team/**") && !list.body.contains("rbee_pub_"));
    let path = "/admin/publishers/ci-main/revoke";
    assert_eq!(browser.get(path).await.status, 200);
    assert_eq!(browser.post(path, &[("form_token", &token)]).await.status, 400);
    assert_eq!(request_token(&second, Some(&publisher), &[push]).await.status(), 200);
    let revoked = browser.post(path, &[("form_token", &token), ("confirm", "yes")]).await;
    assert_eq!(revoked.status, 303);
    assert_eq!(request_token(&second, Some(&publisher), &[push]).await.status(), 401);
    assert_eq!(browser.get(path).await.status, 404, "nothing left to revoke");
}

#[tokio::test]
async fn the_session_cookie_is_secure_over_https() {
    let work = tempfile::tempdir().unwrap();
    let certificates = work.path().join("certs");
    std::fs::create_dir(&certificates).unwrap();
    crate::tls::make_certificates(&certificates);
    let files = rbee_registry::config::TlsFiles {
        cert: certificates.join("server.crt"),
        key: certificates.join("server.key"),
    };
    let app = TestSite::new()
        .await
        .start_configured(Default::default(), move |config| {
            config.auth.mode = rbee_registry::auth::AuthMode::On;
            config.tls = Some(files);
        })
        .await;
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(certificates.join("ca.crt")).unwrap()).unwrap(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut browser = Browser::with_client(client, format!("https://{}", app.host()));
    let login = browser.get("/admin/login").await;
    let login_cookie = login.set_cookies().join("\n");
    assert!(
        login_cookie.contains("; Secure") && login_cookie.contains("HttpOnly"),
        "{login_cookie}"
    );
    let form_token = login.form_token();
    let admin = admin_secret(&app);
    let origin = format!("https://{}", app.host());
    let signed_in = browser
        .post_with(
            "/admin/login",
            &[("form_token", form_token.as_str()), ("admin_token", admin.as_str())],
            &[("origin", origin.as_str()), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session_cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("rbee_admin_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Secure"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert_eq!(browser.get("/admin").await.status, 200);
}

#[tokio::test]
async fn license_check_answers_like_licenses_verify() {
    let site = TestSite::new().await;
    let app = site.start_protected(|_| {}).await;
    let license = issue_license(&site, &[PREMIUM, "llm-worker-rbee-cpu"], "30d");
    let mut browser = Browser::new(&app);
    let form = browser.get("/licenses/check").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"<form method="post" action="/licenses/check">"#));
    assert!(form.body.contains(r#"<label for="field-token">"#));

    let page = check_license(&mut browser, &license).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.body.contains(&license), "the token is not written back");
    let answer = verify(&app, &license).await;
    assert!(page.body.contains(r#"data-valid="true""#), "{}", page.body);
    for worker in answer["worker_ids"].as_array().unwrap() {
        assert!(page
            .body
            .contains(&format!("<li><code>{}</code></li>", worker.as_str().unwrap())));
    }
    let expires = answer["expires_at"].as_str().unwrap();
    assert!(page
        .body
        .contains(&format!(r#"<time id="check-expires" datetime="{expires}">"#)));

    // Not valid: the same reason as the API.
    let page = check_license(&mut browser, "rbee_lic_AAAA").await;
    assert_eq!(verify(&app, "rbee_lic_AAAA").await["reason"], "invalid");
    assert!(page.body.contains(r#"data-reason="invalid""#));
    crate::licenses_cli::cli(&site, &["license", "revoke", &license]);
    let page = check_license(&mut browser, &license).await;
    assert!(
        page.body.contains(r#"data-valid="false" data-reason="revoked""#),
        "{}",
        page.body
    );
    assert_eq!(verify(&app, &license).await["reason"], "revoked");

    // Empty: an error tied to the field; from another site: refused.
    let page = check_license(&mut browser, "").await;
    assert_eq!(page.status, 400);
    assert!(page
        .body
        .contains(r#"aria-describedby="field-token-hint field-token-error""#));
    let page = browser
        .post_with(
            "/licenses/check",
            &[("token", license.as_str())],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(page.status, 403);
}
