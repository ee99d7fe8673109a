-- When a notification was first claimed to be sent: the start of its retry
-- schedule. A page held by an open circuit breaker (not an attempt) is given
-- up, and falls back, once the schedule's span has passed since then.
ALTER TABLE notifications ADD COLUMN first_tried_at BIGINT;
