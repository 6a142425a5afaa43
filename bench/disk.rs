//! The disk's limit: the durable 256 MiB push against `dd conv=fsync` of the same bytes on the same filesystem.

use std::path::Path;

use crate::Args;

pub fn run(_args: &Args, _work: &Path, _runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    Err("the disk group is not built yet".into())
}
