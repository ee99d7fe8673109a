-- Incident roles: who commands an incident, who leads its communication,
-- who keeps its notes. One row per incident that has any.
CREATE TABLE incident_comms (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    commander   TEXT,
    comms_lead  TEXT,
    scribe      TEXT,
    updated_at  INTEGER NOT NULL
);
-- A token may act for a user (escalator token create --user): then the user,
-- not only the token's role, decides what it may do (status updates).
ALTER TABLE api_tokens ADD COLUMN user_id TEXT;
