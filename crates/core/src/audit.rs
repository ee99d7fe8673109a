//! The tamper-evident audit chain: every entry carries the hash of the one
//! before it, so altering or removing an entry breaks every later link.
//! Hashing and verification live here; the store only keeps the rows.
//! An entry about an opened incident carries the SHA-256 of the incident's
//! stored details instead of a copy (`crate::details`), so the chain covers
//! them too: [`AuditEntry::check_details`].

use sha2::{Digest, Sha256};

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as stored. `detail` is kept as the exact JSON text that was hashed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// Epoch milliseconds, UTC.
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub incident_id: Option<i64>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry must carry, given its content and `prev_hash`.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        // Length-prefix every field so no two different entries encode alike.
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(&self.seq.to_be_bytes());
        field(&self.at_ms.to_be_bytes());
        field(self.actor.as_bytes());
        field(self.action.as_bytes());
        field(
            self.incident_id
                .map(|i| i.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        for opt in [&self.from_state, &self.to_state, &self.reason] {
            match opt {
                Some(s) => {
                    field(b"1");
                    field(s.as_bytes());
                }
                None => field(b"0"),
            }
        }
        field(self.detail.as_bytes());
        field(self.prev_hash.as_bytes());
        hex::encode(h.finalize())
    }

    /// The incident and the hash of its stored details this entry refers to,
    /// if it does (entries written before details were kept once carry a copy).
    pub fn details_reference(&self) -> Option<(i64, String)> {
        if !self.detail.contains(crate::details::REFERENCE) {
            return None;
        }
        let detail: serde_json::Value = serde_json::from_str(&self.detail).ok()?;
        let hash = crate::details::reference_in(&detail)?;
        Some((self.incident_id?, hash.to_owned()))
    }

    /// Checks the details text stored on the incident this entry refers to
    /// (`None`: not found) against the hash the entry carries.
    pub fn check_details(&self, stored: Option<&str>) -> Result<(), ChainBreak> {
        let Some((incident, hash)) = self.details_reference() else {
            return Ok(());
        };
        match stored {
            Some(text) if crate::details::sha256_hex(text) == hash => Ok(()),
            _ => Err(ChainBreak::DetailsAltered {
                seq: self.seq,
                incident,
            }),
        }
    }

    /// Fills in `prev_hash` and `hash` to append this entry after `prev`.
    pub fn seal(mut self, prev_seq: i64, prev_hash: &str) -> Self {
        self.seq = prev_seq + 1;
        self.prev_hash = prev_hash.to_owned();
        self.hash = self.compute_hash();
        self
    }
}

/// Who prunes: entries written by a retention pass name this actor.
pub const RETENTION_ACTOR: &str = "system:retention";
/// The action of the entry a retention pass appends after removing the start
/// of the chain; its detail is the new [`Checkpoint`].
pub const AUDIT_PRUNED: &str = "audit_pruned";
/// The action of the entry a retention pass appends after removing resolved
/// incidents; its detail is an [`IncidentsPruned`].
pub const INCIDENTS_PRUNED: &str = "incidents_pruned";

/// What stands for the entries a retention pass removed from the start of
/// the chain: the last removed entry's `seq` and hash, and how many entries
/// were removed in all. Verification starts from it, and the entry the pass
/// appended with it ([`AUDIT_PRUNED`]) attests it, so forging a checkpoint
/// to hide further removals means rewriting every later entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub entries: u64,
}

impl Default for Checkpoint {
    /// The start of a chain nothing was removed from.
    fn default() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
            entries: 0,
        }
    }
}

/// The detail of an [`INCIDENTS_PRUNED`] entry: which incidents a retention
/// pass removed, so the entries that refer to their details still verify.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IncidentsPruned {
    pub incidents: Vec<i64>,
    /// RFC 3339: the pass removed incidents resolved before this instant.
    pub resolved_before: String,
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq} was altered: its content does not match its hash")]
    Altered { seq: i64 },
    #[error("entry {expected} is missing (found {found} next): entries were removed")]
    Missing { expected: i64, found: i64 },
    #[error(
        "entry {seq} refers to the details of incident {incident}, which were altered or removed"
    )]
    DetailsAltered { seq: i64, incident: i64 },
    #[error(
        "entry {seq} does not link to the entry before it: an earlier entry was altered or removed"
    )]
    Unlinked { seq: i64 },
    #[error(
        "the chain's recorded tip is entry {head} but the log ends at entry {last}: entries after {last} were removed or altered"
    )]
    Truncated { head: i64, last: i64 },
    #[error(
        "the checkpoint (entries up to {seq} removed by retention) is not the one the last retention entry attests: the checkpoint was altered"
    )]
    CheckpointUnattested { seq: i64 },
}

