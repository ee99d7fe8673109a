//! The retention pass, off the hot path: every `interval` the finished
//! records older than the configuration's `retention:` go, a small batch per
//! transaction with a pause between batches, so events and pages never wait
//! long behind it. Every node runs it; two nodes' batches take turns on the
//! database (locked rows are skipped, the checkpoint's row is locked), so a
//! record goes once and the chain names it once. A pass that fails is logged
//! and tried again at the next interval: retention may lag, paging may not.

use crate::SharedCatalog;
use escalator_store::{Result, Store};
use jiff::Timestamp;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct RetentionOptions {
    /// Time between passes; the first starts after this or a minute, whichever is sooner.
    pub interval: Duration,
    /// Most records of one kind removed per transaction.
    pub batch: u32,
    /// Most incidents removed per transaction: each takes its timeline,
    /// pages and alerts with it (about eight rows), so fewer than `batch`.
    pub incident_batch: u32,
    /// Pause between batches, in which the writer is free for everything else.
    pub pause: Duration,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            batch: 500,
            incident_batch: 100,
            pause: Duration::from_millis(20),
        }
    }
}

/// What one pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub incidents: u64,
    pub notifications: u64,
    pub samples: u64,
    pub audit_entries: u64,
}

pub struct RetentionPass {
    store: Store,
    catalog: SharedCatalog,
    opts: RetentionOptions,
}

impl RetentionPass {
    pub fn new(store: Store, catalog: SharedCatalog, opts: RetentionOptions) -> Self {
        Self {
            store,
            catalog,
            opts,
        }
    }

    pub async fn run(self) {
        tokio::time::sleep(self.opts.interval.min(Duration::from_secs(60))).await;
        loop {
            match self.pass(Timestamp::now()).await {
                Ok(p) if p != Pruned::default() => tracing::info!(
                    incidents = p.incidents,
                    notifications = p.notifications,
                    samples = p.samples,
                    audit_entries = p.audit_entries,
                    "retention pass removed old records"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    "retention pass: {e}; trying again in {:?}",
                    self.opts.interval
                ),
            }
            tokio::time::sleep(self.opts.interval).await;
        }
    }

    /// One pass at `now`, each kind drained in batches. Incidents go before
    /// the audit entries about them, so an entry whose incident is kept is
    /// never the only thing left to say what happened to it.
    pub async fn pass(&self, now: Timestamp) -> Result<Pruned> {
        let cutoffs = {
            let catalog = self.catalog.read().unwrap_or_else(|p| p.into_inner());
            catalog.config().retention.cutoffs(now)
        };
        let (batch, store) = (self.opts.batch, &self.store);
        let mut pruned = Pruned::default();
        if let Some(cutoff) = cutoffs.resolved_incidents {
            let batch = self.opts.incident_batch;
            pruned.incidents = self
                .drain(batch, || store.prune_incidents(cutoff, batch, now))
                .await?;
        }
        if let Some(cutoff) = cutoffs.notifications {
            pruned.notifications = self
                .drain(batch, || store.prune_notifications(cutoff, batch))
                .await?;
        }
        if let Some(cutoff) = cutoffs.samples {
            pruned.samples = self
                .drain(batch, || store.prune_samples(cutoff, batch))
                .await?;
        }
        if let Some(cutoff) = cutoffs.audit {
            pruned.audit_entries = self
                .drain(batch, || store.prune_audit(cutoff, batch, now))
                .await?;
        }
        Ok(pruned)
    }

    /// Runs `batch` until it removes less than `size`.
    async fn drain<F, Fut>(&self, size: u32, mut batch: F) -> Result<u64>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<u64>>,
    {
        let mut total = 0;
        loop {
            let n = batch().await?;
            total += n;
            if n < u64::from(size) {
                return Ok(total);
            }
            tokio::time::sleep(self.opts.pause).await;
        }
    }
}
