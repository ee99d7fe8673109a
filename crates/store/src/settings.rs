//! Server-wide secrets and settings that must survive restarts.

use crate::{Result, Store};

impl Store {
    /// The setting `key`, created with `make()` the first time it is asked for.
    /// Concurrent first calls agree on one value.
    pub async fn setting_or_init(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        self.pool
            .execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[key.into(), make().into()],
            )
            .await?;
        let row = self
            .pool
            .fetch_optional("SELECT value FROM settings WHERE key = $1", &[key.into()])
            .await?;
        row.map(|r| r.text(0)).transpose()?.ok_or_else(|| {
            crate::StoreError::Corrupt(format!("setting {key} vanished after insert"))
        })
    }
}
