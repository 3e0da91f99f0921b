-- The contact centre: agents with a presence and a capacity, a queue, assignment and transfers.

-- The configured agents (kept in step with the configuration at start-up). Presence is what the
-- others see: online, away or offline (signed out, or no page open for a while).
CREATE TABLE agents (
    username TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    presence TEXT NOT NULL DEFAULT 'offline' CHECK (presence IN ('online', 'away', 'offline')),
    capacity INTEGER NOT NULL DEFAULT 3 CHECK (capacity >= 0),
    updated_at TEXT NOT NULL
);

-- Who has a conversation; none while it waits in the queue.
ALTER TABLE conversations ADD COLUMN assigned_agent TEXT;
ALTER TABLE conversations ADD COLUMN agent_name TEXT;
-- Its place in the queue is by this time, oldest first; cleared when an agent takes it.
ALTER TABLE conversations ADD COLUMN queued_at TEXT;
-- When an agent first took it: the wait estimate is made from these.
ALTER TABLE conversations ADD COLUMN accepted_at TEXT;
-- The queue position last told to the customer, and when (Unix milliseconds).
ALTER TABLE conversations ADD COLUMN reported_position INTEGER;
ALTER TABLE conversations ADD COLUMN reported_at INTEGER;
-- The note the last transfer left for the agent who has it now.
ALTER TABLE conversations ADD COLUMN transfer_note TEXT;

-- Conversations open before the queue existed have nobody: they join the queue by their age.
UPDATE conversations SET queued_at = created_at WHERE state = 'open';
CREATE INDEX conversations_queue ON conversations (queued_at)
    WHERE state = 'open' AND assigned_agent IS NULL;
CREATE INDEX conversations_by_agent ON conversations (assigned_agent) WHERE state = 'open';

-- Transcript entries gain two kinds, `joined` (an agent took the conversation) and `queue` (the
-- customer's new place, for the webhook only), and a `detail` with the event's extra fields as
-- JSON. SQLite cannot change a CHECK constraint, so the table is built again.
CREATE TABLE messages_new (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    kind TEXT NOT NULL CHECK (kind IN ('message', 'ended', 'joined', 'queue')),
    role TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'system')),
    sender TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivery_state TEXT CHECK (delivery_state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error TEXT,
    client_id TEXT,
    detail TEXT
);
INSERT INTO messages_new (seq, id, conversation_id, kind, role, sender, body, created_at, delivery_state, attempts, next_attempt_at, last_error, client_id)
    SELECT seq, id, conversation_id, kind, role, sender, body, created_at, delivery_state, attempts, next_attempt_at, last_error, client_id FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
CREATE INDEX messages_pending ON messages (delivery_state, conversation_id, seq);
CREATE UNIQUE INDEX messages_by_client_id ON messages (conversation_id, client_id)
    WHERE client_id IS NOT NULL;
