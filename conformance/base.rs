//! The base check: `GET /v2/` (end-1), and whether the registry can be reached at all.

use reqwest::Method;

use crate::expect::expect_status;
use crate::fixtures::Env;
use crate::http::ReqBody;
use crate::runner::Report;

/// Returns false when the registry could not be reached at all.
pub fn run(env: &Env, rep: &mut Report) -> bool {
    let wf = "base";
    let mut reachable = false;
    check!(
        rep,
        wf,
        "GET /v2/ returns 200 (401 only with a WWW-Authenticate challenge that the given credentials satisfy)",
        {
            let url = env.reg.url("/v2/")?;
            let r = env.reg.raw(&Method::GET, &url, &[], &ReqBody::Empty, None)?;
            reachable = true;
            match r.status {
                200 => Ok(()),
                401 => {
                    ensure!(
                        r.header("www-authenticate").is_some(),
                        "401 without a WWW-Authenticate header"
                    );
                    // With a Bearer challenge an anonymous token may do; otherwise credentials.
                    let r = env.reg.get("/v2/")?;
                    expect_status(&r, &[200]).map_err(|e| match env.reg.creds {
                        Some(_) => format!("after authenticating: {e}"),
                        None => format!(
                            "registry requires authentication (401) and no --username/--password was given: {e}"
                        ),
                    })
                }
                _ => expect_status(&r, &[200]),
            }
        }
    );
    reachable
}