/// Walks entries in `seq` order; returns how many were checked, or the first break.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<u64, ChainBreak> {
    let mut v = Verifier::default();
    for e in entries {
        v.check(e)?;
    }
    Ok(v.checked)
}

/// Streams through a large log page by page: [`Verifier::check`] each entry
/// in order (and [`Verifier::details`] for the ones that refer to stored
/// details), then [`Verifier::finish`] against the recorded tip.
#[derive(Debug, Clone)]
pub struct Verifier {
    start: Checkpoint,
    prev_seq: i64,
    prev_hash: String,
    pub checked: u64,
    /// The checkpoint the latest [`AUDIT_PRUNED`] entry attests.
    attested: Option<Checkpoint>,
    /// Incidents whose details are gone, by the first entry that refers to
    /// them; cleared when an [`INCIDENTS_PRUNED`] entry accounts for them.
    gone: std::collections::BTreeMap<i64, i64>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::from_checkpoint(Checkpoint::default())
    }
}

/// What a whole verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked, from the checkpoint to the tip.
    pub checked: u64,
    /// Where checking started.
    pub checkpoint: Checkpoint,
}

impl Verifier {
    /// Verification of a chain whose start was removed through `start`.
    pub fn from_checkpoint(start: Checkpoint) -> Self {
        Self {
            prev_seq: start.seq,
            prev_hash: start.hash.clone(),
            start,
            checked: 0,
            attested: None,
            gone: Default::default(),
        }
    }

    pub fn check(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        if e.seq != self.prev_seq + 1 {
            return Err(ChainBreak::Missing {
                expected: self.prev_seq + 1,
                found: e.seq,
            });
        }
        if e.compute_hash() != e.hash {
            return Err(ChainBreak::Altered { seq: e.seq });
        }
        if e.prev_hash != self.prev_hash {
            return Err(ChainBreak::Unlinked { seq: e.seq });
        }
        if e.actor == RETENTION_ACTOR {
            self.retention_entry(e);
        }
        self.prev_seq = e.seq;
        self.prev_hash.clone_from(&e.hash);
        self.checked += 1;
        Ok(())
    }

    /// The entry's hash over its incident's stored details (`None`: the
    /// incident is not stored). Details that differ break the chain at once;
    /// details that are gone must be accounted for by a later retention entry.
    pub fn details(&mut self, e: &AuditEntry, stored: Option<&str>) -> Result<(), ChainBreak> {
        match (stored, e.details_reference()) {
            (None, Some((incident, _))) => {
                self.gone.entry(incident).or_insert(e.seq);
                Ok(())
            }
            _ => e.check_details(stored),
        }
    }

    fn retention_entry(&mut self, e: &AuditEntry) {
        match e.action.as_str() {
            AUDIT_PRUNED => self.attested = serde_json::from_str(&e.detail).ok(),
            INCIDENTS_PRUNED => {
                if let Ok(pruned) = serde_json::from_str::<IncidentsPruned>(&e.detail) {
                    for id in pruned.incidents {
                        self.gone.remove(&id);
                    }
                }
            }
            _ => {}
        }
    }

