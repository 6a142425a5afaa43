//! `rbee-bench`: measures rbee-registry against CNCF distribution (`docker-registry`) in one
//! run, on 127.0.0.1, each with a fresh filesystem storage, and prints every figure for both
//! with their ratio. Blob pulls are also compared with nginx `sendfile` serving the same file.
//!
//! It is a program, not a test: numbers depend on the machine and its load. `bench/run.sh`
//! builds and runs it; `bench/README.md` has the results and how to read them.
//!
//! Per server: 256 MiB push (POST, one streamed PATCH, PUT ?digest=) and pull; 4 KiB pushes
//! (POST + PUT ?digest= with the body) at concurrency 8; manifest GET and tag listing of a
//! 1000-tag repository with `wrk`; peak RSS (VmHWM) and server CPU per operation
//! (utime+stime from /proc). For rbee-registry only (distribution has no worker API): one
//! small worker is published with the library's `publish` (what `rbee-registry publish`
//! runs), then `/v1/workers`, the download endpoint (a JSON answer naming the package's
//! URL) and the package download at that URL (counted in the download statistics).
//!
//! `--pages` measures only the browser pages instead (`pages`: the catalog page of 1,000 workers).
//! The groups `--s3`, `--disk`, `--small`, `--concurrency`, `--client-path`, `--tokens` and
//! `--growth` (one module each, named so) measure one question each, against distribution
//! or against the physical limit, and print their own table; `--all` runs every group.
//! One module per measurement (`blobs`, `small_pushes`, `manifests`, `tags`, `workers`),
//! `measure` running them in order on one server, `report` printing the table, and the
//! shared pieces apart: `servers` (the processes) and `client` (requests and `wrk`).

mod blobs;
mod client;
mod client_path;
mod concurrency;
mod disk;
mod growth;
mod manifests;
mod measure;
mod pages;
mod report;
mod s3;
mod s3_limit;
mod s3_redirect;
mod s3_setup;
mod servers;
mod small;
mod small_pushes;
mod tags;
mod tokens;
mod workers;

use std::path::PathBuf;

use clap::Parser;

use crate::blobs::{measure_nginx, measure_unsynced_push};
use crate::measure::measure;
use crate::report::{load, machine};
use crate::servers::{start_distribution, start_rbee, tempfile_dir};

#[derive(Parser)]
#[command(name = "rbee-bench", about = "rbee-registry against distribution, same run")]
pub struct Args {
    /// The rbee-registry binary (a release build).
    #[arg(long)]
    pub rbee: PathBuf,
    /// Extra arguments for `rbee-registry serve` (for example `--config file.toml`).
    #[arg(long, allow_hyphen_values = true)]
    pub rbee_arg: Vec<String>,
    /// The distribution binary.
    #[arg(long, default_value = "docker-registry")]
    pub distribution: String,
    /// The nginx binary (the pull comparison is skipped when it is missing).
    #[arg(long, default_value = "nginx")]
    pub nginx: String,
    /// Size of the large blob, MiB.
    #[arg(long, default_value_t = 256)]
    pub large_mib: usize,
    /// Seconds of each timed load (small pushes, wrk runs).
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Tags in the tag-listing repository.
    #[arg(long, default_value_t = 1000)]
    pub tags: usize,
    /// Where servers keep their data (a temporary directory by default).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Measure only the large blob push and pull (and nginx), skipping the other figures.
    #[arg(long)]
    pub blobs_only: bool,
    /// Measure only the browser pages: the catalog page of `--page-workers` workers
    /// (`bench/pages.rs`), rbee-registry alone.
    #[arg(long)]
    pub pages: bool,
    /// Workers published before the pages are timed.
    #[arg(long, default_value_t = 1000)]
    pub page_workers: usize,
    /// Sequential requests per page timed.
    #[arg(long, default_value_t = 200)]
    pub page_runs: usize,
    /// Group: the S3 path side by side with distribution's s3 driver, and the direct S3 limit.
    #[arg(long)]
    pub s3: bool,
    /// Group: the durable large push against `dd conv=fsync` on the same filesystem.
    #[arg(long)]
    pub disk: bool,
    /// Group: server CPU per 4 KiB push under a paced load generator.
    #[arg(long)]
    pub small: bool,
    /// Group: parallel large pushes and parallel pulls against distribution.
    #[arg(long)]
    pub concurrency: bool,
    /// Group: `install` against curl + tar, `publish` against `oras push`.
    #[arg(long)]
    pub client_path: bool,
    /// Rounds of each command in the client path group (alternating; medians reported).
    #[arg(long, default_value_t = 5)]
    pub client_rounds: usize,
    /// Group: bearer-token manifest GETs against anonymous ones, and the token endpoint.
    #[arg(long)]
    pub tokens: bool,
    /// Group: the growth run (100,000 tags, 10,000 repositories, 1,000 workers).
    #[arg(long)]
    pub growth: bool,
    /// Every group above, one after the other.
    #[arg(long)]
    pub all: bool,
}

