-- State kept outside the configuration file: overrides and availability set
-- through the API, and per-user calendar feed secrets.

CREATE TABLE schedule_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    replaces    TEXT,
    from_at     INTEGER NOT NULL,
    to_at       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL
);
CREATE INDEX schedule_overrides_schedule ON schedule_overrides (schedule_id, to_at);

-- One row per user who marked themselves away; away_until NULL means until further notice.
CREATE TABLE user_availability (
    user_id    TEXT PRIMARY KEY,
    away_from  INTEGER NOT NULL,
    away_until INTEGER,
    reason     TEXT,
    set_at     INTEGER NOT NULL,
    set_by     TEXT    NOT NULL
);

CREATE TABLE calendar_feeds (
    user_id    TEXT PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- One row per hand-off notice sent: whichever node inserts it sends it.
CREATE TABLE handoff_notices (
    schedule_id TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    shift_start INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, user_id, shift_start)
);

-- Bumped with every change above, so every node knows to reload.
INSERT INTO settings (key, value) VALUES ('extras_version', '0') ON CONFLICT (key) DO NOTHING;
