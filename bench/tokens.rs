//! `--tokens`: manifest GET with a bearer token against anonymous GETs, and the token
//! endpoint's rate.
//!
//! Two rbee-registry processes run side by side: one open (`--auth off`, no token: the
//! anonymous rate) and one with its default token auth (`--auth on`). A publisher credential
//! is made with the CLI (`rbee-registry publisher create`, what an operator runs), the same
//! small image is pushed into both (into the authenticated one with a push token from
//! `/token`), then `wrk` GETs its manifest by tag (32 connections), in alternating rounds:
//! open without a token; authenticated with an anonymous pull token (`/token` without
//! credentials); authenticated with the publisher's pull token. Medians of the rounds, with
//! server CPU per request. Then the token endpoint itself: `wrk` on `GET /token?service=…&
//! scope=…` anonymously and with Basic auth (the publisher secret), the token rate limit
//! raised so that `wrk` measures issuing and not the `429`.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

use crate::client::run_wrk;
use crate::manifests::{push_image, put_manifest, MANIFEST_TYPE};
use crate::report::{heading, show, Samples, Table};
use crate::servers::{start_rbee, start_rbee_with_auth, Server};
use crate::Args;

const REPO: &str = "bench/image";
/// The tokens' `service` (rbee-registry's default).
const SERVICE: &str = "rbee-registry";
/// Alternating rounds of the manifest GET loads.
const ROUNDS: usize = 3;
const CONNECTIONS: usize = 32;

pub fn run(args: &Args, work: &Path, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    runtime.block_on(measure(args, work))
}

/// One `wrk` load's figures.
#[derive(Default)]
struct Load {
    rps: Samples,
    p99_ms: Samples,
    cpu_us: Samples,
}

impl Load {
    /// Runs `wrk` on `url` against `server`, adding its rate, p99 and server CPU per request.
    fn measure(&mut self, server: &Server, url: &str, headers: &[&str], seconds: u64) -> Result<(), String> {
        let cpu = server.cpu_seconds();
        let wrk = run_wrk(url, CONNECTIONS, seconds, headers)?;
        self.rps.0.push(wrk.requests_per_second);
        self.p99_ms.0.push(wrk.p99_ms);
        self.cpu_us.0.push((server.cpu_seconds() - cpu) * 1e6 / wrk.requests);
        Ok(())
    }

    fn row(&self, name: &str, anonymous: Option<&Load>) -> Vec<String> {
        let rps = self.rps.quantile(0.5);
        let share = anonymous.map_or("".to_string(), |open| {
            format!("{:.0} %", 100.0 * rps / open.rps.quantile(0.5))
        });
        vec![
            name.to_string(),
            show(Some(rps)),
            show(Some(self.p99_ms.quantile(0.5))),
            show(Some(self.cpu_us.quantile(0.5))),
            share,
        ]
    }
}

