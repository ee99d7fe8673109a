-- Each detector's online state, so a restart resumes detection instead of warming up again.
CREATE TABLE detector_state (
    detector_id  TEXT PRIMARY KEY,
    state        TEXT    NOT NULL,
    firing       BIGINT NOT NULL,
    normal_since BIGINT,
    updated_at   BIGINT NOT NULL
);
