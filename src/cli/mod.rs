//! The credential and policy subcommands of the `rbee-registry` binary: `publisher`,
//! `license` and `worker`. Each opens the registry's database with the same options as
//! `serve` and `gc` (it works while `serve` runs: every check reads the database), and a
//! command that creates a secret prints it alone on the last line of stdout.

pub mod archive;
pub mod mirror;

use std::path::PathBuf;

use clap::Subcommand;
use rbee_registry::artifact::WorkerId;
use rbee_registry::auth::principal::RepoPattern;
use rbee_registry::config::{parse_duration, GcFlags};
use rbee_registry::server;
use rbee_registry::services::licenses::License;
use rbee_registry::services::policies::PolicySource;
use rbee_registry::services::Registry;

/// The database (and storage) options, as `gc` takes them.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "RBEE_CONFIG")]
    config: Option<PathBuf>,
    /// The database and storage settings (declared in `rbee_registry::config`).
    #[command(flatten)]
    settings: GcFlags,
}

impl StoreArgs {
    async fn open(self) -> Result<Registry, String> {
        let config = crate::assemble(self.config.as_deref(), self.settings.0)?;
        server::open_registry(&config).await.map_err(|e| e.to_string())
    }
}

#[derive(Subcommand)]
pub enum PublisherCommand {
    /// Create a publisher token (printed alone on the last line; only its hash is kept).
    Create {
        /// A name for the token (CI job, team).
        #[arg(long)]
        name: String,
        /// Repository pattern it may push to: `workers/*`, `workers/llm-*`, `team/**` (repeat).
        #[arg(long = "repo", required = true)]
        repos: Vec<String>,
        /// Also allow deleting in those repositories.
        #[arg(long)]
        allow_delete: bool,
        /// Expiry: a duration from now (90d, 12h) or a date (2027-01-31); default never.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List publisher tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a publisher token by its name or by the token itself.
    Revoke {
        name_or_token: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum LicenseCommand {
    /// Issue a license token (printed alone on the last line; only its hash is kept).
    Issue {
        /// The holder's e-mail address.
        #[arg(long)]
        holder: String,
        /// A worker id the license covers (repeat).
        #[arg(long = "worker", required = true)]
        workers: Vec<String>,
        /// Expiry: a duration from now (365d) or a date (2027-01-31).
        #[arg(long)]
        expires: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List licenses.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show one license, by id or by its token.
    Show {
        id_or_token: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke (cancel) a license, by id or by its token: refused at once everywhere.
    Revoke {
        id_or_token: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the public keys that verify licenses (the file `license.verify_keys` takes).
    PublicKey {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Create a new signing key; existing licenses keep verifying.
    RotateKey {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum WorkerCommand {
    /// Set whether a worker needs a license (before its first push, for a premium worker).
    SetPolicy {
        worker: String,
        #[arg(long, action = clap::ArgAction::Set)]
        requires_license: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show a worker's access policy.
    Policy {
        worker: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Unix seconds of an expiry given as a duration from now or a `YYYY-MM-DD` date (UTC midnight).
fn expiry_secs(text: &str) -> Result<i64, String> {
    if let Ok(duration) = parse_duration(text) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        return Ok((now + duration).as_secs() as i64);
    }
    let parts: Vec<&str> = text.split('-').collect();
    if let [year, month, day] = parts[..] {
        if let (Ok(year), Ok(month), Ok(day)) = (year.parse::<i32>(), month.parse::<u8>(), day.parse::<u8>()) {
            let month = time::Month::try_from(month).map_err(|e| e.to_string())?;
            let date = time::Date::from_calendar_date(year, month, day).map_err(|e| format!("{text:?}: {e}"))?;
            return Ok(date.midnight().assume_utc().unix_timestamp());
        }
    }
    Err(format!(
        "invalid expiry {text:?}: use a duration (90d, 12h) or a date (2027-01-31)"
    ))
}

fn rfc3339_secs(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

fn rfc3339_millis(millis: i64) -> String {
    rfc3339_secs(millis / 1000)
}

fn worker_id(text: &str) -> Result<WorkerId, String> {
    WorkerId::parse(text).map_err(|e| e.to_string())
}

pub async fn run_publisher(command: PublisherCommand) -> Result<(), String> {
    match command {
        PublisherCommand::Create {
            name,
            repos,
            allow_delete,
            expires,
            store,
        } => {
            let patterns = repos
                .iter()
                .map(|text| RepoPattern::parse(text))
                .collect::<Result<Vec<_>, _>>()?;
            let registry = store.open().await?;
            let expires_at = expires.as_deref().map(expiry_secs).transpose()?.map(|secs| secs * 1000);
            let (publisher, token) = registry
                .create_publisher(&name, &patterns, allow_delete, expires_at)
                .await
                .map_err(|e| e.to_string())?;
            println!("publisher {}", publisher.name);
            println!("repositories: {}", publisher.patterns.join(" "));
            println!("allow delete: {}", publisher.allow_delete);
            println!(
                "expires: {}",
                publisher.expires_at.map_or("never".to_string(), rfc3339_millis)
            );
            println!("{token}");
        }
        PublisherCommand::List { store } => {
            let registry = store.open().await?;
            println!("NAME\tSTATUS\tREPOSITORIES\tDELETE\tEXPIRES\tCREATED");
            for publisher in registry.list_publishers().await.map_err(|e| e.to_string())? {
                let now = rbee_registry::db::now_millis();
                let status = if publisher.revoked_at.is_some() {
                    "revoked"
                } else if publisher.expires_at.is_some_and(|at| at <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{status}\t{}\t{}\t{}\t{}",
                    publisher.name,
                    publisher.patterns.join(","),
                    publisher.allow_delete,
                    publisher.expires_at.map_or("never".to_string(), rfc3339_millis),
                    rfc3339_millis(publisher.created_at)
                );
            }
        }
        PublisherCommand::Revoke { name_or_token, store } => {
            let registry = store.open().await?;
            registry
                .revoke_publisher(&name_or_token)
                .await
                .map_err(|e| e.to_string())?;
            println!("publisher revoked");
        }
    }
    Ok(())
}

fn print_license(license: &License) {
    println!("license {}", license.id);
    println!("holder: {}", license.holder);
    println!("workers: {}", license.workers.join(" "));
    println!("status: {}", license.status.as_str());
    println!("expires: {}", rfc3339_secs(license.expires_at));
    println!("created: {}", rfc3339_millis(license.created_at));
    println!(
        "last verified: {}",
        license.last_verified_at.map_or("never".to_string(), rfc3339_millis)
    );
}

pub async fn run_license(command: LicenseCommand) -> Result<(), String> {
    match command {
        LicenseCommand::Issue {
            holder,
            workers,
            expires,
            store,
        } => {
            let workers = workers.iter().map(|w| worker_id(w)).collect::<Result<Vec<_>, _>>()?;
            // A duration counts from the issue, after the database is open.
            let registry = store.open().await?;
            let expires_at = expiry_secs(&expires)?;
            let (license, token) = registry
                .issue_license(&holder, &workers, expires_at)
                .await
                .map_err(|e| e.to_string())?;
            print_license(&license);
            println!("{token}");
        }
        LicenseCommand::List { store } => {
            let registry = store.open().await?;
            println!("ID\tSTATUS\tHOLDER\tWORKERS\tEXPIRES\tLAST_VERIFIED");
            for license in registry.list_licenses().await.map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    license.id,
                    license.status.as_str(),
                    license.holder,
                    license.workers.join(","),
                    rfc3339_secs(license.expires_at),
                    license.last_verified_at.map_or("never".to_string(), rfc3339_millis)
                );
            }
        }
        LicenseCommand::Show { id_or_token, store } => {
            let registry = store.open().await?;
            let license = registry.find_license(&id_or_token).await.map_err(|e| e.to_string())?;
            print_license(&license);
        }
        LicenseCommand::Revoke { id_or_token, store } => {
            let registry = store.open().await?;
            let license = registry.revoke_license(&id_or_token).await.map_err(|e| e.to_string())?;
            print_license(&license);
        }
        LicenseCommand::PublicKey { store } => {
            let registry = store.open().await?;
            let keys = registry.license_public_keys().await.map_err(|e| e.to_string())?;
            if keys.is_empty() {
                return Err("no license key yet: issue a license or run `license rotate-key`".into());
            }
            println!("# rbee-registry license verification keys (license.verify_keys)");
            for key in keys {
                println!("{}", key.to_line());
            }
        }
        LicenseCommand::RotateKey { store } => {
            let registry = store.open().await?;
            let (_, public) = registry.rotate_license_key().await.map_err(|e| e.to_string())?;
            println!("{}", public.to_line());
        }
    }
    Ok(())
}

pub async fn run_worker(command: WorkerCommand) -> Result<(), String> {
    match command {
        WorkerCommand::SetPolicy {
            worker,
            requires_license,
            store,
        } => {
            let worker = worker_id(&worker)?;
            let registry = store.open().await?;
            registry
                .set_worker_policy(&worker, requires_license, PolicySource::Admin)
                .await
                .map_err(|e| e.to_string())?;
            println!("worker {worker}: requires_license = {requires_license} (set by admin)");
        }
        WorkerCommand::Policy { worker, store } => {
            let worker = worker_id(&worker)?;
            let registry = store.open().await?;
            match registry.worker_policy(&worker).await.map_err(|e| e.to_string())? {
                Some(policy) => println!(
                    "worker {worker}: requires_license = {} (set by {}, {})",
                    policy.requires_license,
                    policy.source,
                    rfc3339_millis(policy.updated_at)
                ),
                None => println!("worker {worker}: no policy (open)"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries() {
        assert_eq!(expiry_secs("2027-01-31").unwrap(), 1_801_353_600);
        assert!(expiry_secs("30d").unwrap() > 1_700_000_000);
        assert!(expiry_secs("2027-02-30").is_err());
        assert!(expiry_secs("soon").is_err());
    }
}
