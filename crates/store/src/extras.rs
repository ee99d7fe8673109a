//! State kept beside the configuration: schedule overrides and availability
//! set through the API, and calendar feed secrets. Every change is audited and
//! bumps `extras_version`, which tells every node to rebuild its catalog.

use crate::audit::NewAudit;
use crate::db::Row;
use crate::{Result, Store, StoreError, StoreTx, ms, ts};
use escalator_core::config::{Override, Window};
use escalator_core::directory::Extras;
use escalator_core::ids::{ScheduleId, UserId};
use jiff::Timestamp;
use serde::Serialize;

/// An override made through the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredOverride {
    pub id: i64,
    pub schedule: ScheduleId,
    #[serde(flatten)]
    pub window: Override,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// A user's availability as set through the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Availability {
    pub user: UserId,
    pub away_from: Timestamp,
    /// `None`: until further notice.
    pub away_until: Option<Timestamp>,
    pub reason: Option<String>,
    pub set_by: String,
    pub set_at: Timestamp,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn override_from_row(r: &Row) -> Result<StoredOverride> {
    Ok(StoredOverride {
        id: r.int(0)?,
        schedule: ScheduleId::parse(&r.text(1)?).map_err(corrupt)?,
        window: Override {
            user: UserId::parse(&r.text(2)?).map_err(corrupt)?,
            replaces: r
                .opt_text(3)?
                .map(|u| UserId::parse(&u))
                .transpose()
                .map_err(corrupt)?,
            from: ts(r.int(4)?)?,
            to: ts(r.int(5)?)?,
        },
        created_at: ts(r.int(6)?)?,
        created_by: r.text(7)?,
    })
}

fn availability_from_row(r: &Row) -> Result<Availability> {
    Ok(Availability {
        user: UserId::parse(&r.text(0)?).map_err(corrupt)?,
        away_from: ts(r.int(1)?)?,
        away_until: r.opt_int(2)?.map(ts).transpose()?,
        reason: r.opt_text(3)?,
        set_at: ts(r.int(4)?)?,
        set_by: r.text(5)?,
    })
}

impl StoreTx {
    async fn bump_extras(&mut self) -> Result<()> {
        // Text in settings; the arithmetic is done in SQL so concurrent bumps serialise on the row.
        let sql = match self.dialect() {
            crate::Dialect::Sqlite => {
                "UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'extras_version'"
            }
            crate::Dialect::Postgres => {
                "UPDATE settings SET value = (value::BIGINT + 1)::TEXT WHERE key = 'extras_version'"
            }
        };
        self.tx.execute(sql, &[]).await?;
        self.wake_others();
        Ok(())
    }
}

