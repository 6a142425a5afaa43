//! The disk's limit: the durable large push (rbee-registry's defaults: SQLite, filesystem,
//! `storage.fsync = true`) against `dd bs=1M conv=fsync` of the same bytes to the same
//! filesystem, alternating in one run.
//!
//! Each round has bytes of its own (a push of a blob already stored would skip the move into
//! place). The round's bytes are written to a source file under the work directory and
//! fsynced before anything is timed, so `dd` reads them from the page cache and no dirty
//! pages of the source are written back meanwhile; the push client sends the same bytes from
//! memory. `dd`'s output is removed and `sync` run after each copy, outside the timing.
//!
//! A second limit is printed beside `dd`: SHA-256 of the same bytes on one core (the `sha2`
//! crate the server hashes with), timed in the same rounds. A push verifies every byte, so it
//! cannot be faster than that, whatever the disk.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::client::{pseudo_random, push_streamed_phases, sha256, PushPhases};
use crate::report::{heading, show, Samples, Table};
use crate::servers::{start_rbee, Server};
use crate::Args;

/// Copies and pushes per run (each; the medians count).
const ROUNDS: u64 = 5;

pub fn run(args: &Args, work: &Path, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let size = args.large_mib * 1024 * 1024;
    let scratch = work.join("disk");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let rbee = start_rbee(args, work, "rbee-disk", &[])?;
    let client = reqwest::Client::new();
    // A first small push creates the repository and the blob directories' parents.
    runtime.block_on(push_streamed_phases(
        &client,
        &rbee,
        "bench/disk",
        pseudo_random(4096, 1).into(),
    ))?;
    let (mut dd, mut hashing, mut pushes) = (Samples::default(), Samples::default(), Vec::new());
    let (mut cpu, mut dd_cpu) = (Samples::default(), Samples::default());
    for round in 0..ROUNDS {
        let data = bytes::Bytes::from(pseudo_random(size, 7000 + round));
        let started = Instant::now();
        std::hint::black_box(sha256(&data));
        hashing.0.push(started.elapsed().as_secs_f64());
        let source = scratch.join("source");
        write_synced(&source, &data)?;
        sync()?;
        let target = scratch.join("dd-output");
        let copy = || -> Result<(f64, f64), String> {
            let timed = dd_fsync(&source, &target)?;
            std::fs::remove_file(&target).map_err(|e| e.to_string())?;
            sync()?;
            Ok(timed)
        };
        let push = || -> Result<(PushPhases, f64), String> {
            let before = rbee.cpu_seconds();
            let phases = runtime.block_on(push_streamed_phases(&client, &rbee, "bench/disk", data.clone()))?;
            Ok((phases, rbee.cpu_seconds() - before))
        };
        rbee.step(&format!("round {} of {ROUNDS}", round + 1));
        // Alternating which goes first, so neither always follows the other's write-back.
        let ((seconds, copy_cpu), (phases, used)) = if round.is_multiple_of(2) {
            let seconds = copy()?;
            (seconds, push()?)
        } else {
            let pushed = push()?;
            (copy()?, pushed)
        };
        sync()?;
        dd.0.push(seconds);
        dd_cpu.0.push(copy_cpu);
        pushes.push(phases);
        cpu.0.push(used);
    }
    print(args, &rbee, [&dd, &hashing], &pushes, [&cpu, &dd_cpu]);
    Ok(())
}

/// Writes `data` to `path` and fsyncs it.
fn write_synced(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    file.write_all(data).map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())
}

fn sync() -> Result<(), String> {
    let status = Command::new("sync").status().map_err(|e| format!("sync: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("sync: {status}"))
}

/// CPU seconds (user + system) of this process's finished children so far.
fn children_cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given and has no other effect.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// `dd if=source of=target bs=1M conv=fsync`: its wall-clock and CPU seconds.
fn dd_fsync(source: &Path, target: &Path) -> Result<(f64, f64), String> {
    let cpu = children_cpu_seconds();
    let started = Instant::now();
    let status = Command::new("dd")
        .arg(format!("if={}", source.display()))
        .arg(format!("of={}", target.display()))
        .args(["bs=1M", "conv=fsync", "status=none"])
        .status()
        .map_err(|e| format!("dd: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = children_cpu_seconds() - cpu;
    status
        .success()
        .then_some((seconds, cpu))
        .ok_or_else(|| format!("dd: {status}"))
}

/// `limits`: seconds of each `dd` copy and of each SHA-256 of the same bytes; `cpu`:
/// rbee-registry's CPU seconds per push and dd's per copy.
fn print(args: &Args, rbee: &Server, limits: [&Samples; 2], pushes: &[PushPhases], cpu: [&Samples; 2]) {
    let [dd, hashing] = limits;
    let mib = args.large_mib as f64;
    let total = Samples(pushes.iter().map(PushPhases::total).collect());
    let phase = |pick: fn(&PushPhases) -> f64| Samples(pushes.iter().map(pick).collect()).quantile(0.5) * 1000.0;
    heading(&format!(
        "disk: durable {} MiB push against dd conv=fsync ({ROUNDS} each, alternating)",
        args.large_mib
    ));
    let mut table = Table::new(&["figure", "unit", "rbee-registry push", "dd conv=fsync", "rbee ÷ dd"]);
    for (name, q) in [("median", 0.5), ("best", 0.0)] {
        let (ours, limit) = (mib / total.quantile(q), mib / dd.quantile(q));
        table.row(vec![
            format!("{} MiB, {name}", args.large_mib),
            "MiB/s".into(),
            show(Some(ours)),
            show(Some(limit)),
            format!("{:.0} %", 100.0 * ours / limit),
        ]);
    }
    let hash_rate = mib / hashing.quantile(0.0);
    table.row(vec![
        "limit 2: SHA-256 of the same bytes, one core (best)".into(),
        "MiB/s".into(),
        String::new(),
        show(Some(hash_rate)),
        format!(
            "{:.0} % (best push ÷ this)",
            100.0 * (mib / total.quantile(0.0)) / hash_rate
        ),
    ]);
    table.row(vec![
        "seconds, each round".into(),
        "s".into(),
        seconds_list(&total.0),
        seconds_list(&dd.0),
        String::new(),
    ]);
    table.row(vec![
        "push: POST / PATCH / PUT, medians".into(),
        "ms".into(),
        format!(
            "{:.1} / {:.0} / {:.1}",
            phase(|p| p.post),
            phase(|p| p.patch),
            phase(|p| p.put)
        ),
        String::new(),
        String::new(),
    ]);
    table.row(vec![
        "CPU per push (server) and per copy (dd), median".into(),
        "ms".into(),
        show(Some(cpu[0].quantile(0.5) * 1000.0)),
        show(Some(cpu[1].quantile(0.5) * 1000.0)),
        String::new(),
    ]);
    table.row(vec![
        "server peak RSS (VmHWM)".into(),
        "MiB".into(),
        show(Some(rbee.peak_rss_mib())),
        String::new(),
        String::new(),
    ]);
    table.print();
}

fn seconds_list(seconds: &[f64]) -> String {
    seconds.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(", ")
}
