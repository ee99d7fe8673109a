//! Detector state: each detector's online model and whether it is firing,
//! kept between samples and across restarts. Read for a change under a row
//! lock in the caller's transaction, so two nodes feeding one detector take
//! turns instead of overwriting each other's state.

use crate::{Result, Store, StoreError, StoreTx, ms, ts};
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

fn state_from_row(r: &crate::db::Row) -> Result<DetectorState> {
    Ok(DetectorState {
        state: serde_json::from_str(&r.text(0)?)
            .map_err(|e| StoreError::Corrupt(format!("detector state: {e}")))?,
        firing: r.int(1)? != 0,
        normal_since: r.opt_int(2)?.map(ts).transpose()?,
    })
}

impl StoreTx {
    /// The detector's state, locked until the transaction ends; made (with a
    /// `null` state, for the caller to start afresh) if there was none, so that
    /// even the first samples of two nodes are taken in turn.
    pub async fn lock_detector_state(&mut self, id: &str, now: Timestamp) -> Result<DetectorState> {
        self.tx
            .execute(
                "INSERT INTO detector_state (detector_id, state, firing, normal_since, updated_at) \
                 VALUES ($1, 'null', 0, NULL, $2) ON CONFLICT (detector_id) DO NOTHING",
                &[id.into(), ms(now).into()],
            )
            .await?;
        let lock = self.dialect().for_update();
        let row = self
            .tx
            .fetch_optional(
                format!(
                    "SELECT state, firing, normal_since FROM detector_state WHERE detector_id = $1{lock}"
                ),
                &[id.into()],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("detector {id} state vanished")))?;
        state_from_row(&row)
    }

    pub async fn save_detector_state(
        &mut self,
        id: &str,
        s: &DetectorState,
        now: Timestamp,
    ) -> Result<()> {
        self.tx
            .execute(
                "UPDATE detector_state SET state = $2, firing = $3, normal_since = $4, updated_at = $5 \
                 WHERE detector_id = $1",
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

impl Store {
    pub async fn detector_state(&self, id: &str) -> Result<Option<DetectorState>> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT state, firing, normal_since FROM detector_state WHERE detector_id = $1",
                &[id.into()],
            )
            .await?;
        row.as_ref().map(state_from_row).transpose()
    }
}
