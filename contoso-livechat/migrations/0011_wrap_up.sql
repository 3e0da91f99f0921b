-- Wrap-up: the disposition and summary an agent records once a conversation ends, and, while the
-- wrap-up is required and not yet done, when it times out (the agent's slot stays taken until then).
ALTER TABLE conversations ADD COLUMN disposition TEXT;
ALTER TABLE conversations ADD COLUMN wrap_up_summary TEXT;
ALTER TABLE conversations ADD COLUMN wrapped_up_at TEXT;
ALTER TABLE conversations ADD COLUMN wrap_up_due_ms INTEGER;
CREATE INDEX conversations_wrap_up_due ON conversations (wrap_up_due_ms) WHERE wrap_up_due_ms IS NOT NULL;
