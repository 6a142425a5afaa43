//! rbee-conformance: an OCI Distribution Specification (v1.1) conformance
//! harness.
//!
//! It talks plain HTTP to a registry given by its base URL and runs the four
//! workflow categories of the spec (pull, push, content discovery, content
//! management) plus the v1.1 referrers API. Every check prints one line:
//!
//!   PASS <workflow>: <check>
//!   FAIL <workflow>: <check>: <why>
//!
//! followed by `N passed, N failed` and, when checks of v1.1-only features
//! (marked `[v1.1]` in their name) failed, `v1.1-only failures: K`.
//! The exit code is 0 when nothing failed, 1 otherwise, 2 on usage errors.
//!
//! The checks are written from the text of the distribution-spec `spec.md`
//! (v1.1.x). This program is deliberately independent of the registry's own
//! code: it only speaks HTTP.
//!
//! One module per workflow (`pull`, `push`, `discovery`, `management`, and `base` for
//! `GET /v2/`), the check runner and its report apart (`runner`), and the shared pieces:
//! `http` (the client), `expect` (assertions on responses), `content` (digests and JSON
//! builders), `media` (media types) and `fixtures` (the test context and common pushes).

#[macro_use]
mod runner;
mod auth;
mod base;
mod content;
mod discovery;
mod expect;
mod fixtures;
mod http;
mod management;
mod media;
mod pull;
mod push;

use std::time::Duration;

use clap::Parser;
use reqwest::blocking::Client as HttpClient;
use url::Url;

use crate::content::short_id;
use crate::fixtures::Env;
use crate::http::Registry;
use crate::runner::Report;

#[derive(Parser, Debug)]
#[command(
    name = "rbee-conformance",
    version,
    about = "OCI Distribution Specification v1.1 conformance checks against a running registry",
    after_help = "Output: one `PASS <workflow>: <check>` or `FAIL <workflow>: <check>: <why>` line \
per check, then `N passed, N failed`. Checks marked [v1.1] exercise features added in \
distribution-spec v1.1. Exit code 0 when no check failed, 1 otherwise."
)]
struct Args {
    /// Registry base URL, e.g. http://127.0.0.1:5000 (the API lives under /v2/).
    base_url: String,

    /// Repository used for the tests (nested names allowed).
    /// Default: conformance/test-<random>.
    #[arg(long, env = "RBEE_CONFORMANCE_NAMESPACE")]
    namespace: Option<String>,

    /// Second repository, target of the cross-repository mount checks.
    /// Default: <namespace>-cross.
    #[arg(long, env = "RBEE_CONFORMANCE_CROSS_NAMESPACE")]
    cross_namespace: Option<String>,

    /// User name for Basic auth or for the token (Bearer) flow.
    #[arg(long, env = "RBEE_CONFORMANCE_USERNAME")]
    username: Option<String>,

    /// Password for Basic auth or for the token (Bearer) flow.
    #[arg(long, env = "RBEE_CONFORMANCE_PASSWORD", hide_env_values = true)]
    password: Option<String>,

    /// Also require behaviours the spec leaves optional (MAY/SHOULD): a single-POST
    /// upload answered 201, tag deletion (202), rejection of manifests that
    /// reference unknown blobs, 413 for an oversized manifest, a Link header on a
    /// truncated tag list and the referrers artifactType filter. Without it, every
    /// alternative the spec permits passes.
    #[arg(long)]
    strict: bool,

    /// Keep the pushed content (no clean-up at the end).
    #[arg(long)]
    no_cleanup: bool,

    /// Trace every request and print notes on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// PEM file of CA certificates to trust besides the built-in roots (a registry serving
    /// HTTPS with a private CA).
    #[arg(long, env = "RBEE_CONFORMANCE_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,

    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

fn valid_repo_name(name: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
    fn component(c: &str) -> bool {
        let b = c.as_bytes();
        if b.is_empty() {
            return false;
        }
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        let mut i = 0;
        let mut first = true;
        while i < b.len() {
            if !first {
                // separator: '.', '_', '__' or one or more '-'
                match b[i] {
                    b'.' => i += 1,
                    b'_' => {
                        i += 1;
                        if i < b.len() && b[i] == b'_' {
                            i += 1;
                        }
                    }
                    b'-' => {
                        while i < b.len() && b[i] == b'-' {
                            i += 1;
                        }
                    }
                    _ => return false,
                }
            }
            let start = i;
            while i < b.len() && alnum(b[i]) {
                i += 1;
            }
            if i == start {
                return false;
            }
            first = false;
        }
        true
    }
    name.len() < 256 && name.split('/').all(component)
}

fn main() {
    let args = Args::parse();

    let mut base = match Url::parse(&args.base_url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
        _ => {
            eprintln!("error: BASE_URL must be an http(s) URL, got {:?}", args.base_url);
            std::process::exit(2);
        }
    };
    // The API is rooted at /v2/; keep only scheme, host and port.
    base.set_path("/");
    base.set_query(None);

    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| format!("conformance/test-{}", short_id()));
    let cross = args.cross_namespace.clone().unwrap_or_else(|| format!("{ns}-cross"));
    for n in [&ns, &cross] {
        if !valid_repo_name(n) {
            eprintln!("error: {n:?} is not a valid repository name");
            std::process::exit(2);
        }
    }
    if ns == cross {
        eprintln!("error: --namespace and --cross-namespace must differ");
        std::process::exit(2);
    }
    let creds = match (&args.username, &args.password) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        (None, None) => None,
        _ => {
            eprintln!("error: --username and --password go together");
            std::process::exit(2);
        }
    };

    let mut builder = HttpClient::builder()
        .timeout(Duration::from_secs(args.timeout))
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("rbee-conformance/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &args.ca_file {
        let certificates = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string()));
        match certificates {
            Ok(certificates) if !certificates.is_empty() => {
                for certificate in certificates {
                    builder = builder.add_root_certificate(certificate);
                }
            }
            Ok(_) => {
                eprintln!("error: CA file {}: holds no PEM certificate", path.display());
                std::process::exit(2);
            }
            Err(e) => {
                eprintln!("error: CA file {}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    let http = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            std::process::exit(2);
        }
    };

    let env = Env::new(
        Registry::new(http, base, creds, args.verbose),
        ns,
        cross,
        args.strict,
        args.verbose,
    );
    eprintln!(
        "rbee-conformance: registry {} namespace {} cross-namespace {}{}",
        env.reg.base,
        env.ns,
        env.cross,
        if env.strict { " (strict)" } else { "" }
    );

    let mut rep = Report::default();
    runner::run_workflows(&env, &mut rep);

    if !args.no_cleanup {
        env.run_cleanup();
    }

    std::process::exit(rep.finish());
}
