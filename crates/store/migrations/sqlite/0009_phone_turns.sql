-- When each number last had an SMS or a call from us (GoAlert's rate limit:
-- one per number per interval). In the database, so that nodes sharing it
-- share the turns.
CREATE TABLE phone_turns (
    channel  TEXT    NOT NULL,
    address  TEXT    NOT NULL,
    taken_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);
