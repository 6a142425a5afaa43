//! The client path: `rbee-registry install` against curl + tar, `publish` against `oras push`.
//!
//! One worker package (a `.tar.gz` of a pseudo-random `bin/<worker>` of `--large-mib` MiB, a
//! LICENSE and the metadata, compressed at level 1: random bytes barely compress, so the
//! package is about as big as the binary) is published once with the `rbee-registry publish`
//! CLI. Then, alternating, `--client-rounds` times each, into a fresh directory:
//! - `rbee-registry install` (resolve, download, verify, unpack, switch), the real CLI;
//! - the limit: `curl` of the same blob from the same registry, then `tar xzf` of it, one
//!   after the other as a user would (the sum is timed; nothing is verified);
//! - for reference, the same with `sha256sum` between the two (what a careful user adds).
//!
//! Then, alternating, `rbee-registry publish` of the same files (a new worker id each round,
//! so no blob is already there) against `oras push` of the same two files (the ORAS Python
//! SDK, `oras.client.OrasClient.push`: the Go `oras` CLI is not installable here), each into a
//! new repository of the same registry. Medians, with the client's CPU (its process tree,
//! from `cutime + cstime`) and the server's per operation.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::client::pseudo_random;
use crate::report::{heading, Samples, Table};
use crate::servers::{clock_ticks, start_rbee, Server};
use crate::Args;

/// The worker the client path installs (its metadata is the test fixture's, renamed).
const WORKER: &str = "llm-worker-rbee-cpu";
const METADATA: &str = include_str!("../tests/fixtures/workers/llm-worker-rbee-cpu.metadata.json");
const PLATFORM: &str = "linux/amd64";