/// A measurement group: its flag's name and what runs it.
type Group = (
    &'static str,
    fn(&Args, &std::path::Path, &tokio::runtime::Runtime) -> Result<(), String>,
);

impl Args {
    /// The groups asked for, in the order they run.
    fn groups(&self) -> Vec<Group> {
        let all: [(bool, Group); 7] = [
            (self.s3, ("s3", s3::run)),
            (self.disk, ("disk", disk::run)),
            (self.small, ("small", small::run)),
            (self.concurrency, ("concurrency", concurrency::run)),
            (self.client_path, ("client-path", client_path::run)),
            (self.tokens, ("tokens", tokens::run)),
            (self.growth, ("growth", growth::run)),
        ];
        all.into_iter()
            .filter(|(asked, _)| *asked || self.all)
            .map(|(_, group)| group)
            .collect()
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rbee-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Measures rbee-registry (then once more without fsync, and nginx on its stored blob), then
/// distribution, and prints the table.
fn run(args: &Args) -> Result<(), String> {
    let temp = tempfile_dir(args)?;
    let work = temp.as_path();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let load_before = load();
    eprintln!("rbee-bench: machine {}, load {load_before}", machine());
    if args.pages {
        let rbee = start_rbee(args, work, "rbee-pages", &[])?;
        runtime.block_on(pages::measure(&rbee, args.page_workers, args.page_runs))?;
        println!("\nmachine {}, load before {load_before}, after {}", machine(), load());
        return Ok(());
    }
    let groups = args.groups();
    if !groups.is_empty() {
        let mut failed = Vec::new();
        for (name, run) in groups {
            eprintln!("rbee-bench: group {name}");
            if let Err(message) = run(args, work, &runtime) {
                eprintln!("rbee-bench: group {name} failed: {message}");
                failed.push(name);
            }
        }
        println!("\nmachine {}, load before {load_before}, after {}", machine(), load());
        return match failed.is_empty() {
            true => Ok(()),
            false => Err(format!("groups failed: {}", failed.join(", "))),
        };
    }

    eprintln!("rbee-bench: measuring rbee-registry");
    let rbee = start_rbee(args, work, "rbee", &[])?;
    let ours = runtime.block_on(measure(args, &rbee))?;
    // nginx serves the file rbee stored for the large blob, by its path under the blob root.
    let nginx_figure = runtime.block_on(measure_nginx(args, &rbee, work));
    drop(rbee);
    let unsynced_push = runtime.block_on(measure_unsynced_push(args, work))?;

    eprintln!("rbee-bench: measuring distribution");
    let distribution = start_distribution(args, work)?;
    let theirs = runtime.block_on(measure(args, &distribution))?;
    drop(distribution);
    let load_after = load();

    report::print(
        args,
        &report::Measured {
            ours,
            theirs,
            unsynced_push,
            nginx: nginx_figure,
            load_before,
            load_after,
        },
    );
    Ok(())
}
