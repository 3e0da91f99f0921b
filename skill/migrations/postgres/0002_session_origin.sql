-- The conversation a skill call relates to (`relatesTo.conversation.id`), when the caller gives one
-- that differs from the activity's own: hosts built on Microsoft's SDKs give every skill invocation
-- a new conversation id and name the original conversation here, which ties the actions together.
ALTER TABLE sessions ADD COLUMN origin_conversation_id TEXT;
CREATE INDEX sessions_by_origin ON sessions (origin_conversation_id, state);
