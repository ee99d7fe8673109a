//! Turns of phone numbers: at most one SMS or call per number per interval,
//! kept in the database so that every node sharing it keeps to the same
//! turns. Taking a turn is one conditional upsert, so two nodes asking at
//! once cannot both get it.

use crate::{Result, Store, StoreError, ms, ts};
use jiff::{SignedDuration, Timestamp};

impl Store {
    /// Takes the turn of `address` on `channel` at `now`: `None` when it was
    /// free (last taken `interval` or more ago, or never), otherwise
    /// `Some(next turn)`, when the message must wait.
    pub async fn take_phone_turn(
        &self,
        channel: &str,
        address: &str,
        now: Timestamp,
        interval: SignedDuration,
    ) -> Result<Option<Timestamp>> {
        let free_since = now
            .checked_sub(interval)
            .map_err(|e| StoreError::Corrupt(format!("phone turn interval: {e}")))?;
        let mut tx = self.begin().await?;
        let taken = tx
            .tx
            .fetch_optional(
                "INSERT INTO phone_turns (channel, address, taken_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (channel, address) DO UPDATE SET taken_at = excluded.taken_at \
                 WHERE phone_turns.taken_at <= $4 RETURNING taken_at",
                &[
                    channel.into(),
                    address.into(),
                    ms(now).into(),
                    ms(free_since).into(),
                ],
            )
            .await?;
        let next = match taken {
            Some(_) => None,
            None => {
                let row = tx
                    .tx
                    .fetch_optional(
                        "SELECT taken_at FROM phone_turns WHERE channel = $1 AND address = $2",
                        &[channel.into(), address.into()],
                    )
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("phone turn vanished".into()))?;
                let last = ts(row.int(0)?)?;
                Some(
                    last.checked_add(interval)
                        .map_err(|e| StoreError::Corrupt(format!("phone turn: {e}")))?,
                )
            }
        };
        tx.commit().await?;
        Ok(next)
    }
}
