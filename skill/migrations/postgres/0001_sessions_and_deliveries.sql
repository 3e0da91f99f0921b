-- The PostgreSQL edition of the skill's schema, for several instances sharing one database.
-- Same tables and invariants as the SQLite edition; see migrations/sqlite for the comments.
CREATE TABLE sessions (
    seq BIGSERIAL NOT NULL,
    id TEXT PRIMARY KEY NOT NULL,
    copilot_conversation_id TEXT NOT NULL,
    livechat_conversation_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('opening', 'open', 'closed')),
    closed_by TEXT CHECK (closed_by IN ('user', 'agent', 'timeout', 'error')),
    reference TEXT NOT NULL,
    problem_forwarded BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    opened_at TEXT,
    closed_at TEXT
);

CREATE UNIQUE INDEX sessions_one_live_per_conversation
    ON sessions (copilot_conversation_id) WHERE state IN ('opening', 'open');
CREATE UNIQUE INDEX sessions_by_livechat_id
    ON sessions (livechat_conversation_id) WHERE livechat_conversation_id IS NOT NULL;
CREATE INDEX sessions_by_conversation ON sessions (copilot_conversation_id, created_at);

CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    lane TEXT NOT NULL CHECK (lane IN ('teams', 'livechat')),
    queue_key TEXT NOT NULL,
    dedupe_key TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    -- While an instance delivers a row, this is its lease: no other instance takes the row (or
    -- anything behind it in its queue) until it has passed.
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);

CREATE UNIQUE INDEX deliveries_dedupe ON deliveries (lane, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX deliveries_pending ON deliveries (lane, state, queue_key, id);
