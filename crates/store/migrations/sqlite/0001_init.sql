-- Instants are epoch milliseconds (UTC) in INTEGER columns; JSON is TEXT.

CREATE TABLE config_revisions (
    revision    INTEGER PRIMARY KEY,
    applied_at  INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    document    TEXT    NOT NULL
);

CREATE TABLE incidents (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    service            TEXT    NOT NULL,
    policy             TEXT    NOT NULL,
    dedup_key          TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    level              INTEGER NOT NULL,
    round              INTEGER NOT NULL,
    level_started_at   INTEGER NOT NULL,
    next_escalation_at INTEGER,
    alert_count        INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    acknowledged_at    INTEGER,
    acknowledged_by    TEXT,
    resolved_at        INTEGER,
    resolved_by        TEXT,
    details            TEXT    NOT NULL
);
-- At most one open incident per service and dedup key.
CREATE UNIQUE INDEX incidents_open_dedup ON incidents (service, dedup_key) WHERE status <> 'resolved';
-- The escalation timer: the runner sleeps until MIN(next_escalation_at).
CREATE INDEX incidents_due ON incidents (next_escalation_at) WHERE next_escalation_at IS NOT NULL;
CREATE INDEX incidents_status ON incidents (status, id);
CREATE INDEX incidents_service ON incidents (service, id);

-- The outbox. due_at: when the next attempt is due (while pending). lease_until:
-- while sending, when the sender's claim runs out and another may take it over.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL REFERENCES incidents (id),
    idempotency_key TEXT    NOT NULL UNIQUE,
    user_id         TEXT    NOT NULL,
    contact_method  TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    level           INTEGER NOT NULL,
    round           INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    due_at          INTEGER NOT NULL,
    lease_until     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE status = 'pending';
CREATE INDEX notifications_lease ON notifications (lease_until) WHERE status = 'sending';
CREATE INDEX notifications_incident ON notifications (incident_id, id);

CREATE TABLE timeline (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

-- Append-only, hash-chained. audit_head serialises appends and remembers the tip.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    incident_id INTEGER,
    from_state  TEXT,
    to_state    TEXT,
    reason      TEXT,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
