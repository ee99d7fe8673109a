//! Configuration revisions: every applied configuration is kept, whole, with
//! who applied it; the newest is in force.

use crate::audit::NewAudit;
use crate::{Result, Store, StoreError, ms};
use escalator_core::config::Config;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// What `apply` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub revision: i64,
    /// False when the configuration was already in force (nothing written).
    pub changed: bool,
}

impl Store {
    /// The configuration in force and its revision, if any was ever applied.
    pub async fn current_config(&self) -> Result<Option<(i64, Config)>> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT revision, document FROM config_revisions ORDER BY revision DESC LIMIT 1",
                &[],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let config = serde_json::from_str(&row.text(1)?)
            .map_err(|e| StoreError::Corrupt(format!("stored configuration: {e}")))?;
        Ok(Some((row.int(0)?, config)))
    }

    /// The revision number in force (0 when none), cheap enough to ask often.
    pub async fn config_revision(&self) -> Result<i64> {
        let row = self
            .pool
            .fetch_optional("SELECT MAX(revision) FROM config_revisions", &[])
            .await?;
        Ok(row
            .map(|r| r.opt_int(0))
            .transpose()?
            .flatten()
            .unwrap_or(0))
    }

    /// The configuration revision and the version of the API-made state
    /// (overrides, availability): what a node checks to know whether its
    /// catalog is stale. Read with the runner's view (`Store::runner_view`).
    pub async fn catalog_versions(&self) -> Result<(i64, i64)> {
        Ok(self.runner_view().await?.1)
    }

    /// Makes `config` the one in force, in one transaction. Applying the
    /// configuration already in force changes nothing.
    pub async fn apply_config(
        &self,
        config: &Config,
        actor: &str,
        now: Timestamp,
    ) -> Result<Applied> {
        let document =
            serde_json::to_string(config).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let digest = hex::encode(Sha256::digest(document.as_bytes()));
        let mut tx = self.begin().await?;
        if tx.dialect() == crate::Dialect::Postgres {
            // Nodes starting together with the same file must not race for the next revision.
            tx.tx
                .execute("SELECT pg_advisory_xact_lock(7142500002)", &[])
                .await?;
        }
        let sql = format!(
            "SELECT revision, digest FROM config_revisions ORDER BY revision DESC LIMIT 1{}",
            tx.dialect().for_update()
        );
        let current = tx.tx.fetch_optional(sql, &[]).await?;
        let (revision, current_digest) = match current {
            Some(r) => (r.int(0)?, Some(r.text(1)?)),
            None => (0, None),
        };
        if current_digest.as_deref() == Some(digest.as_str()) {
            return Ok(Applied {
                revision,
                changed: false,
            });
        }
        let revision = revision + 1;
        tx.tx
            .execute(
                "INSERT INTO config_revisions (revision, applied_at, actor, digest, document) VALUES ($1, $2, $3, $4, $5)",
                &[revision.into(), ms(now).into(), actor.into(), digest.clone().into(), document.into()],
            )
            .await?;
        let detail = serde_json::json!({
            "revision": revision,
            "digest": digest,
            "users": config.users.len(),
            "teams": config.teams.len(),
            "escalation_policies": config.escalation_policies.len(),
            "services": config.services.len(),
        });
        tx.append_audit(
            NewAudit {
                actor,
                action: "config_applied",
                incident_id: None,
                from_state: Some(format!("revision {}", revision - 1)),
                to_state: Some(format!("revision {revision}")),
                reason: None,
                detail: &detail,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Applied {
            revision,
            changed: true,
        })
    }
}
