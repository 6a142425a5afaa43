//! The mirrors' state as Prometheus text, read from the database at each scrape (mirror
//! runs happen in any process, or in `rbee-registry mirror`).

use std::fmt::Write as _;
use std::time::SystemTime;

pub const MIRROR_LAST_RUN_SUCCESS: &str = "rbee_mirror_last_run_success";
pub const MIRROR_LAST_SUCCESS: &str = "rbee_mirror_last_success_timestamp_seconds";
pub const MIRROR_LAG: &str = "rbee_mirror_lag_seconds";
pub const MIRROR_LAST_RUN_BYTES: &str = "rbee_mirror_last_run_bytes";
pub const MIRROR_LAST_RUN_BLOBS: &str = "rbee_mirror_last_run_blobs";

/// One mirrored repository for `/metrics`: plain values services fill from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorRecord {
    pub upstream: String,
    pub repository: String,
    pub last_run_succeeded: bool,
    pub last_success_at: Option<SystemTime>,
    pub lag_seconds: f64,
    pub bytes_copied: u64,
    pub blobs_copied: u64,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Every mirrored repository's series, to append to the recorder's output.
pub fn render_mirrors(mirrors: &[MirrorRecord]) -> String {
    if mirrors.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, value: &dyn Fn(&MirrorRecord) -> Option<f64>| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
        for mirror in mirrors {
            if let Some(value) = value(mirror) {
                let _ = writeln!(
                    text,
                    "{name}{{upstream=\"{}\",repository=\"{}\"}} {value}",
                    escape(&mirror.upstream),
                    escape(&mirror.repository)
                );
            }
        }
    };
    gauge(
        MIRROR_LAST_RUN_SUCCESS,
        "1 when the mirror's latest run of the repository succeeded, 0 when it failed",
        &|mirror| Some(if mirror.last_run_succeeded { 1.0 } else { 0.0 }),
    );
    gauge(
        MIRROR_LAST_SUCCESS,
        "Unix time the mirror's latest successful run of the repository finished",
        &|mirror| {
            mirror.last_success_at.map(|time| {
                time.duration_since(SystemTime::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_secs_f64())
                    .unwrap_or(0.0)
            })
        },
    );
    gauge(
        MIRROR_LAG,
        "Seconds the repository has had upstream tags not mirrored here (0: caught up)",
        &|mirror| Some(mirror.lag_seconds),
    );
    gauge(
        MIRROR_LAST_RUN_BYTES,
        "Bytes the latest mirror run of the repository received",
        &|mirror| Some(mirror.bytes_copied as f64),
    );
    gauge(
        MIRROR_LAST_RUN_BLOBS,
        "Blobs the latest mirror run of the repository stored",
        &|mirror| Some(mirror.blobs_copied as f64),
    );
    text
}
