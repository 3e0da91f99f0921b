-- The hub's own id of a session's conversation, where its webhooks name the conversation otherwise
-- (Genesys: its conversation id, while the webhooks name the customer's address), so that a
-- restarted skill follows the open conversations again.
ALTER TABLE sessions ADD COLUMN hub_conversation_id TEXT;
