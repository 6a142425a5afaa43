//! The check runner: `check!` registers one check and records its outcome, `Report` prints
//! each `PASS`/`FAIL` line and the tally, and `run_workflows` runs the workflows in their
//! order. `--strict` reaches the checks as `Env::strict`; the known deviations of CNCF
//! distribution are tolerated outside, by `run-against-distribution.sh`, which reads this
//! output.

use std::io::Write;

use crate::fixtures::Env;
use crate::http::one_line;
use crate::{base, discovery, management, pull, push};

/// Marker for checks of features that only exist since distribution-spec v1.1.
pub const V11: &str = "[v1.1]";

/// Returns `Err(why)` from the enclosing check (or helper) when the condition is false.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Runs a block as one check and records the outcome under the workflow's name. A check's
/// name is its identity in the output (scripts and the known-deviation list match on it).
macro_rules! check {
    ($rep:expr, $wf:expr, $name:expr, $body:block) => {{
        #[allow(unused_mut)]
        let result: Result<(), String> = (|| -> Result<(), String> { $body })();
        $rep.record($wf, &$name, result);
    }};
}

/// The value an earlier check produced, or the failure of a check whose prerequisite failed.
pub fn need<'a, T>(v: &'a Option<T>, what: &str) -> Result<&'a T, String> {
    v.as_ref()
        .ok_or_else(|| format!("not run: prerequisite failed ({what})"))
}

/// The tally of one run; `record` prints each check's line as it finishes.
#[derive(Default)]
pub struct Report {
    passed: usize,
    failed: usize,
    v11_failed: usize,
}

impl Report {
    pub fn record(&mut self, workflow: &str, name: &str, result: Result<(), String>) {
        let mut out = std::io::stdout().lock();
        match result {
            Ok(()) => {
                self.passed += 1;
                let _ = writeln!(out, "PASS {workflow}: {name}");
            }
            Err(why) => {
                self.failed += 1;
                if name.contains(V11) {
                    self.v11_failed += 1;
                }
                let _ = writeln!(out, "FAIL {workflow}: {name}: {}", one_line(&why, 600));
            }
        }
        let _ = out.flush();
    }

    /// Prints the tally (`N passed, N failed`, then `v1.1-only failures: K` when some `[v1.1]`
    /// check failed) and returns the exit status: 0 when nothing failed, 1 otherwise.
    pub fn finish(&self) -> i32 {
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.v11_failed > 0 {
            println!("v1.1-only failures: {}", self.v11_failed);
        }
        if self.failed == 0 {
            0
        } else {
            1
        }
    }
}

/// The workflows in the order the output lists them; none runs when `GET /v2/` cannot be
/// reached at all.
pub fn run_workflows(env: &Env, rep: &mut Report) {
    if base::run(env, rep) {
        pull::run(env, rep);
        push::run(env, rep);
        discovery::run(env, rep);
        management::run(env, rep);
    } else {
        eprintln!("rbee-conformance: the registry cannot be reached; no further checks run");
    }
}
