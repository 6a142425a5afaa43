//! Installing a worker from Rust code, as rbee-hive does: the client-only build of the
//! library (no server dependencies).
//!
//! ```sh
//! cargo run --no-default-features --example install_worker -- \
//!     http://127.0.0.1:8787 llm-worker-rbee-cpu ./workers [VERSION]
//! ```
//!
//! A premium worker needs a license token: `RBEE_LICENSE_TOKEN=rbee_lic_… cargo run …`.

use std::path::PathBuf;

use rbee_registry::client::install::{install_worker, InstallRequest};
use rbee_registry::client::{progress, Credentials, RegistryClient};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: install_worker REGISTRY WORKER_ID PREFIX [VERSION]";
    let registry = args.next().ok_or(usage)?;
    let worker_id = args.next().ok_or(usage)?;
    let prefix = PathBuf::from(args.next().ok_or(usage)?);
    let version = args.next();

    // A license (or publisher) token is the password of any user name; the client trades
    // it for a registry token when the registry asks (Docker token authentication).
    let credentials = std::env::var("RBEE_LICENSE_TOKEN")
        .ok()
        .map(|token| Credentials::Basic {
            username: "rbee".to_string(),
            password: token,
        });
    let client = RegistryClient::new(&registry, credentials)?;
    let request = InstallRequest {
        worker_id,
        version,
        // This machine's platform.
        platform: None,
        prefix,
    };
    let report = install_worker(&client, &request, progress::for_stderr().as_mut()).await?;
    println!(
        "installed {} {} ({}) at {}",
        report.worker_id,
        report.version,
        report.platform,
        report.binary.display()
    );
    Ok(())
}
