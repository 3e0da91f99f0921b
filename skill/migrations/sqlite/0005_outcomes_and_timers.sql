-- What Copilot Studio is told when a chat ends: the last agent who served it, and which timer ended
-- it (closed_by 'timeout' with timer_kind 'queue' or 'idle').
--
-- Each open session has at most one timer, stored as a deadline (Unix milliseconds) so that it
-- survives a restart and, with a shared database, fires once: the instance that moves or closes it
-- does so only if it still reads the (kind, deadline) it found due. Kinds: 'queue' (waiting for an
-- agent), 'warn' (the customer is about to be closed for inactivity), 'idle' (closed for inactivity).
ALTER TABLE sessions ADD COLUMN agent_name TEXT;
ALTER TABLE sessions ADD COLUMN timer_kind TEXT;
ALTER TABLE sessions ADD COLUMN timer_at_ms INTEGER;
CREATE INDEX sessions_timers ON sessions (timer_at_ms) WHERE state = 'open' AND timer_at_ms IS NOT NULL;