impl Store {
    /// The version of the API-made state; changes whenever any of it changes.
    pub async fn extras_version(&self) -> Result<i64> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT value FROM settings WHERE key = 'extras_version'",
                &[],
            )
            .await?;
        Ok(row
            .map(|r| r.text(0))
            .transpose()?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Overrides and away windows in force now or later, for building a catalog.
    pub async fn extras(&self, now: Timestamp) -> Result<Extras> {
        let version = self.extras_version().await?;
        let overrides = self
            .pool
            .fetch_all(
                "SELECT id, schedule_id, user_id, replaces, from_at, to_at, created_at, created_by \
                 FROM schedule_overrides WHERE to_at > $1 ORDER BY from_at",
                &[ms(now).into()],
            )
            .await?
            .iter()
            .map(override_from_row)
            .map(|o| o.map(|o| (o.schedule, o.window)))
            .collect::<Result<_>>()?;
        let away = self
            .availabilities()
            .await?
            .into_iter()
            .map(|a| {
                (
                    a.user,
                    Window {
                        from: a.away_from,
                        to: a.away_until.unwrap_or(Timestamp::MAX),
                    },
                )
            })
            .filter(|(_, w)| w.to > now)
            .collect();
        Ok(Extras {
            version,
            overrides,
            away,
        })
    }

    pub async fn overrides(&self, schedule: &ScheduleId) -> Result<Vec<StoredOverride>> {
        self.pool
            .fetch_all(
                "SELECT id, schedule_id, user_id, replaces, from_at, to_at, created_at, created_by \
                 FROM schedule_overrides WHERE schedule_id = $1 ORDER BY from_at, id",
                &[schedule.as_str().into()],
            )
            .await?
            .iter()
            .map(override_from_row)
            .collect()
    }

    pub async fn add_override(
        &self,
        schedule: &ScheduleId,
        o: &Override,
        actor: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let row = tx
            .tx
            .fetch_optional(
                "INSERT INTO schedule_overrides (schedule_id, user_id, replaces, from_at, to_at, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    schedule.as_str().into(),
                    o.user.as_str().into(),
                    o.replaces.as_ref().map(|u| u.to_string()).into(),
                    ms(o.from).into(),
                    ms(o.to).into(),
                    ms(now).into(),
                    actor.into(),
                ],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("insert returned no id".into()))?;
        let id = row.int(0)?;
        let detail = serde_json::json!({"override_id": id, "schedule": schedule, "override": o});
        tx.audit_event(actor, "override_added", &detail, now)
            .await?;
        tx.bump_extras().await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes an API-made override that puts `user` on call: the caller
    /// read it and was allowed to remove it, and the delete removes nothing
    /// but what was judged. False when there is no such override.
    pub async fn remove_override(
        &self,
        schedule: &ScheduleId,
        id: i64,
        user: &UserId,
        actor: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = tx
            .tx
            .execute(
                "DELETE FROM schedule_overrides WHERE id = $1 AND schedule_id = $2 AND user_id = $3",
                &[id.into(), schedule.as_str().into(), user.as_str().into()],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        let detail = serde_json::json!({"override_id": id, "schedule": schedule});
        tx.audit_event(actor, "override_removed", &detail, now)
            .await?;
        tx.bump_extras().await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn availabilities(&self) -> Result<Vec<Availability>> {
        self.pool
            .fetch_all("SELECT user_id, away_from, away_until, reason, set_at, set_by FROM user_availability ORDER BY user_id", &[])
            .await?
            .iter()
            .map(availability_from_row)
            .collect()
    }

    /// Marks `user` away from now until `until` (or until further notice), or
    /// available again with `away == false`.
    pub async fn set_availability(
        &self,
        user: &UserId,
        away: bool,
        until: Option<Timestamp>,
        reason: Option<&str>,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.tx
            .execute(
                "DELETE FROM user_availability WHERE user_id = $1",
                &[user.as_str().into()],
            )
            .await?;
        if away {
            tx.tx
                .execute(
                    "INSERT INTO user_availability (user_id, away_from, away_until, reason, set_at, set_by) VALUES ($1, $2, $3, $4, $2, $5)",
                    &[user.as_str().into(), ms(now).into(), until.map(ms).into(), reason.into(), actor.into()],
                )
                .await?;
        }
        let detail =
            serde_json::json!({"user": user, "away": away, "until": until, "reason": reason});
        let state = |a: bool| Some(if a { "away" } else { "available" }.to_owned());
        tx.append_audit(
            NewAudit {
                actor,
                action: "availability_set",
                incident_id: None,
                from_state: None,
                to_state: state(away),
                reason: reason.map(str::to_owned),
                detail: &detail,
            },
            now,
        )
        .await?;
        tx.bump_extras().await?;
        tx.commit().await
    }

    /// Stores the hash of a user's new calendar feed secret, revoking any previous one.
    pub async fn set_calendar_feed(
        &self,
        user: &UserId,
        token_hash: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.tx
            .execute(
                "DELETE FROM calendar_feeds WHERE user_id = $1",
                &[user.as_str().into()],
            )
            .await?;
        tx.tx
            .execute(
                "INSERT INTO calendar_feeds (user_id, token_hash, created_at) VALUES ($1, $2, $3)",
                &[user.as_str().into(), token_hash.into(), ms(now).into()],
            )
            .await?;
        let detail = serde_json::json!({"user": user});
        tx.audit_event(actor, "calendar_feed_created", &detail, now)
            .await?;
        tx.commit().await
    }

    /// Revokes a user's calendar feed; false when there was none.
    pub async fn revoke_calendar_feed(
        &self,
        user: &UserId,
        actor: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = tx
            .tx
            .execute(
                "DELETE FROM calendar_feeds WHERE user_id = $1",
                &[user.as_str().into()],
            )
            .await?;
        if n > 0 {
            let detail = serde_json::json!({"user": user});
            tx.audit_event(actor, "calendar_feed_revoked", &detail, now)
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The user whose calendar feed secret hashes to `token_hash`.
    pub async fn calendar_feed_user(&self, token_hash: &str) -> Result<Option<UserId>> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT user_id FROM calendar_feeds WHERE token_hash = $1",
                &[token_hash.into()],
            )
            .await?;
        row.map(|r| UserId::parse(&r.text(0)?).map_err(corrupt))
            .transpose()
    }
}

impl Store {
    /// Claims the hand-off notice for one shift start; true for exactly one
    /// caller, however many nodes ask.
    pub async fn claim_handoff_notice(
        &self,
        schedule: &ScheduleId,
        user: &UserId,
        shift_start: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let n = self
            .pool
            .execute(
                "INSERT INTO handoff_notices (schedule_id, user_id, shift_start, sent_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (schedule_id, user_id, shift_start) DO NOTHING",
                &[schedule.as_str().into(), user.as_str().into(), ms(shift_start).into(), ms(now).into()],
            )
            .await?;
        Ok(n == 1)
    }
}
