-- The last agent of a session and its one stored timer; see migrations/sqlite for the comments.
ALTER TABLE sessions ADD COLUMN agent_name TEXT;
ALTER TABLE sessions ADD COLUMN timer_kind TEXT;
ALTER TABLE sessions ADD COLUMN timer_at_ms BIGINT;
CREATE INDEX sessions_timers ON sessions (timer_at_ms) WHERE state = 'open' AND timer_at_ms IS NOT NULL;
