-- Priority set by rules (P1 most urgent); NULL when no rule set one.
ALTER TABLE incidents ADD COLUMN priority TEXT;
CREATE INDEX incidents_priority ON incidents (priority, id) WHERE priority IS NOT NULL;
