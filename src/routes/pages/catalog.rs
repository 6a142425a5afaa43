//! `GET /`: the catalog page. The query (`q`, `tag`, `type`, `platform`) becomes a
//! `services::workers::WorkerSearch`; the workers the service finds become the view's entries.

use std::collections::BTreeSet;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::html_page;
use crate::routes::AppState;
use crate::services::workers::{Worker, WorkerSearch};
use crate::web::catalog::{catalog_page, CatalogEntry, CatalogQuery, CatalogView};

/// The catalog form's fields (all optional; unknown fields are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct CatalogParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default, rename = "type")]
    worker_type: String,
    #[serde(default)]
    platform: String,
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The view of the catalog for `query`, from every worker (for the filters' values) and
/// the matching ones.
pub async fn catalog_view(state: &AppState, query: CatalogQuery) -> Result<CatalogView, Response> {
    let all = state
        .registry
        .search_workers(&WorkerSearch::default())
        .await
        .map_err(super::page_error)?;
    let stars = state.registry.star_counts().await.map_err(super::page_error)?;
    let search = WorkerSearch {
        text: non_empty(&query.text),
        tag: non_empty(&query.tag),
        worker_type: non_empty(&query.worker_type),
        platform: non_empty(&query.platform),
    };
    let mut tags = BTreeSet::new();
    let mut types = BTreeSet::new();
    let mut platforms = BTreeSet::new();
    for worker in all.iter() {
        tags.extend(worker.metadata.tags.iter().cloned());
        types.insert(worker.metadata.worker_type.clone());
        platforms.extend(worker.platform_labels());
    }
    let total = all.len();
    let entries = all
        .iter()
        .filter(|worker| search.matches(worker))
        .map(|worker| entry_of(worker, stars.get(worker.id.as_str()).copied().unwrap_or(0)))
        .collect();
    Ok(CatalogView {
        query,
        entries,
        tags: tags.into_iter().collect(),
        worker_types: types.into_iter().collect(),
        platforms: platforms.into_iter().collect(),
        total,
    })
}

fn entry_of(worker: &Worker, stars: u64) -> CatalogEntry {
    CatalogEntry {
        id: worker.id.to_string(),
        name: worker.metadata.name.clone(),
        description: worker.metadata.description.clone(),
        worker_type: worker.metadata.worker_type.clone(),
        tags: worker.metadata.tags.clone(),
        platforms: worker.platform_labels(),
        premium: worker.metadata.distribution.requires_license,
        version: worker.shown_version(),
        published: !worker.versions.is_empty(),
        stars,
    }
}

/// `GET /`.
pub async fn get_catalog(State(state): State<AppState>, Query(params): Query<CatalogParams>) -> Response {
    let query = CatalogQuery {
        text: params.q,
        tag: params.tag,
        worker_type: params.worker_type,
        platform: params.platform,
    };
    match catalog_view(&state, query).await {
        Ok(view) => html_page(catalog_page(&view)).into_response(),
        Err(response) => response,
    }
}