    /// The end of the walk: the log must end at the recorded tip, every
    /// incident whose details are gone must have been removed by retention,
    /// and a checkpoint must be the one the last retention entry attests.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<Verified, ChainBreak> {
        if let Some((&incident, &seq)) = self.gone.iter().min_by_key(|(_, seq)| **seq) {
            return Err(ChainBreak::DetailsAltered { seq, incident });
        }
        if head_seq != self.prev_seq || head_hash != self.prev_hash {
            return Err(ChainBreak::Truncated {
                head: head_seq,
                last: self.prev_seq,
            });
        }
        let consistent = self.start.entries == self.start.seq.max(0) as u64;
        if self.start.seq != 0 && (!consistent || self.attested.as_ref() != Some(&self.start)) {
            return Err(ChainBreak::CheckpointUnattested {
                seq: self.start.seq,
            });
        }
        Ok(Verified {
            checked: self.checked,
            checkpoint: self.start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let (seq, prev) = out
                .last()
                .map(|e| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS.into()));
            out.push(
                AuditEntry {
                    seq: 0,
                    at_ms: 1_700_000_000_000 + i,
                    actor: "user:alice".into(),
                    action: "acknowledged".into(),
                    incident_id: Some(i),
                    from_state: Some("triggered level 1 round 1".into()),
                    to_state: Some("acknowledged level 1 round 1".into()),
                    reason: None,
                    detail: "{}".into(),
                    prev_hash: String::new(),
                    hash: String::new(),
                }
                .seal(seq, &prev),
            );
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn names_the_altered_entry() {
        let mut c = chain(5);
        c[2].reason = Some("nothing to see".into());
        assert_eq!(verify(&c), Err(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn names_the_removed_entry() {
        let mut c = chain(5);
        c.remove(3);
        assert_eq!(
            verify(&c),
            Err(ChainBreak::Missing {
                expected: 4,
                found: 5
            })
        );
    }

    #[test]
    fn a_rehashed_forgery_is_caught_by_the_next_link() {
        let mut c = chain(5);
        c[1].actor = "user:mallory".into();
        c[1].hash = c[1].compute_hash();
        assert_eq!(verify(&c), Err(ChainBreak::Unlinked { seq: 3 }));
    }

    #[test]
    fn details_are_covered_by_the_hash_an_entry_carries() {
        let details = crate::details::StoredDetails::new(&serde_json::json!({"source": "db-1"}));
        let mut detail = details.reference();
        detail["paged"] = serde_json::json!([]);
        let mut e = chain(1).remove(0);
        e.detail = detail.to_string();
        assert_eq!(
            e.details_reference(),
            Some((0, details.sha256().to_owned()))
        );
        assert_eq!(e.check_details(Some(details.text())), Ok(()));
        let broken = Err(ChainBreak::DetailsAltered {
            seq: 1,
            incident: 0,
        });
        assert_eq!(e.check_details(Some(r#"{"source":"db-2"}"#)), broken);
        assert_eq!(e.check_details(None), broken);
        // An entry from before details were kept once carries a copy: nothing to check.
        let old = chain(1).remove(0);
        assert_eq!(old.details_reference(), None);
        assert_eq!(old.check_details(None), Ok(()));
    }

    #[test]
    fn streaming_verifier_agrees() {
        let mut c = chain(4);
        c[3].action = "resolved".into();
        let mut v = Verifier::default();
        let r: Result<(), _> = c.iter().try_for_each(|e| v.check(e));
        assert_eq!(r, Err(ChainBreak::Altered { seq: 4 }));
        assert_eq!(v.checked, 3);
    }

    /// Seals `e` after the last entry of `chain`.
    fn push(chain: &mut Vec<AuditEntry>, mut e: AuditEntry) {
        let (seq, prev) = chain
            .last()
            .map(|l| (l.seq, l.hash.clone()))
            .unwrap_or((0, GENESIS.into()));
        e.prev_hash = String::new();
        chain.push(e.seal(seq, &prev));
    }

    fn retention(action: &str, detail: String) -> AuditEntry {
        AuditEntry {
            actor: RETENTION_ACTOR.into(),
            action: action.into(),
            incident_id: None,
            from_state: None,
            to_state: None,
            detail,
            ..chain(1).remove(0)
        }
    }

    /// Removes the first `n` entries as a retention pass does: the new
    /// checkpoint, attested by an entry appended after the rest.
    fn prune(chain: &mut Vec<AuditEntry>, n: usize, gone: &[i64]) -> Checkpoint {
        let last = &chain[n - 1];
        let cp = Checkpoint {
            seq: last.seq,
            hash: last.hash.clone(),
            entries: last.seq as u64,
        };
        chain.drain(..n);
        if !gone.is_empty() {
            let detail = IncidentsPruned {
                incidents: gone.to_vec(),
                resolved_before: "2025-01-01T00:00:00Z".into(),
            };
            let detail = serde_json::to_string(&detail).unwrap();
            push(chain, retention(INCIDENTS_PRUNED, detail));
        }
        push(
            chain,
            retention(AUDIT_PRUNED, serde_json::to_string(&cp).unwrap()),
        );
        cp
    }

    fn walk(
        chain: &[AuditEntry],
        start: Checkpoint,
        details: impl Fn(&AuditEntry) -> Option<String>,
    ) -> Result<Verified, ChainBreak> {
        let mut v = Verifier::from_checkpoint(start);
        for e in chain {
            v.check(e)?;
            v.details(e, details(e).as_deref())?;
        }
        let last = chain.last().unwrap();
        v.finish(last.seq, &last.hash)
    }

    #[test]
    fn a_pruned_chain_verifies_from_its_attested_checkpoint() {
        let mut c = chain(10);
        let cp = prune(&mut c, 4, &[]);
        let verified = walk(&c, cp.clone(), |_| None).unwrap();
        assert_eq!(verified.checked, 7);
        assert_eq!(verified.checkpoint.entries, 4);
        // A second pass removes the first attestation too and attests anew.
        let cp2 = prune(&mut c, 6, &[]);
        assert_eq!(cp2.seq, 10);
        assert_eq!(walk(&c, cp2, |_| None).unwrap().checked, 2);
    }

    #[test]
    fn a_forged_checkpoint_hiding_more_removals_is_caught() {
        let mut c = chain(10);
        let cp = prune(&mut c, 4, &[]);
        // Entries 5 and 6 removed by hand, the checkpoint moved to match.
        let forged = Checkpoint {
            seq: c[1].seq,
            hash: c[1].hash.clone(),
            entries: c[1].seq as u64,
        };
        let rest = c[2..].to_vec();
        assert_eq!(
            walk(&rest, forged, |_| None),
            Err(ChainBreak::CheckpointUnattested { seq: 6 })
        );
        // Without the checkpoint the removal shows as missing entries.
        assert!(matches!(
            walk(&c, Checkpoint::default(), |_| None),
            Err(ChainBreak::Missing { expected: 1, .. })
        ));
        // A checkpoint whose count disagrees with its position.
        let miscounted = Checkpoint { entries: 3, ..cp };
        assert_eq!(
            walk(&c, miscounted, |_| None),
            Err(ChainBreak::CheckpointUnattested { seq: 4 })
        );
    }

    #[test]
    fn details_gone_must_be_accounted_for_by_retention() {
        let stored = crate::details::StoredDetails::new(&serde_json::json!({"source": "x"}));
        let mut c = Vec::new();
        for id in [7, 8] {
            let mut e = chain(1).remove(0);
            e.incident_id = Some(id);
            e.detail = stored.reference().to_string();
            push(&mut c, e);
        }
        push(&mut c, chain(1).remove(0));
        // Incident 7 was removed by retention, 8 by hand.
        let mut pruned = c.clone();
        let detail = IncidentsPruned {
            incidents: vec![7],
            resolved_before: "2025-01-01T00:00:00Z".into(),
        };
        push(
            &mut pruned,
            retention(INCIDENTS_PRUNED, serde_json::to_string(&detail).unwrap()),
        );
        let only_8 = |e: &AuditEntry| (e.incident_id == Some(8)).then(|| stored.text().to_owned());
        assert_eq!(
            walk(&pruned, Checkpoint::default(), only_8)
                .unwrap()
                .checked,
            4
        );
        assert_eq!(
            walk(&pruned, Checkpoint::default(), |_| None),
            Err(ChainBreak::DetailsAltered {
                seq: 2,
                incident: 8
            })
        );
        // Without the retention entry, the gone details break the chain.
        assert_eq!(
            walk(&c, Checkpoint::default(), only_8),
            Err(ChainBreak::DetailsAltered {
                seq: 1,
                incident: 7
            })
        );
    }

    #[test]
    fn a_log_that_ends_before_its_tip_is_truncated() {
        let c = chain(5);
        let mut v = Verifier::default();
        for e in &c[..3] {
            v.check(e).unwrap();
        }
        assert_eq!(
            v.finish(5, &c[4].hash),
            Err(ChainBreak::Truncated { head: 5, last: 3 })
        );
    }
}
