//! The measurements of one server, in the order they run (and print their steps on stderr).

use crate::report::Results;
use crate::servers::Server;
use crate::{blobs, manifests, small_pushes, tags, workers, Args};

/// Measures `server`: the large blob, then (unless `--blobs-only`) small pushes, manifest
/// GET, tag listing and, where the server has it, the worker API; peak RSS last.
pub async fn measure(args: &Args, server: &Server) -> Result<Results, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = Results::default();
    blobs::measure_large(args, &client, server, &mut results).await?;
    if args.blobs_only {
        results.peak_rss_mib = server.peak_rss_mib();
        return Ok(results);
    }
    small_pushes::measure(args, &client, server, &mut results).await?;
    let image = manifests::measure(args, &client, server, &mut results).await?;
    tags::measure(args, &client, server, &image, &mut results).await?;
    workers::measure(args, &client, server, &mut results).await?;
    results.peak_rss_mib = server.peak_rss_mib();
    Ok(results)
}
