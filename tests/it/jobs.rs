//! The job runner (`services::jobs`) on the real database of the test backend: several
//! runners on one database (as several processes) run a job once per interval between them,
//! a dead holder's lease expires and is taken over, and every process sees a job's status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rbee_registry::config::FileConfig;
use rbee_registry::services::jobs::{Job, JobFailure, JobRunner, JobStatus, GC_JOB};
use rbee_registry::services::Registry;

use crate::support::TestSite;

/// Waits (up to a minute) until the job's status satisfies `done`; returns that status.
async fn wait_for(registry: &Registry, name: &str, done: impl Fn(&JobStatus) -> bool) -> JobStatus {
    for _ in 0..1200 {
        if let Some(status) = registry.job_status(name).await.unwrap() {
            if done(&status) {
                return status;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "job {name}: condition not reached; status {:?}",
        registry.job_status(name).await
    );
}

#[tokio::test]
async fn two_runners_on_one_database_run_a_job_once_per_interval_between_them() {
    let site = TestSite::new().await;
    let interval = Duration::from_millis(300);
    let running = Arc::new(AtomicBool::new(false));
    let overlapped = Arc::new(AtomicBool::new(false));
    let runs: Arc<Mutex<Vec<(SystemTime, &'static str)>>> = Arc::default();
    let job = |runner: &'static str| {
        let (running, overlapped, runs) = (running.clone(), overlapped.clone(), runs.clone());
        Job::new("counted", Some(interval), move || {
            let (running, overlapped, runs) = (running.clone(), overlapped.clone(), runs.clone());
            async move {
                if running.swap(true, Ordering::SeqCst) {
                    overlapped.store(true, Ordering::SeqCst);
                }
                runs.lock().unwrap().push((SystemTime::now(), runner));
                tokio::time::sleep(Duration::from_millis(30)).await;
                running.store(false, Ordering::SeqCst);
                Ok(format!("run by {runner}"))
            }
        })
        .first_run_now()
    };
    let (a, b) = (site.registry().await, site.registry().await);
    let mut runner_a = JobRunner::new(a.clone());
    let mut runner_b = JobRunner::new(b.clone());
    runner_a.register(job("a")).await.unwrap();
    runner_b.register(job("b")).await.unwrap();

    let status = wait_for(&b, "counted", |status| status.runs >= 5).await;
    runner_a.stop();
    runner_b.stop();
    runner_a.join().await;
    runner_b.join().await;

    let status_after = a.job_status("counted").await.unwrap().unwrap();
    let runs = runs.lock().unwrap().clone();
    assert!(status.runs >= 5);
    assert!(!overlapped.load(Ordering::SeqCst), "two runs at once");
    assert_eq!(status_after.runs as usize, runs.len(), "every run is recorded once");
    assert!(status_after.running.is_none(), "released: {status_after:?}");
    let last = status_after.last_run.unwrap();
    assert!(last.succeeded);
    assert!(last.message.starts_with("run by "), "{}", last.message);
    assert!(status_after.last_success_at.is_some());
    // Once per interval between the two: consecutive starts are an interval apart (less
    // the few milliseconds between taking the lease and the job's first line), never two
    // runs for one due time.
    for pair in runs.windows(2) {
        let gap = pair[1].0.duration_since(pair[0].0).unwrap();
        assert!(
            gap >= interval / 2,
            "runs {:?} and {:?} only {gap:?} apart",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn a_dead_holders_lease_expires_and_another_runner_takes_the_job_over() {
    let site = TestSite::new().await;
    let (a, b) = (site.registry().await, site.registry().await);
    let lease = Duration::from_millis(900);
    let (started, mut started_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut runner_a = JobRunner::new(a.clone()).with_lease(lease);
    let holder_a = runner_a.holder().to_string();
    runner_a
        .register(
            Job::new("takeover", Some(Duration::from_millis(100)), move || {
                let started = started.clone();
                async move {
                    let _ = started.send(()).await;
                    // Hangs, as a process that dies during the run would.
                    std::future::pending::<()>().await;
                    Ok(String::new())
                }
            })
            .first_run_now(),
        )
        .await
        .unwrap();
    started_rx.recv().await.unwrap();
    let held = b.job_status("takeover").await.unwrap().unwrap();
    let running = held.running.clone().expect("the run holds the lease");
    assert_eq!(running.holder, holder_a);
    assert_eq!(held.runs, 0);
    // Runner A goes away without releasing its lease (its tasks are aborted).
    drop(runner_a);

    let mut runner_b = JobRunner::new(b.clone()).with_lease(lease);
    let holder_b = runner_b.holder().to_string();
    runner_b
        .register(Job::new(
            "takeover",
            Some(Duration::from_secs(3600)),
            move || async move { Ok("taken over".to_string()) },
        ))
        .await
        .unwrap();
    let status = wait_for(&a, "takeover", |status| status.runs >= 1).await;
    let run = status.last_run.unwrap();
    assert_eq!(run.message, "taken over");
    assert!(
        run.started_at >= running.lease_expires_at,
        "taken over at {:?}, before the lease seen at {:?} expired",
        run.started_at,
        running.lease_expires_at
    );
    assert_ne!(holder_a, holder_b);
    assert!(status.running.is_none());
    assert!(
        status.next_run_at.unwrap() > run.started_at,
        "the next run is an interval away"
    );
    runner_b.stop();
    runner_b.join().await;
}

#[tokio::test]
async fn a_job_triggered_in_one_process_runs_in_another_and_both_see_the_outcome() {
    let site = TestSite::new().await;
    let (a, b) = (site.registry().await, site.registry().await);
    let mut runner_a = JobRunner::new(a.clone());
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    runner_a
        .register(Job::new("on-demand", None, move || {
            let counted = counted.clone();
            async move {
                let call = {
                    let mut calls = counted.lock().unwrap();
                    *calls += 1;
                    *calls
                };
                if call == 1 {
                    Err(JobFailure("the source is unreachable".into()))
                } else {
                    Ok(format!("call {call}"))
                }
            }
        }))
        .await
        .unwrap();
    let status = b.job_status("on-demand").await.unwrap().unwrap();
    assert_eq!((status.runs, status.next_run_at, status.last_run), (0, None, None));
    assert!(!b.trigger_job("no-such-job").await.unwrap());

    // Triggered through the process without a runner: the other one runs it.
    assert!(b.trigger_job("on-demand").await.unwrap());
    let failed = wait_for(&b, "on-demand", |status| status.runs == 1).await;
    let run = failed.last_run.unwrap();
    assert!(!run.succeeded);
    assert_eq!(run.message, "the source is unreachable");
    assert_eq!(failed.last_success_at, None);
    assert_eq!(failed.next_run_at, None, "not periodic");

    assert!(a.trigger_job("on-demand").await.unwrap());
    let succeeded = wait_for(&b, "on-demand", |status| status.runs == 2).await;
    assert!(succeeded.last_run.as_ref().unwrap().succeeded);
    assert_eq!(succeeded.last_success_at, Some(succeeded.last_run.unwrap().finished_at));
    assert_eq!(*calls.lock().unwrap(), 2);
    assert_eq!(
        b.job_statuses()
            .await
            .unwrap()
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["on-demand"]
    );
    runner_a.stop();
    runner_a.join().await;
}

#[tokio::test]
async fn the_periodic_collection_of_serve_runs_as_a_job_seen_on_every_process() {
    let site = TestSite::new().await;
    let observer = site.start().await;
    let collector = site
        .start_configured(FileConfig::default(), |config| {
            config.gc.interval = Some(Duration::from_millis(200));
        })
        .await;
    let registry = site.registry().await;
    let status = wait_for(&registry, GC_JOB, |status| status.last_success_at.is_some()).await;
    assert!(status.last_run.unwrap().message.starts_with("removed 0 blobs"));
    // The server without periodic collection shows the job's outcome too, from the database.
    let text = observer.get("/metrics").await.text().await.unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("rbee_job_last_success_timestamp_seconds{job=\"gc\"}"))
        .unwrap_or_else(|| panic!("no job series in {text}"));
    let seconds: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds > 1.7e9, "{line}");
    assert!(text.contains("rbee_job_last_run_success{job=\"gc\"} 1"), "{text}");
    assert!(text.contains("rbee_gc_last_run_success 1"), "{text}");
    collector.stop().await;
    observer.stop().await;
}
