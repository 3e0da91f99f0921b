-- A live-chat conversation, opened by the skill, with the handoff context the agent sees first.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    customer_name TEXT,
    customer_id TEXT,
    channel TEXT,
    tenant_id TEXT,
    bot_conversation_id TEXT,
    problem_description TEXT,
    state TEXT NOT NULL CHECK (state IN ('open', 'ended')),
    ended_by TEXT,
    created_at TEXT NOT NULL,
    ended_at TEXT,
    -- When the customer started waiting for an answer; cleared by an agent's reply.
    waiting_since TEXT,
    -- The last message seq an agent has seen: customer messages after it are unread.
    read_seq INTEGER NOT NULL DEFAULT 0
);

-- The transcript. Agent messages and the agent's end of a conversation are also the webhook
-- outbox: they carry a delivery state, and the worker delivers the oldest pending one of each
-- conversation first.
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    kind TEXT NOT NULL CHECK (kind IN ('message', 'ended')),
    role TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'system')),
    sender TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivery_state TEXT CHECK (delivery_state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error TEXT
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
CREATE INDEX messages_pending ON messages (delivery_state, conversation_id, seq);

-- Every change the agent pages must see, numbered; live updates replay from here after a reconnect.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
