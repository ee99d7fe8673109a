-- The last status update on an incident, and when the next one is promised
-- (templates show it as next_update_at).
ALTER TABLE incident_comms ADD COLUMN last_update TEXT;
ALTER TABLE incident_comms ADD COLUMN last_update_by TEXT;
ALTER TABLE incident_comms ADD COLUMN last_update_at INTEGER;
ALTER TABLE incident_comms ADD COLUMN next_update_at INTEGER;