pub fn run(args: &Args, work: &Path, _runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let dir = work.join("client-path");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    eprintln!("rbee-bench: client-path: building the {} MiB package", args.large_mib);
    let fixture = Fixture::build(&dir, args.large_mib)?;
    let server = start_rbee(args, work, "rbee-client-path", &[])?;
    server.step("publishing the worker");
    fixture.publish(args, &server, WORKER)?;
    let rounds = args.client_rounds.max(1);

    let mut install = Timings::default();
    let mut limit = Timings::default();
    let mut careful = Timings::default();
    for round in 0..rounds {
        server.step(&format!("install round {}/{rounds}", round + 1));
        let target = dir.join("target");
        install.time(&server, || fixture.install(args, &server, &target))?;
        remove(&target)?;
        limit.time(&server, || fixture.curl_tar(&server, &target, false))?;
        remove(&target)?;
        careful.time(&server, || fixture.curl_tar(&server, &target, true))?;
        remove(&target)?;
    }

    let mut publish = Timings::default();
    let mut oras = Timings::default();
    for round in 0..rounds {
        server.step(&format!("publish round {}/{rounds}", round + 1));
        let worker = format!("bench-publish-{round}");
        publish.time(&server, || fixture.publish(args, &server, &worker))?;
        oras.time(&server, || fixture.oras_push(&server, &format!("oras/bench-{round}")))?;
    }

    heading(&format!(
        "The client path: install and publish of a {} MiB worker package (`--client-path`)",
        args.large_mib
    ));
    println!(
        "Package {:.1} MiB (`.tar.gz`, level 1, of a {} MiB pseudo-random binary + LICENSE + metadata.json); \
         {rounds} rounds, alternating, medians; client CPU = the command's process tree (user + system).\n",
        fixture.size as f64 / 1048576.0,
        args.large_mib
    );
    let mib = fixture.size as f64 / 1048576.0;
    let mut table = Table::new(&[
        "command",
        "median s",
        "min s",
        "max s",
        "MiB/s",
        "limit's time / this",
        "client CPU s",
        "server CPU s",
    ]);
    let limit_median = limit.seconds.quantile(0.5);
    let publish_median = oras.seconds.quantile(0.5);
    for (name, timings, reference) in [
        ("`rbee-registry install`", &install, limit_median),
        ("limit: `curl` + `tar xzf`", &limit, limit_median),
        ("`curl` + `sha256sum` + `tar xzf`", &careful, limit_median),
        ("`rbee-registry publish`", &publish, publish_median),
        ("`oras push` (ORAS Python SDK)", &oras, publish_median),
    ] {
        let median = timings.seconds.quantile(0.5);
        table.row(vec![
            name.into(),
            format!("{median:.3}"),
            format!("{:.3}", timings.seconds.quantile(0.0)),
            format!("{:.3}", timings.seconds.quantile(1.0)),
            format!("{:.0}", mib / median),
            format!("{:.2}×", reference / median),
            format!("{:.3}", timings.client_cpu.quantile(0.5)),
            format!("{:.3}", timings.server_cpu.quantile(0.5)),
        ]);
    }
    table.print();
    let ratio = limit_median / install.seconds.quantile(0.5);
    println!(
        "install at {ratio:.2}× the limit's speed (target ≥ 0.8×: {}); publish at {:.2}× oras push's; \
         rbee-registry peak RSS {:.1} MiB",
        if ratio >= 0.8 { "met" } else { "missed" },
        publish_median / publish.seconds.quantile(0.5),
        server.peak_rss_mib()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Seconds, client CPU and server CPU of each run of one command.
#[derive(Default)]
struct Timings {
    seconds: Samples,
    client_cpu: Samples,
    server_cpu: Samples,
}

impl Timings {
    fn time(&mut self, server: &Server, run: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        sync();
        let (children, server_cpu) = (children_cpu_seconds(), server.cpu_seconds());
        let started = Instant::now();
        run()?;
        self.seconds.0.push(started.elapsed().as_secs_f64());
        self.client_cpu.0.push(children_cpu_seconds() - children);
        self.server_cpu.0.push(server.cpu_seconds() - server_cpu);
        Ok(())
    }
}

/// The package and its metadata on disk.
struct Fixture {
    dir: PathBuf,
    package: PathBuf,
    digest: String,
    size: u64,
}

impl Fixture {
    /// Writes `bin/<worker>` (pseudo-random, in 1 MiB pieces), LICENSE and metadata.json into
    /// a level-1 `.tar.gz`, streamed to disk.
    fn build(dir: &Path, mib: usize) -> Result<Fixture, String> {
        let binary = dir.join(WORKER);
        {
            use std::io::Write;
            let mut file = std::io::BufWriter::new(std::fs::File::create(&binary).map_err(|e| e.to_string())?);
            for piece in 0..mib {
                file.write_all(&pseudo_random(1 << 20, 1000 + piece as u64))
                    .map_err(|e| e.to_string())?;
            }
            file.flush().map_err(|e| e.to_string())?;
        }
        let package = dir.join("linux-x86_64.tar.gz");
        let gzip = flate2::write::GzEncoder::new(
            std::fs::File::create(&package).map_err(|e| e.to_string())?,
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gzip);
        let mut add = |name: &str, mode: u32, data: &mut dyn std::io::Read, size: u64| {
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            header.set_mode(mode);
            header.set_cksum();
            tar.append_data(&mut header, name, data).map_err(|e| e.to_string())
        };
        let size = std::fs::metadata(&binary).map_err(|e| e.to_string())?.len();
        let mut file = std::fs::File::open(&binary).map_err(|e| e.to_string())?;
        add(&format!("bin/{WORKER}"), 0o755, &mut file, size)?;
        add("LICENSE", 0o644, &mut &b"GPL-3.0-or-later\n"[..], 17)?;
        add("metadata.json", 0o644, &mut METADATA.as_bytes(), METADATA.len() as u64)?;
        tar.into_inner()
            .and_then(|gzip| gzip.finish())
            .map_err(|e| e.to_string())?;
        std::fs::remove_file(&binary).map_err(|e| e.to_string())?;
        let size = std::fs::metadata(&package).map_err(|e| e.to_string())?.len();
        let digest = file_digest(&package)?;
        Ok(Fixture {
            dir: dir.to_path_buf(),
            package,
            digest,
            size,
        })
    }

    /// `rbee-registry publish` of the package as `worker` 0.1.0 (metadata renamed to match).
    fn publish(&self, args: &Args, server: &Server, worker: &str) -> Result<(), String> {
        let metadata = self.metadata_for(worker)?;
        let mut command = Command::new(&args.rbee);
        command
            .arg("publish")
            .args(["--worker", worker, "--version", "0.1.0", "--metadata"])
            .arg(&metadata)
            .arg("--platform")
            .arg(format!("{PLATFORM}={}", self.package.display()))
            .arg(&server.base);
        succeed(command, "rbee-registry publish")
    }

    /// The fixture's metadata.json with `worker` as its id and binary name.
    fn metadata_for(&self, worker: &str) -> Result<PathBuf, String> {
        let mut metadata: serde_json::Value = serde_json::from_str(METADATA).map_err(|e| e.to_string())?;
        metadata["id"] = worker.into();
        let path = self.dir.join(format!("{worker}.metadata.json"));
        std::fs::write(&path, metadata.to_string()).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// `rbee-registry install` into `prefix` (fresh).
    fn install(&self, args: &Args, server: &Server, prefix: &Path) -> Result<(), String> {
        let mut command = Command::new(&args.rbee);
        command
            .arg("install")
            .arg(WORKER)
            .args(["--version", "0.1.0", "--platform", PLATFORM, "--prefix"])
            .arg(prefix)
            .args(["--registry", &server.base]);
        succeed(command, "rbee-registry install")?;
        let binary = prefix.join("bin").join(WORKER);
        match std::fs::metadata(&binary) {
            Ok(meta) if meta.len() > 0 => Ok(()),
            _ => Err(format!("install left no {}", binary.display())),
        }
    }

    /// `curl` of the package blob into `target/package.tar.gz`, then `tar xzf` of it into
    /// `target/` (with `sha256sum` of it in between when `verify`).
    fn curl_tar(&self, server: &Server, target: &Path, verify: bool) -> Result<(), String> {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
        let archive = target.join("package.tar.gz");
        let url = server.url(&format!("/v2/workers/{WORKER}/blobs/{}", self.digest));
        let mut curl = Command::new("curl");
        curl.args(["-sSf", "-o"]).arg(&archive).arg(&url);
        succeed(curl, "curl")?;
        if verify {
            let output = Command::new("sha256sum")
                .arg(&archive)
                .output()
                .map_err(|e| format!("sha256sum: {e}"))?;
            let text = String::from_utf8_lossy(&output.stdout);
            if !self.digest.ends_with(text.split_whitespace().next().unwrap_or("-")) {
                return Err(format!("sha256sum: {text}"));
            }
        }
        let mut tar = Command::new("tar");
        tar.arg("xzf").arg(&archive).arg("-C").arg(target);
        succeed(tar, "tar xzf")?;
        match std::fs::metadata(target.join("bin").join(WORKER)) {
            Ok(meta) if meta.len() > 0 => Ok(()),
            _ => Err("tar left no binary".into()),
        }
    }

    /// `oras push` of the package and the metadata to `repository:0.1.0` with the ORAS Python
    /// SDK (relative file names, as the SDK wants them, from the fixture's directory).
    fn oras_push(&self, server: &Server, repository: &str) -> Result<(), String> {
        let host = server.base.trim_start_matches("http://");
        let package = self.package.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let script = format!(
            "import oras.client\n\
             c = oras.client.OrasClient(hostname='{host}', insecure=True)\n\
             r = c.push(target='{host}/{repository}:0.1.0', files=['{package}', '{WORKER}.metadata.json'])\n\
             assert r.status_code in (200, 201), r.status_code\n"
        );
        self.metadata_for(WORKER)?;
        let mut command = Command::new("python3");
        command.arg("-c").arg(script).current_dir(&self.dir);
        succeed(command, "oras push (python)")
    }
}

fn succeed(mut command: Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn file_digest(path: &Path) -> Result<String, String> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn remove(path: &Path) -> Result<(), String> {
    std::fs::remove_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes back what earlier runs left dirty, so that no run pays for another's.
fn sync() {
    let _ = Command::new("sync").status();
}

/// CPU of this process's waited-for children so far (`cutime + cstime`), seconds.
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(13) + ticks(14)) / clock_ticks()
}
