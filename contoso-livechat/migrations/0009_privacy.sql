-- Retention and erasure: finding a customer's conversations and the long-ended ones, deleting a
-- conversation's events, and an audit of each erasure by counts (the customer's id only as a hash).
CREATE INDEX conversations_by_customer ON conversations (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX conversations_ended ON conversations (ended_at) WHERE state = 'ended';
CREATE INDEX events_by_conversation ON events (conversation_id);
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_sha256 TEXT NOT NULL,
    conversations INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    files INTEGER NOT NULL,
    erased_at TEXT NOT NULL
);
