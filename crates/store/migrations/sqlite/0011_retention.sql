-- Retention. The checkpoint stands for the audit entries a pass removed from
-- the start of the chain: the last one's seq and hash, and how many in all.
CREATE TABLE audit_checkpoint (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    entries   INTEGER NOT NULL,
    pruned_at INTEGER
);
INSERT INTO audit_checkpoint (id, seq, hash, entries, pruned_at)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, NULL);

-- Metric samples as posted to /api/v1/metrics, one per metric and instant.
CREATE TABLE metric_samples (
    service TEXT    NOT NULL,
    metric  TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    value   REAL    NOT NULL,
    PRIMARY KEY (service, metric, at)
);
CREATE INDEX metric_samples_at ON metric_samples (at);

-- What a pass walks: resolved incidents by age (status first, so that SQLite
-- prefers it to incidents_status and reads no more than a batch), finished
-- notifications by age.
CREATE INDEX incidents_resolved ON incidents (status, resolved_at);
CREATE INDEX notifications_finished ON notifications (updated_at)
    WHERE status NOT IN ('pending', 'sending');
CREATE INDEX handoff_notices_sent ON handoff_notices (sent_at);
