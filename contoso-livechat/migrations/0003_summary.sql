-- The inbox's summary of each conversation, kept by the writes that change it instead of being
-- recomputed from the transcript on every message.
ALTER TABLE conversations ADD COLUMN last_message TEXT;
ALTER TABLE conversations ADD COLUMN last_message_at TEXT;
-- Customer messages after read_seq.
ALTER TABLE conversations ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;

UPDATE conversations SET
    last_message = (SELECT m.body FROM messages m WHERE m.conversation_id = conversations.id AND m.kind = 'message' ORDER BY m.seq DESC LIMIT 1),
    last_message_at = (SELECT m.created_at FROM messages m WHERE m.conversation_id = conversations.id AND m.kind = 'message' ORDER BY m.seq DESC LIMIT 1),
    unread = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = conversations.id AND m.role = 'customer' AND m.seq > conversations.read_seq);
