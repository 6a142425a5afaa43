//! The mirror as a job of `serve` (`[mirror]` in the configuration file): registered with
//! the job runner, it runs at once under its upstream's lease and records its state.

use crate::mirror_support::*;
use crate::support::*;
use crate::worker_fixtures::eventually;

#[tokio::test]
async fn serve_runs_the_configured_mirror_as_a_job() {
    let work = tempfile::tempdir().unwrap();
    let (_origin_site, origin, admin) = protected_origin(work.path(), |_| {}).await;
    let site = TestSite::new().await;
    let file: rbee_registry::config::FileConfig = toml::from_str(&format!(
        "[mirror]\nupstream = \"{}\"\nrepos = [\"workers/llm-worker-rbee-cpu\"]\ninterval = \"1h\"\n\
         username = \"admin\"\npassword = \"{admin}\"\nconcurrency = 2\nstale_after = \"1h\"\n",
        origin.base_url
    ))
    .unwrap();
    let mirror = site.start_configured(file, |_| {}).await;
    eventually("the mirror job's first run", || async {
        let state: serde_json::Value = mirror.get("/v1/mirrors").await.json().await.unwrap();
        state["mirrors"][0]["result"] == "ok"
    })
    .await;
    assert_same_repository(
        &client_with(&origin, &admin),
        &crate::worker_fixtures::client(&mirror),
        "workers/llm-worker-rbee-cpu",
        &VERSIONS,
    )
    .await;
    // The job's row says so too, under the upstream's name.
    let metrics = mirror.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "rbee_job_last_run_success{{job=\"mirror {}\"}} 1",
            origin.base_url
        )),
        "{metrics}"
    );
}
