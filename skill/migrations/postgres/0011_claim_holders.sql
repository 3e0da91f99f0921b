-- Who holds a claimed delivery (PostgreSQL): the claiming instance's id, kept alive by its
-- heartbeat in `instances`; the claims of an instance whose heartbeat stopped are released within
-- seconds instead of at the end of their lease. (SQLite has one instance and leaves both unused.)
-- Not indexed: a claim then stays a HOT update; the release looks only when an instance is silent.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
CREATE TABLE instances (id TEXT PRIMARY KEY, heartbeat_at BIGINT NOT NULL);
