-- Stakeholder messages share the outbox with pages (durable, retried,
-- idempotent alike). audience: the template they are rendered with (an
-- audience name or a template id), NULL for a page; occasion: why
-- (level_reached, update, resolved, announcement); message: a status
-- update's words. An acknowledgement cancels pages only.
ALTER TABLE notifications ADD COLUMN audience TEXT;
ALTER TABLE notifications ADD COLUMN occasion TEXT;
ALTER TABLE notifications ADD COLUMN message TEXT;
