-- Each detector's online state, so a restart resumes detection instead of warming up again.
CREATE TABLE detector_state (
    detector_id  TEXT PRIMARY KEY,
    state        TEXT    NOT NULL,
    firing       INTEGER NOT NULL,
    normal_since INTEGER,
    updated_at   INTEGER NOT NULL
);