/// `rbee-registry publisher create` on the server's database: the publisher secret.
fn create_publisher(args: &Args, server: &Server) -> Result<String, String> {
    let output = Command::new(&args.rbee)
        .args([
            "publisher",
            "create",
            "--name",
            "bench",
            "--repo",
            "bench/*",
            "--data-dir",
        ])
        .arg(&server.data)
        .args(&args.rbee_arg)
        .output()
        .map_err(|e| format!("running publisher create: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match (output.status.success(), text.lines().last()) {
        (true, Some(secret)) if !secret.trim().is_empty() => Ok(secret.trim().to_string()),
        _ => Err(format!(
            "publisher create failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

fn basic(secret: &str) -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("bench:{secret}"));
    format!("Authorization: Basic {credentials}")
}

fn token_path(scope: &str) -> String {
    format!("/token?service={SERVICE}&scope={scope}")
}

/// A token from `/token` for `scope`, with the secret as Basic password or anonymously.
async fn fetch_token(
    client: &reqwest::Client,
    server: &Server,
    secret: Option<&str>,
    scope: &str,
) -> Result<String, String> {
    let mut request = client.get(server.url(&token_path(scope)));
    if let Some(secret) = secret {
        request = request.basic_auth("bench", Some(secret));
    }
    let answer: serde_json::Value = request
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .map_err(|e| format!("GET /token: {e}"))?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    answer["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("/token answered without a token: {answer}"))
}

fn bearer_client(token: &str) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| "a token that is no header value")?;
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())
}

/// Pushes the image as `bench/image:v1` with `client`.
async fn push(client: &reqwest::Client, server: &Server) -> Result<(), String> {
    let image = push_image(client, server, REPO).await?;
    put_manifest(client, server, &image, REPO, "v1").await
}

async fn measure(args: &Args, work: &Path) -> Result<(), String> {
    let open = start_rbee(args, work, "rbee-open", &[])?;
    // The defaults (token auth on), but no per-address limit on token requests that `wrk`
    // would run into.
    let authed = start_rbee_with_auth(args, work, "rbee-auth", "on", &["--token-rate-limit", "1000000000"])?;
    let client = reqwest::Client::new();
    let unauthenticated = client
        .get(authed.url(&format!("/v2/{REPO}/manifests/v1")))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .status();
    if unauthenticated != 401 {
        return Err(format!(
            "the authenticated server answered {unauthenticated} without a token"
        ));
    }
    let secret = create_publisher(args, &authed)?;
    let push_token = fetch_token(&client, &authed, Some(&secret), &format!("repository:{REPO}:pull,push")).await?;
    push(&bearer_client(&push_token)?, &authed).await?;
    push(&client, &open).await?;
    let pull = format!("repository:{REPO}:pull");
    let anonymous_token = fetch_token(&client, &authed, None, &pull).await?;
    let publisher_token = fetch_token(&client, &authed, Some(&secret), &pull).await?;

    let accept = format!("Accept: {MANIFEST_TYPE}");
    let (mut anonymous, mut bearer_anonymous, mut bearer_publisher) =
        (Load::default(), Load::default(), Load::default());
    for round in 1..=ROUNDS {
        eprintln!("rbee-bench: tokens: manifest GET round {round} of {ROUNDS}");
        let manifest = format!("/v2/{REPO}/manifests/v1");
        anonymous.measure(&open, &open.url(&manifest), &[&accept], args.seconds)?;
        for (load, token) in [
            (&mut bearer_anonymous, &anonymous_token),
            (&mut bearer_publisher, &publisher_token),
        ] {
            let authorization = format!("Authorization: Bearer {token}");
            load.measure(
                &authed,
                &authed.url(&manifest),
                &[&accept, &authorization],
                args.seconds,
            )?;
        }
    }
    eprintln!("rbee-bench: tokens: token endpoint");
    let (mut issue_anonymous, mut issue_basic) = (Load::default(), Load::default());
    issue_anonymous.measure(&authed, &authed.url(&token_path(&pull)), &[], args.seconds)?;
    let push_scope = format!("repository:{REPO}:pull,push");
    issue_basic.measure(
        &authed,
        &authed.url(&token_path(&push_scope)),
        &[&basic(&secret)],
        args.seconds,
    )?;

    heading("tokens: manifest GET with a bearer token against anonymous, and /token");
    let mut table = Table::new(&[
        "load (wrk, 32 connections)",
        "req/s",
        "p99 ms",
        "server CPU µs/req",
        "of anonymous",
    ]);
    table.row(anonymous.row("manifest GET, `--auth off`, no token (anonymous)", None));
    table.row(bearer_anonymous.row("manifest GET, auth on, anonymous pull token", Some(&anonymous)));
    table.row(bearer_publisher.row("manifest GET, auth on, publisher pull token", Some(&anonymous)));
    table.row(issue_anonymous.row("`GET /token` anonymous, pull scope", None));
    table.row(issue_basic.row("`GET /token` Basic (publisher secret), pull,push scope", None));
    table.print();
    println!(
        "Manifest GETs: medians of {ROUNDS} alternating rounds of {} s; /token: one run of {} s each.\n\
         Peak RSS (VmHWM): `--auth off` server {} MiB, auth-on server {} MiB.",
        args.seconds,
        args.seconds,
        show(Some(open.peak_rss_mib())),
        show(Some(authed.peak_rss_mib()))
    );
    Ok(())
}
