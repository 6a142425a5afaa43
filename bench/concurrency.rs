//! Concurrency: parallel 64 MiB pushes and parallel pulls of different blobs, aggregate throughput against distribution.

use std::path::Path;

use crate::Args;

pub fn run(_args: &Args, _work: &Path, _runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    Err("the concurrency group is not built yet".into())
}
