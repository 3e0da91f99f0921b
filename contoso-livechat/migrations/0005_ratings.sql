-- The customer's rating of a conversation (1 to 5, with an optional comment), sent by the skill's
-- rateConversation action after the chat; rating again replaces it. The inbox shows the average.
ALTER TABLE conversations ADD COLUMN rating INTEGER CHECK (rating BETWEEN 1 AND 5);
ALTER TABLE conversations ADD COLUMN rating_comment TEXT;
ALTER TABLE conversations ADD COLUMN rated_at TEXT;
-- The inbox's average reads only the rated conversations.
CREATE INDEX conversations_rated ON conversations (rating) WHERE rating IS NOT NULL;
