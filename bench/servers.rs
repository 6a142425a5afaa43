//! The processes under test: rbee-registry, distribution and nginx, each started on a free
//! port of 127.0.0.1 with its data under the work directory, stopped when dropped; their CPU
//! time and peak memory read from /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::Args;

/// A server under test: its process and base URL.
pub struct Server {
    pub label: &'static str,
    child: Child,
    pub base: String,
    pub data: PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// utime + stime of the process so far, seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the `(comm)`, which may contain spaces: state is field 3, utime 14, stime 15.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / clock_ticks()
    }

    /// Peak resident memory so far (VmHWM), MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    }

    /// Announces a measurement step on stderr.
    pub fn step(&self, what: &str) {
        eprintln!("rbee-bench: {}: {what}", self.label);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

fn wait_ready(base: &str, child: &mut Child) -> Result<(), String> {
    let client = reqwest::blocking::Client::new();
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("server exited with {status}"));
        }
        if client.get(format!("{base}/v2/")).send().is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("server did not answer /v2/ within 10 s".into())
}

/// Starts rbee-registry with its defaults (and `--rbee-arg`s), plus `extra` arguments,
/// keeping its data and log under `work/<name>`.
pub fn start_rbee(args: &Args, work: &Path, name: &str, extra: &[&str]) -> Result<Server, String> {
    start_rbee_with_auth(args, work, name, "off", extra)
}

/// Starts rbee-registry as [`start_rbee`] does, with `--auth <auth>` (`on`: its default token
/// authentication; `off`: open, as distribution runs in the comparison).
pub fn start_rbee_with_auth(
    args: &Args,
    work: &Path,
    name: &str,
    auth: &str,
    extra: &[&str],
) -> Result<Server, String> {
    let data = work.join(name);
    let port = free_port();
    let log = std::fs::File::create(work.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let mut child = Command::new(&args.rbee)
        .arg("serve")
        .args(["--auth", auth])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data)
        .args(&args.rbee_arg)
        .args(extra)
        .env("RBEE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", args.rbee.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base, &mut child)?;
    Ok(Server {
        label: "rbee-registry",
        child,
        base,
        data,
    })
}

/// Distribution on its filesystem driver under `work/distribution`.
pub fn start_distribution(args: &Args, work: &Path) -> Result<Server, String> {
    let data = work.join("distribution");
    let storage = format!("  filesystem:\n    rootdirectory: {}\n", data.display());
    start_distribution_with(args, work, "distribution", &storage)
}

/// Distribution with the given `storage:` driver section (YAML indented by two spaces, for
/// example its `s3` driver), its configuration and log under `work/<name>.*`.
pub fn start_distribution_with(args: &Args, work: &Path, name: &str, storage: &str) -> Result<Server, String> {
    let data = work.join(name);
    let port = free_port();
    let config = work.join(format!("{name}.yml"));
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n{storage}  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: rbee-bench\n",
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = std::fs::File::create(work.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let mut child = Command::new(&args.distribution)
        .arg("serve")
        .arg(&config)
        // Its s3 driver refuses to start when this names a CA bundle (the AWS SDK cannot
        // load one into its transport); the endpoints here are plain HTTP on loopback.
        .env_remove("AWS_CA_BUNDLE")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", args.distribution))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base, &mut child)?;
    Ok(Server {
        label: "distribution",
        child,
        base,
        data,
    })
}

/// nginx serving `root` with sendfile, as a foreground single process.
pub struct Nginx {
    child: Child,
    pub base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_nginx(binary: &str, root: &Path, work: &Path) -> Result<Nginx, String> {
    let dir = work.join("nginx");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let port = free_port();
    let config = dir.join("nginx.conf");
    let d = dir.display();
    std::fs::write(
        &config,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  default_type application/octet-stream;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
            root.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut child = Command::new(binary)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {binary}: {e}"))?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("nginx exited with {status}"));
        }
        if client.get(format!("{base}/")).send().is_ok() {
            return Ok(Nginx { child, base });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("nginx did not start".into())
}

/// The work directory: the one given (kept), or a fresh one under /var/tmp (removed afterwards).
pub struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    pub fn as_path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub fn tempfile_dir(args: &Args) -> Result<WorkDir, String> {
    let (path, remove) = match &args.work_dir {
        Some(path) => (path.clone(), false),
        None => (
            PathBuf::from(format!("/var/tmp/rbee-bench.{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(WorkDir { path, remove })
}
