//! `GET /w/{id}`: a worker's page. (`/workers/{id}` is the legacy JSON API and stays so.)

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::html_page;
use crate::artifact::WorkerId;
use crate::routes::edge::BaseUrl;
use crate::routes::AppState;
use crate::services::workers::{platform_label, Worker, WorkerError};
use crate::web::chart::{date_of_millis, DailySeries};
use crate::web::worker::{
    install_commands, worker_not_found, worker_page, PlatformView, StarNotice, VersionView, WorkerView,
};

/// Days the downloads chart covers (today included).
const CHART_DAYS: u32 = 30;

#[derive(Debug, Default, Deserialize)]
pub struct WorkerParams {
    /// What the star form did (`added`, `kept`, `removed`, `none`), after its redirect.
    #[serde(default)]
    star: Option<String>,
}

/// The 404 page of a worker id that names nothing.
pub fn not_found(id: &str) -> Response {
    (StatusCode::NOT_FOUND, html_page(worker_not_found(id))).into_response()
}

fn versions_of(worker: &Worker) -> Vec<VersionView> {
    worker
        .versions
        .iter()
        .rev()
        .map(|version| VersionView {
            version: version.version.to_string(),
            date: date_of_millis(version.indexed_at),
            platforms: version
                .platforms
                .iter()
                .map(|package| PlatformView {
                    label: platform_label(&package.platform),
                    oci: package.platform.to_string(),
                    size: package.package_size,
                    checksum: package.package_digest.to_string(),
                })
                .collect(),
        })
        .collect()
}

/// `GET /w/{id}`.
pub async fn get_worker(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    Query(params): Query<WorkerParams>,
) -> Response {
    let Ok(worker_id) = WorkerId::parse(&id) else {
        return not_found(&id);
    };
    let worker = match state.registry.find_worker(&worker_id).await {
        Ok(worker) => worker,
        Err(WorkerError::WorkerNotFound { .. }) => return not_found(&id),
        Err(error) => return super::page_error(error),
    };
    let stats = match state.registry.worker_stats(&worker_id).await {
        Ok(stats) => stats,
        Err(error) => return super::page_error(error),
    };
    let daily = match state.registry.daily_downloads(&worker_id, CHART_DAYS).await {
        Ok(daily) => daily,
        Err(error) => return super::page_error(error),
    };
    let versions = versions_of(&worker);
    // Install the latest version (the first row is the newest, which may be a pre-release).
    let latest = worker.latest().map(|latest| latest.version.to_string());
    let shown = versions.iter().find(|v| Some(&v.version) == latest.as_ref());
    let premium = worker.metadata.distribution.requires_license;
    let install = install_commands(
        base.as_str(),
        worker_id.as_str(),
        shown,
        premium,
        worker.catalog.is_some(),
    );
    let star_notice = match params.star.as_deref() {
        Some("added") => Some(StarNotice::Added),
        Some("kept") => Some(StarNotice::AlreadyStarred),
        Some("removed") => Some(StarNotice::Removed),
        Some("none") => Some(StarNotice::NotStarred),
        _ => None,
    };
    let view = WorkerView {
        id: worker_id.to_string(),
        metadata: &worker.metadata,
        premium,
        readme: worker.catalog.as_ref().and_then(|c| c.readme.as_deref()),
        versions,
        install,
        downloads: DailySeries {
            first_day: daily.first_day,
            counts: daily.counts,
        },
        total_downloads: stats.total,
        stars: stats.stars,
        star_notice,
    };
    html_page(worker_page(&view)).into_response()
}
