//! A mirror run longer than the upstream's token lifetime (5 s, which the origin accepts
//! for 30 s more of clock skew) completes: the client meets a `401` on its expired token
//! and runs the token flow again.

use std::time::Duration;

use crate::auth_support::{admin_secret, get_with, token_for};
use crate::licenses_cli::create_publisher;
use crate::mirror_support::*;
use crate::support::*;

const WORKER: &str = "llm-worker-rbee-cuda";

#[tokio::test]
async fn a_mirror_outlasting_the_upstreams_tokens_completes() {
    let work = tempfile::tempdir().unwrap();
    let origin_site = TestSite::new().await;
    let origin = origin_site
        .start_protected(|config| config.auth.tokens.lifetime = Duration::from_secs(5))
        .await;
    let publisher = create_publisher(&origin_site, "ci", &["workers/*"], &[]);
    publish_big_worker(
        &client_with(&origin, &publisher),
        work.path(),
        WORKER,
        "2.0.0",
        &["linux/amd64", "linux/arm64"],
        1 << 20,
    )
    .await;
    let admin = admin_secret(&origin);
    let repository = format!("workers/{WORKER}");
    // A token from before the run: when the run is over, it has expired.
    let early = token_for(&origin, Some(&admin), &[&format!("repository:{repository}:pull")]).await;

    let mirror_site = TestSite::new().await;
    // About 2 MiB at 48 KiB/s, one blob at a time: past the lifetime and the skew (35 s).
    let mut command = mirror_command(
        &mirror_site,
        &origin.base_url,
        &[
            "--repo",
            &repository,
            "--max-bytes-per-second",
            "49152",
            "--concurrency",
            "1",
        ],
    );
    command.args(["--username", "admin", "--password", &admin]);
    let run = run_mirror_ok(command).await;
    assert_eq!(run.count("errors"), 0, "{}", run.stderr);

    let expired = get_with(&origin, &format!("/v2/{repository}/tags/list"), &early).await;
    assert_eq!(expired.status(), 401, "the run outlasted the token lifetime");
    let mirror = mirror_site.start().await;
    assert_same_repository(
        &client_with(&origin, &admin),
        &crate::worker_fixtures::client(&mirror),
        &repository,
        &["2.0.0"],
    )
    .await;
}
