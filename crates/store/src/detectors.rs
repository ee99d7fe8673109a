//! Detector state: each detector's online model and whether it is firing,
//! kept between samples and across restarts.

use crate::{Result, Store, StoreError, ms, ts};
use jiff::Timestamp;

/// One detector's saved state.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorState {
    /// The detector's model, as its own JSON.
    pub state: serde_json::Value,
    pub firing: bool,
    /// When the series last turned normal while firing.
    pub normal_since: Option<Timestamp>,
}

impl Store {
    pub async fn detector_state(&self, id: &str) -> Result<Option<DetectorState>> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT state, firing, normal_since FROM detector_state WHERE detector_id = $1",
                &[id.into()],
            )
            .await?;
        row.map(|r| {
            Ok(DetectorState {
                state: serde_json::from_str(&r.text(0)?)
                    .map_err(|e| StoreError::Corrupt(format!("detector state: {e}")))?,
                firing: r.int(1)? != 0,
                normal_since: r.opt_int(2)?.map(ts).transpose()?,
            })
        })
        .transpose()
    }

    pub async fn save_detector_state(
        &self,
        id: &str,
        s: &DetectorState,
        now: Timestamp,
    ) -> Result<()> {
        self.pool
            .execute(
                "INSERT INTO detector_state (detector_id, state, firing, normal_since, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (detector_id) DO UPDATE SET state = excluded.state, firing = excluded.firing, \
                 normal_since = excluded.normal_since, updated_at = excluded.updated_at",
                &[
                    id.into(),
                    s.state.to_string().into(),
                    i64::from(s.firing).into(),
                    s.normal_since.map(ms).into(),
                    ms(now).into(),
                ],
            )
            .await?;
        Ok(())
    }
}
