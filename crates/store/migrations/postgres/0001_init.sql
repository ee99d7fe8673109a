-- Instants are epoch milliseconds (UTC) in BIGINT columns; JSON is TEXT.

CREATE TABLE config_revisions (
    revision    BIGINT PRIMARY KEY,
    applied_at  BIGINT NOT NULL,
    actor       TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    document    TEXT    NOT NULL
);

CREATE TABLE incidents (
    id                 BIGSERIAL PRIMARY KEY,
    service            TEXT    NOT NULL,
    policy             TEXT    NOT NULL,
    dedup_key          TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    level              BIGINT NOT NULL,
    round              BIGINT NOT NULL,
    level_started_at   BIGINT NOT NULL,
    next_escalation_at BIGINT,
    alert_count        BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    acknowledged_at    BIGINT,
    acknowledged_by    TEXT,
    resolved_at        BIGINT,
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
    id              BIGSERIAL PRIMARY KEY,
    incident_id     BIGINT NOT NULL REFERENCES incidents (id),
    idempotency_key TEXT    NOT NULL UNIQUE,
    user_id         TEXT    NOT NULL,
    contact_method  TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    level           BIGINT NOT NULL,
    round           BIGINT NOT NULL,
    status          TEXT    NOT NULL,
    due_at          BIGINT NOT NULL,
    lease_until     BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE status = 'pending';
CREATE INDEX notifications_lease ON notifications (lease_until) WHERE status = 'sending';
CREATE INDEX notifications_incident ON notifications (incident_id, id);

CREATE TABLE timeline (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    at          BIGINT NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

-- Append-only, hash-chained. audit_head serialises appends and remembers the tip.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    incident_id BIGINT,
    from_state  TEXT,
    to_state    TEXT,
    reason      TEXT,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE api_tokens (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
