//! A worker's page (`/w/{id}`): description, badges, pricing of a premium worker, copy-ready
//! install commands, the README (sanitised Markdown, `markdown`), versions newest first
//! with dates, platforms with sizes and checksums, the downloads chart (`chart`) and the
//! star form (a plain POST that works without JavaScript).

use maud::{html, Markup};

use super::chart::{counted, downloads_chart, DailySeries};
use super::markdown::render_readme;
use super::{assets, layout, Section};
use crate::artifact::WorkerMetadata;

/// One platform's package of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformView {
    /// The old name where there is one (`linux-x86_64`).
    pub label: String,
    /// The OCI spelling (`linux/amd64`).
    pub oci: String,
    pub size: u64,
    pub checksum: String,
}

/// One version: its name, the day it was published, its platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionView {
    pub version: String,
    pub date: String,
    pub platforms: Vec<PlatformView>,
}

/// The commands to get the worker, ready to paste.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallCommands {
    pub rbee: Option<String>,
    /// One `oras pull` per platform: (platform label, command).
    pub oras: Vec<(String, String)>,
    pub git: Option<String>,
}

/// What the last star form did (shown once after its redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StarNotice {
    Added,
    AlreadyStarred,
    Removed,
    NotStarred,
}

/// Everything the worker page shows.
#[derive(Debug, Clone)]
pub struct WorkerView<'a> {
    pub id: String,
    pub metadata: &'a WorkerMetadata,
    pub premium: bool,
    pub readme: Option<&'a str>,
    /// Newest first.
    pub versions: Vec<VersionView>,
    pub install: InstallCommands,
    pub downloads: DailySeries,
    pub total_downloads: u64,
    pub stars: u64,
    pub star_notice: Option<StarNotice>,
}

/// `base` without its scheme: the registry's host for OCI references.
fn registry_host(base: &str) -> &str {
    base.split_once("://").map_or(base, |(_, rest)| rest)
}

