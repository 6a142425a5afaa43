//! The credential commands (`rbee-registry publisher|license|worker …`) run as processes on a
//! test site's database, as an admin runs them next to `serve`: each new secret is printed
//! alone on the last line of stdout and nowhere else, and what they create is what the
//! registry then authenticates (publisher patterns, license workers, revocation, the worker
//! policy).

use std::time::Duration;

use rbee_registry::auth::policy::{permitted, PolicySettings, RepoFacts};
use rbee_registry::auth::principal::Principal;
use rbee_registry::auth::scope::Actions;
use rbee_registry::oci::RepoName;

use crate::support::*;

pub const PREMIUM: &str = "llm-worker-rbee-premium";

/// Runs `rbee-registry <args…>` on `site`; its stdout lines. It must succeed.
pub fn cli(site: &TestSite, args: &[&str]) -> Vec<String> {
    let output = site.command_of(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs a command that must fail; its stderr.
pub fn cli_fails(site: &TestSite, args: &[&str]) -> String {
    let output = site.command_of(args).output().unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8(output.stderr).unwrap()
}

/// The secret a creating command printed: its last line, which must be the only one
/// holding it.
fn secret_of(lines: &[String], prefix: &str) -> String {
    let secret = lines.last().expect("output").clone();
    assert!(secret.starts_with(prefix) && !secret.contains(' '), "{lines:?}");
    assert!(
        lines[..lines.len() - 1].iter().all(|line| !line.contains(&secret)),
        "{lines:?}"
    );
    secret
}

/// Issues a license with `rbee-registry license issue`; its token.
pub fn issue_license(site: &TestSite, workers: &[&str], expires: &str) -> String {
    let mut args = vec![
        "license",
        "issue",
        "--holder",
        "holder@example.com",
        "--expires",
        expires,
    ];
    for worker in workers {
        args.extend(["--worker", worker]);
    }
    secret_of(&cli(site, &args), "rbee_lic_")
}

/// Creates a publisher with `rbee-registry publisher create`; its token.
pub fn create_publisher(site: &TestSite, name: &str, repos: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["publisher", "create", "--name", name];
    for repo in repos {
        args.extend(["--repo", repo]);
    }
    args.extend(extra);
    secret_of(&cli(site, &args), "rbee_pub_")
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

fn actions(principal: &Principal, name: &str, requires_license: bool) -> Actions {
    permitted(
        principal,
        &repo(name),
        RepoFacts { requires_license },
        PolicySettings { anonymous_pull: true },
    )
}

#[tokio::test]
async fn licenses_cli_issue_list_show_revoke_with_the_token_on_the_last_line() {
    let site = TestSite::new().await;
    let lines = cli(
        &site,
        &[
            "license",
            "issue",
            "--holder",
            "a@example.com",
            "--worker",
            PREMIUM,
            "--expires",
            "30d",
        ],
    );
    let token = secret_of(&lines, "rbee_lic_");
    let id = lines[0].strip_prefix("license ").unwrap().to_string();
    assert!(lines.contains(&"status: active".to_string()), "{lines:?}");

    let listed = cli(&site, &["license", "list"]).join("\n");
    assert!(listed.contains(&id) && listed.contains("a@example.com") && listed.contains("active"));
    assert!(!listed.contains(&token), "a listing never shows a token");
    // `show` by id and by the token itself.
    for key in [&id, &token] {
        let shown = cli(&site, &["license", "show", key]);
        assert_eq!(shown[0], format!("license {id}"));
        assert!(shown.iter().all(|line| !line.contains(&token)));
    }

    let registry = site.registry().await;
    let Some(Principal::License { workers, holder, .. }) = registry.authenticate_secret(&token).await.unwrap() else {
        panic!("the license authenticates")
    };
    assert_eq!((workers, holder.as_str()), (vec![PREMIUM.to_string()], "a@example.com"));
    // A flipped byte anywhere is refused.
    for at in [10, token.len() / 2, token.len() - 1] {
        let mut forged = token.clone().into_bytes();
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(registry.authenticate_secret(&forged).await.unwrap(), None, "byte {at}");
    }

    let revoked = cli(&site, &["license", "revoke", &id]);
    assert!(revoked.contains(&"status: cancelled".to_string()), "{revoked:?}");
    assert_eq!(registry.authenticate_secret(&token).await.unwrap(), None);

    // The public key prints as the file `license.verify_keys` takes.
    let keys = cli(&site, &["license", "public-key"]);
    assert!(keys.iter().any(|line| line.starts_with("ed25519 ")), "{keys:?}");

    // Bad input: a clear error, nothing recorded.
    for (args, says) in [
        (
            vec!["--holder", "nobody", "--worker", PREMIUM, "--expires", "1d"],
            "e-mail",
        ),
        (
            vec!["--holder", "a@example.com", "--worker", "Bad_Id", "--expires", "1d"],
            "worker id",
        ),
        (
            vec![
                "--holder",
                "a@example.com",
                "--worker",
                PREMIUM,
                "--expires",
                "2001-01-01",
            ],
            "past",
        ),
        (
            vec!["--holder", "a@example.com", "--worker", PREMIUM, "--expires", "later"],
            "expiry",
        ),
    ] {
        let mut full = vec!["license", "issue"];
        full.extend(args);
        let error = cli_fails(&site, &full);
        assert!(error.contains(says), "{full:?}: {error}");
    }
    assert_eq!(cli(&site, &["license", "list"]).len(), 2, "one header and one license");
    assert!(cli_fails(&site, &["license", "show", "no-such-license"]).contains("no license"));
}

#[tokio::test]
async fn licenses_cli_publisher_tokens_grant_their_patterns_until_revoked() {
    let site = TestSite::new().await;
    let ci = create_publisher(&site, "ci", &["workers/llm-*"], &[]);
    let team = create_publisher(&site, "team-ci", &["team/**"], &["--allow-delete"]);
    let error = cli_fails(&site, &["publisher", "create", "--name", "ci", "--repo", "workers/*"]);
    assert!(error.contains("exists"), "{error}");
    assert!(cli_fails(&site, &["publisher", "create", "--name", "x", "--repo", "/abs"]).contains("pattern"));

    let registry = site.registry().await;
    let principal = registry
        .authenticate_secret(&ci)
        .await
        .unwrap()
        .expect("ci authenticates");
    let push_pull = Actions::PULL.union(Actions::PUSH);
    assert_eq!(actions(&principal, "workers/llm-worker-rbee-cpu", false), push_pull);
    assert_eq!(actions(&principal, "workers/llm-worker-rbee-premium", true), push_pull);
    assert_eq!(actions(&principal, "workers/sd-worker", false), Actions::PULL);
    assert_eq!(actions(&principal, "workers/sd-worker", true), Actions::NONE);
    assert_eq!(actions(&principal, "team/a", false), Actions::PULL);
    let principal = registry.authenticate_secret(&team).await.unwrap().unwrap();
    assert_eq!(actions(&principal, "team/a/b", false), Actions::ALL);
    assert_eq!(actions(&principal, "workers/llm-x", true), Actions::NONE);
    // Another token of the same shape, or a flipped byte, is nobody.
    let mut forged = ci.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        registry
            .authenticate_secret(&String::from_utf8(forged).unwrap())
            .await
            .unwrap(),
        None
    );

    let listed = cli(&site, &["publisher", "list"]).join("\n");
    assert!(listed.contains("ci\tactive\tworkers/llm-*\tfalse"), "{listed}");
    assert!(listed.contains("team-ci\tactive\tteam/**\ttrue"), "{listed}");
    assert!(!listed.contains(&ci) && !listed.contains(&team));

    // Revoked by token and by name: refused at once.
    cli(&site, &["publisher", "revoke", &ci]);
    cli(&site, &["publisher", "revoke", "team-ci"]);
    assert_eq!(registry.authenticate_secret(&ci).await.unwrap(), None);
    assert_eq!(registry.authenticate_secret(&team).await.unwrap(), None);
    assert!(cli_fails(&site, &["publisher", "revoke", "ci"]).contains("no active publisher"));
    // A revoked name may be given to a new token.
    let again = create_publisher(&site, "ci", &["workers/*"], &[]);
    assert!(registry.authenticate_secret(&again).await.unwrap().is_some());

    // An expired token is refused.
    let short = create_publisher(&site, "short", &["workers/*"], &["--expires", "1s"]);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(registry.authenticate_secret(&short).await.unwrap(), None);
}

#[tokio::test]
async fn licenses_cli_worker_policy_is_set_before_the_first_push() {
    let site = TestSite::new().await;
    let registry = site.registry().await;
    let premium = repo(&format!("workers/{PREMIUM}"));
    assert!(
        !registry.repo_facts(&premium).await.unwrap().requires_license,
        "open by default"
    );
    assert!(cli(&site, &["worker", "policy", PREMIUM])[0].contains("no policy (open)"));

    cli(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "true"]);
    assert!(registry.repo_facts(&premium).await.unwrap().requires_license);
    assert!(cli(&site, &["worker", "policy", PREMIUM])[0].contains("requires_license = true (set by admin"));
    // Other repositories are not premium.
    assert!(
        !registry
            .repo_facts(&repo("workers/llm-worker-rbee-cpu"))
            .await
            .unwrap()
            .requires_license
    );
    assert!(!registry.repo_facts(&repo("library/x")).await.unwrap().requires_license);

    cli(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "false"]);
    assert!(!registry.repo_facts(&premium).await.unwrap().requires_license);
    assert!(cli_fails(&site, &["worker", "set-policy", "Bad_Id", "--requires-license", "true"]).contains("worker id"));
    assert!(cli_fails(&site, &["worker", "set-policy", PREMIUM, "--requires-license", "maybe"]).contains("maybe"));
}
