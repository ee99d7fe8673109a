-- Alert grouping: the group an incident gathers, and which alerts (dedup
-- keys) it holds, so a resolve of one alert resolves the incident only when
-- it was the last one firing.
ALTER TABLE incidents ADD COLUMN group_key TEXT;
CREATE INDEX incidents_open_group ON incidents (service, group_key, created_at)
    WHERE status <> 'resolved' AND group_key IS NOT NULL;
CREATE TABLE incident_alerts (
    incident_id BIGINT  NOT NULL REFERENCES incidents (id),
    service     TEXT    NOT NULL,
    dedup_key   TEXT    NOT NULL,
    joined_at   BIGINT  NOT NULL,
    resolved_at BIGINT,
    PRIMARY KEY (incident_id, dedup_key)
);
CREATE INDEX incident_alerts_firing ON incident_alerts (service, dedup_key) WHERE resolved_at IS NULL;
