//! What every request handler can reach.

use crate::links::LinkSigner;
use crate::runner::RunnerHandle;
use escalator_core::directory::Catalog;
use escalator_store::Store;
use std::sync::{Arc, RwLock};

/// The configuration in force, swapped whole when a new revision is applied.
pub type SharedCatalog = Arc<RwLock<Arc<Catalog>>>;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub catalog: SharedCatalog,
    pub runner: RunnerHandle,
    pub links: LinkSigner,
    pub rate_limiter: Arc<crate::ratelimit::RateLimiter>,
    pub public_url: String,
    /// The notifier's circuit breakers, by destination.
    pub breakers: Arc<escalator_notify::Breakers>,
    /// Runs rules and webhook mappings for events, off the async workers.
    pub evaluator: crate::evaluator::Evaluator,
    /// Runs dry runs of the rules (`POST /rules/evaluate`), one at a time:
    /// apart from `evaluator`, so that they never take ingestion's places.
    pub dry_runs: crate::evaluator::Evaluator,
}

impl AppState {
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reloads the configuration if a newer revision was applied (by the CLI, or another node).
    pub async fn refresh_catalog(&self) -> Result<Arc<Catalog>, escalator_store::StoreError> {
        refresh(&self.store, &self.catalog).await
    }
}

pub(crate) async fn refresh(
    store: &Store,
    shared: &SharedCatalog,
) -> Result<Arc<Catalog>, escalator_store::StoreError> {
    let versions = store.catalog_versions().await?;
    reload_if_changed(store, shared, versions).await
}

/// Reloads the catalog unless it already is at `(revision, extras_version)`.
pub(crate) async fn reload_if_changed(
    store: &Store,
    shared: &SharedCatalog,
    (revision, extras_version): (i64, i64),
) -> Result<Arc<Catalog>, escalator_store::StoreError> {
    let current = shared.read().unwrap_or_else(|p| p.into_inner()).clone();
    if revision == current.revision() && extras_version == current.extras_version() {
        return Ok(current);
    }
    let fresh = Arc::new(load_catalog(store).await?);
    *shared.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
    tracing::info!(revision, extras_version, "configuration reloaded");
    Ok(fresh)
}

/// The catalog for what is in the database now: the configuration in force
/// plus overrides and availability set through the API.
pub async fn load_catalog(store: &Store) -> Result<Catalog, escalator_store::StoreError> {
    let extras = store.extras(jiff::Timestamp::now()).await?;
    Ok(match store.current_config().await? {
        Some((revision, config)) => Catalog::with_extras(config, revision, &extras),
        None => Catalog::with_extras(Default::default(), 0, &extras),
    })
}
