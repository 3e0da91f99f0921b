-- A handover session: opening -> open -> closed. Both directions of the mapping (Copilot
-- conversation -> live-chat id, and back) live in one row, so closing it closes both at once.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    copilot_conversation_id TEXT NOT NULL,
    livechat_conversation_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('opening', 'open', 'closed')),
    closed_by TEXT CHECK (closed_by IN ('user', 'agent', 'timeout', 'error')),
    -- The conversation reference (JSON) needed to write into the Teams conversation later.
    reference TEXT NOT NULL,
    problem_forwarded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    opened_at TEXT,
    closed_at TEXT
);

-- At most one live session per Copilot conversation, enforced by the store itself, so two
-- concurrent startConversation activities cannot both open one.
CREATE UNIQUE INDEX sessions_one_live_per_conversation
    ON sessions (copilot_conversation_id) WHERE state IN ('opening', 'open');
CREATE UNIQUE INDEX sessions_by_livechat_id
    ON sessions (livechat_conversation_id) WHERE livechat_conversation_id IS NOT NULL;
CREATE INDEX sessions_by_conversation ON sessions (copilot_conversation_id, created_at);

-- The outboxes: every message that crosses a boundary is stored here before it is acknowledged,
-- then delivered by a worker, oldest first within (lane, queue_key).
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lane TEXT NOT NULL CHECK (lane IN ('teams', 'livechat')),
    queue_key TEXT NOT NULL,
    -- The sender's id for the message (the live-chat message id), so a repeat is not sent twice.
    dedupe_key TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);

CREATE UNIQUE INDEX deliveries_dedupe ON deliveries (lane, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX deliveries_pending ON deliveries (lane, state, queue_key, id);