/// The install commands of `version` of a worker on a registry at `base` (its public URL):
/// `rbee-registry install` (with a license for a premium worker), `oras pull --platform` per
/// platform (`--plain-http` for an `http` registry), and `git clone -b <id>` of the
/// catalog when the worker has a branch.
pub fn install_commands(
    base: &str,
    id: &str,
    version: Option<&VersionView>,
    premium: bool,
    has_branch: bool,
) -> InstallCommands {
    let rbee = version.map(|v| {
        let license = if premium {
            " --license \"$RBEE_LICENSE_TOKEN\""
        } else {
            ""
        };
        format!(
            "rbee-registry install {id} --version {} --registry {base}{license}",
            v.version
        )
    });
    let plain = if base.starts_with("http://") {
        " --plain-http"
    } else {
        ""
    };
    let host = registry_host(base);
    let oras = version
        .map(|v| {
            v.platforms
                .iter()
                .map(|p| {
                    let login = if premium {
                        " -u license -p \"$RBEE_LICENSE_TOKEN\""
                    } else {
                        ""
                    };
                    (
                        p.label.clone(),
                        format!(
                            "oras pull{plain}{login} --platform {} {host}/workers/{id}:{}",
                            p.oci, v.version
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let git = has_branch.then(|| format!("git clone -b {id} {base}/catalog.git {id}"));
    InstallCommands { rbee, oras, git }
}

/// `href` when it is an absolute `http`/`https` URL, the only links the page makes from
/// catalog text.
pub fn safe_href(href: &str) -> Option<&str> {
    let lower = href.trim_start().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(href)
}

/// `12.3 MB` (decimal units), or bytes below a kilobyte.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn command(id: &str, label: &str, text: &str) -> Markup {
    html! {
        div class="command" {
            p class="command-label" id=(format!("{id}-label")) { (label) }
            pre { code id=(id) { (text) } }
            button type="button" class="copy" data-copy=(id) aria-describedby=(format!("{id}-label")) hidden { "Copy" }
        }
    }
}

fn pricing(metadata: &WorkerMetadata) -> Markup {
    let Some(pricing) = &metadata.pricing else {
        return html! {};
    };
    let price = if pricing.price_usd.fract() == 0.0 {
        format!("${:.0}", pricing.price_usd)
    } else {
        format!("${:.2}", pricing.price_usd)
    };
    html! {
        section class="pricing notice" aria-labelledby="pricing-heading" {
            h2 id="pricing-heading" { "Pricing" }
            p {
                strong class="price" { (price) }
                @if let Some(interval) = &pricing.interval { " per " (interval) }
                " (" (pricing.model) ")"
            }
            @if let Some(days) = pricing.trial_days {
                p class="trial" { (days) "-day free trial" }
            }
            @if let Some(href) = safe_href(&pricing.purchase_url) {
                p { a class="button" href=(href) rel="noopener noreferrer" { "Buy a license" } }
            }
            p class="muted" { "Installing needs a license token: pass it as " code { "--license" } " or " code { "RBEE_LICENSE_TOKEN" } "." }
        }
    }
}

fn star_section(view: &WorkerView<'_>) -> Markup {
    let notice = view.star_notice.map(|notice| match notice {
        StarNotice::Added => "Thanks: your star is counted.",
        StarNotice::AlreadyStarred => "You had already starred this worker; it counts once.",
        StarNotice::Removed => "Your star is removed.",
        StarNotice::NotStarred => "You had not starred this worker.",
    });
    html! {
        section aria-labelledby="stars-heading" {
            h2 id="stars-heading" { "Stars" }
            p { span id="star-count" { (view.stars) } @if view.stars == 1 { " star" } @else { " stars" } }
            @if let Some(notice) = notice {
                p class="notice" role="status" { (notice) }
            }
            form class="star" method="post" action=(format!("/w/{}/star", view.id)) {
                label for="star-token" { "License or publisher token" }
                input id="star-token" type="password" name="token" autocomplete="off" required spellcheck="false";
                p class="muted" { "Anyone holding a license or publisher token can star a worker once." }
                button type="submit" name="action" value="star" { "Star" }
                " "
                button type="submit" name="action" value="unstar" class="secondary" { "Remove my star" }
            }
        }
    }
}

/// The whole worker page.
pub fn worker_page(view: &WorkerView<'_>) -> Markup {
    let m = view.metadata;
    let content = html! {
        nav aria-label="Breadcrumb" class="crumbs" { a href="/" { "Workers" } " / " span { (view.id) } }
        h1 { (m.name) }
        p class="meta" {
            @if view.premium { span class="badge premium" { "Premium" } } @else { span class="badge open" { "Open" } }
            " " code { (view.id) } " · " (m.license) " · " (m.worker_type)
            @if let Some(author) = &m.author { " · by " (author) }
            " · " span class="stars" { (view.stars) @if view.stars == 1 { " star" } @else { " stars" } }
        }
        p id="description" class="description" { (m.description) }
        @if let Some(href) = m.homepage.as_deref().and_then(safe_href) {
            p { a href=(href) rel="noopener noreferrer" { "Homepage" } }
        }
        @if view.premium { (pricing(m)) }
        section aria-labelledby="install-heading" {
            h2 id="install-heading" { "Install" }
            @if view.install.rbee.is_none() && view.install.git.is_none() {
                p { "No version is published yet." }
            }
            @if let Some(rbee) = &view.install.rbee { (command("cmd-install", "With rbee-registry", rbee)) }
            @for (at, (platform, oras)) in view.install.oras.iter().enumerate() {
                (command(&format!("cmd-oras-{at}"), &format!("With oras, {platform}"), oras))
            }
            @if let Some(git) = &view.install.git { (command("cmd-git", "The catalog branch, with git", git)) }
        }
        @if !m.features.is_empty() {
            section aria-labelledby="features-heading" {
                h2 id="features-heading" { "Features" }
                ul { @for feature in &m.features { li { (feature) } } }
            }
        }
        section aria-labelledby="readme-heading" {
            h2 id="readme-heading" { "README" }
            @match view.readme {
                Some(readme) => div id="readme" class="readme" { (render_readme(readme)) },
                None => p class="muted" { "This worker has no README." },
            }
        }
        section aria-labelledby="versions-heading" {
            h2 id="versions-heading" { "Versions" }
            @if view.versions.is_empty() {
                p { "No version is published yet." }
            } @else {
                table id="versions" {
                    caption class="muted" { "Newest first. Sizes and SHA-256 checksums of each platform's package." }
                    thead { tr {
                        th scope="col" { "Version" } th scope="col" { "Published" }
                        th scope="col" { "Platform" } th scope="col" { "Size" } th scope="col" { "Checksum" }
                    } }
                    tbody {
                        @for version in &view.versions {
                            @for (at, platform) in version.platforms.iter().enumerate() {
                                tr {
                                    @if at == 0 {
                                        th scope="row" rowspan=(version.platforms.len()) { (version.version) }
                                        td rowspan=(version.platforms.len()) { time datetime=(version.date) { (version.date) } }
                                    }
                                    td { (platform.label) }
                                    td { (human_size(platform.size)) }
                                    td { code class="digest" { (platform.checksum) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="downloads-heading" {
            h2 id="downloads-heading" { "Downloads" }
            p { (counted(view.total_downloads, "download")) " in all." }
            (downloads_chart("downloads-chart", &view.downloads))
        }
        (star_section(view))
        script src=(assets::COPY_SCRIPT.href()) defer {}
    };
    layout(&m.name, Section::Catalog, content)
}

/// The page of a worker that does not exist.
pub fn worker_not_found(id: &str) -> Markup {
    layout(
        "Worker not found",
        Section::Catalog,
        html! {
            h1 { "Worker not found" }
            p { "There is no worker " code { (id) } " in this registry. " a href="/" { "See all workers" } "." }
        },
    )
}

/// A page saying a form was refused (`message` is plain text), with a link back.
pub fn refused_page(title: &str, message: &str, back: &str) -> Markup {
    layout(
        title,
        Section::Catalog,
        html! {
            h1 { (title) }
            p class="notice error" role="alert" { (message) }
            p { a href=(back) { "Back" } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_commands_name_the_public_base_and_each_platform() {
        let version = VersionView {
            version: "0.1.0".into(),
            date: "2026-01-01".into(),
            platforms: vec![PlatformView {
                label: "linux-x86_64".into(),
                oci: "linux/amd64".into(),
                size: 1,
                checksum: "sha256:x".into(),
            }],
        };
        let open = install_commands("http://reg.example:8787", "w", Some(&version), false, true);
        assert_eq!(
            open.rbee.as_deref(),
            Some("rbee-registry install w --version 0.1.0 --registry http://reg.example:8787")
        );
        assert_eq!(
            open.oras[0].1,
            "oras pull --plain-http --platform linux/amd64 reg.example:8787/workers/w:0.1.0"
        );
        assert_eq!(
            open.git.as_deref(),
            Some("git clone -b w http://reg.example:8787/catalog.git w")
        );
        let premium = install_commands("https://reg.example", "w", Some(&version), true, false);
        assert!(premium.rbee.unwrap().ends_with("--license \"$RBEE_LICENSE_TOKEN\""));
        assert!(premium.oras[0]
            .1
            .starts_with("oras pull -u license -p \"$RBEE_LICENSE_TOKEN\" --platform"));
        assert!(premium.git.is_none());
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href(" JAVASCRIPT:x"), None);
        assert_eq!(safe_href("https://rbee.ai/premium"), Some("https://rbee.ai/premium"));
        assert_eq!(human_size(45_000_000), "45.0 MB");
        assert_eq!(human_size(999), "999 B");
    }
}
