//! The results and how they are printed: one Markdown row per figure with both servers,
//! their ratio and the server CPU per operation, then peak RSS, the nginx comparison and
//! the notes (`bench/README.md` describes the table).

use crate::blobs::NginxComparison;
use crate::Args;

/// One figure for one server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figure {
    pub value: Option<f64>,
    /// Server CPU per operation, milliseconds.
    pub cpu_ms: Option<f64>,
}

/// Everything measured for one server.
#[derive(Debug, Default)]
pub struct Results {
    pub push_large_mib_s: Figure,
    pub pull_large_mib_s: Figure,
    pub push_small_per_s: Figure,
    pub manifest_rps: Figure,
    pub manifest_p99_ms: Figure,
    pub tags_rps: Figure,
    pub tags_p99_ms: Figure,
    pub workers_rps: Option<Figure>,
    pub download_rps: Option<Figure>,
    pub package_rps: Option<Figure>,
    pub peak_rss_mib: f64,
    pub notes: Vec<String>,
}

pub fn show(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "n/a".into(),
    }
}

pub fn ratio(ours: Option<f64>, theirs: Option<f64>, higher_is_better: bool) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
            let r = if higher_is_better { a / b } else { b / a };
            format!("{r:.2}×")
        }
        _ => "n/a".into(),
    }
}

pub fn row(name: &str, unit: &str, ours: Figure, theirs: Figure, higher_is_better: bool) -> String {
    format!(
        "| {name} | {unit} | {} | {} | {} | {} | {} |",
        show(ours.value),
        show(theirs.value),
        ratio(ours.value, theirs.value, higher_is_better),
        show(ours.cpu_ms),
        show(theirs.cpu_ms),
    )
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores ({cpu})")
}

pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn print_peak_rss(ours: &Results, theirs: &Results) {
    println!(
        "| peak RSS over the run | MiB | {} | {} | {} | | |",
        show(Some(ours.peak_rss_mib)),
        show(Some(theirs.peak_rss_mib)),
        ratio(Some(ours.peak_rss_mib), Some(theirs.peak_rss_mib), false)
    );
    println!();
}

fn print_nginx(nginx_figure: &Result<NginxComparison, String>) {
    match nginx_figure {
        Ok(comparison) => {
            println!(
                "Blob pull against nginx sendfile of the same file (5 alternating pulls each, medians): nginx {} MiB/s, rbee-registry {} MiB/s = {:.0}% of nginx",
                show(Some(comparison.nginx_mib_s)),
                show(Some(comparison.rbee_mib_s)),
                100.0 * comparison.rbee_mib_s / comparison.nginx_mib_s
            );
        }
        Err(message) => println!("Blob pull against nginx sendfile: not measured ({message})"),
    }
}

/// Everything one run measured, for the table.
pub struct Measured {
    pub ours: Results,
    pub theirs: Results,
    /// The large push on an rbee-registry with `storage.fsync = false`.
    pub unsynced_push: Figure,
    pub nginx: Result<NginxComparison, String>,
    pub load_before: String,
    pub load_after: String,
}

/// Prints the table, the peak RSS row, the nginx comparison and the notes on stdout.
pub fn print(args: &Args, measured: &Measured) {
    let (ours, theirs) = (&measured.ours, &measured.theirs);
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "{date}; {}; load average (1, 5, 15 min) before {}, after {}",
        machine(),
        measured.load_before,
        measured.load_after
    );
    println!();
    println!("| figure | unit | rbee-registry | distribution | ratio | rbee CPU ms/op | distribution CPU ms/op |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "{}",
        row(
            &format!("{} MiB blob push (rbee default: fsync before visible)", args.large_mib),
            "MiB/s",
            ours.push_large_mib_s,
            theirs.push_large_mib_s,
            true
        )
    );
    println!(
        "{}",
        row(
            &format!(
                "{} MiB blob push, rbee with `storage.fsync = false` (no fsync, like distribution)",
                args.large_mib
            ),
            "MiB/s",
            measured.unsynced_push,
            theirs.push_large_mib_s,
            true
        )
    );
    println!(
        "{}",
        row(
            &format!("{} MiB blob pull", args.large_mib),
            "MiB/s",
            ours.pull_large_mib_s,
            theirs.pull_large_mib_s,
            true
        )
    );
    if args.blobs_only {
        print_peak_rss(ours, theirs);
        print_nginx(&measured.nginx);
        return;
    }
    println!(
        "{}",
        row(
            "4 KiB blob pushes, 8 at once",
            "pushes/s",
            ours.push_small_per_s,
            theirs.push_small_per_s,
            true
        )
    );
    println!(
        "{}",
        row(
            "manifest GET, 32 connections",
            "req/s",
            ours.manifest_rps,
            theirs.manifest_rps,
            true
        )
    );
    println!(
        "{}",
        row(
            "manifest GET p99",
            "ms",
            ours.manifest_p99_ms,
            theirs.manifest_p99_ms,
            false
        )
    );
    println!(
        "{}",
        row(
            &format!("tag list of {} tags, 8 connections", args.tags),
            "req/s",
            ours.tags_rps,
            theirs.tags_rps,
            true
        )
    );
    println!(
        "{}",
        row("tag list p99", "ms", ours.tags_p99_ms, theirs.tags_p99_ms, false)
    );
    for (name, figure) in [
        ("/v1/workers, 32 connections", ours.workers_rps),
        ("download endpoint, 32 connections", ours.download_rps),
        ("worker package GET (~64 KiB), 32 connections", ours.package_rps),
    ] {
        match figure {
            Some(figure) => println!(
                "| {name} | req/s | {} | no worker API | n/a | {} | n/a |",
                show(figure.value),
                show(figure.cpu_ms)
            ),
            None => println!("| {name} | req/s | not available (endpoint answers 404 or has no data) | no worker API | n/a | n/a | n/a |"),
        }
    }
    print_peak_rss(ours, theirs);
    print_nginx(&measured.nginx);
    for note in ours
        .notes
        .iter()
        .map(|n| format!("rbee-registry: {n}"))
        .chain(theirs.notes.iter().map(|n| format!("distribution: {n}")))
    {
        println!("Note: {note}");
    }
}

/// A Markdown table printed on stdout: what each measurement group (`--s3`, `--disk`, …)
/// prints, one row per figure.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|cell| cell.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        println!("| {} |", self.header.join(" | "));
        println!("|{}", "---|".repeat(self.header.len()));
        for row in &self.rows {
            println!("| {} |", row.join(" | "));
        }
        println!();
    }
}

/// A group's heading: its title, then the date, the machine and the load average.
pub fn heading(title: &str) {
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "\n#### {title}\n\n{date}; {}; load average (1, 5, 15 min) {}\n",
        machine(),
        load()
    );
}

/// Latency samples in milliseconds, for quantiles.
#[derive(Debug, Default, Clone)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    /// The `q` quantile (0.5 = median, 0.99 = p99) by nearest rank; NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[at.min(sorted.len() - 1)]
    }
}
