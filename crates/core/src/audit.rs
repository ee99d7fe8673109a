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
}

/// Walks entries in `seq` order; returns how many were checked, or the first break.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<u64, ChainBreak> {
    let mut v = Verifier::default();
    for e in entries {
        v.check(e)?;
    }
    Ok(v.checked)
}

/// Incremental form of [`verify`] for streaming through a large log page by page.
#[derive(Debug, Clone)]
pub struct Verifier {
    prev_seq: i64,
    prev_hash: String,
    pub checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            prev_seq: 0,
            prev_hash: GENESIS.to_owned(),
            checked: 0,
        }
    }
}

impl Verifier {
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
        self.prev_seq = e.seq;
        self.prev_hash.clone_from(&e.hash);
        self.checked += 1;
        Ok(())
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
}
