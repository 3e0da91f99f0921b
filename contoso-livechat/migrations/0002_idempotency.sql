-- The caller's idempotency key of a start: a repeated start answers the conversation it opened.
ALTER TABLE conversations ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX conversations_by_idempotency_key ON conversations (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The caller's id of a received message: a repeated receive answers the message stored first.
ALTER TABLE messages ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX messages_by_client_id ON messages (conversation_id, client_id)
    WHERE client_id IS NOT NULL;
