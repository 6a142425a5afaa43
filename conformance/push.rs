//! The push workflow: blob uploads (`push/blobs.rs`), then manifests (`push/manifests.rs`).

mod blobs;
mod manifests;

use crate::fixtures::Env;
use crate::runner::Report;

pub fn run(env: &Env, rep: &mut Report) {
    blobs::run(env, rep);
    manifests::run(env, rep);
}
