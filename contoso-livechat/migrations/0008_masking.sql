-- The masking rules that changed an entry's text before it was stored (comma-separated names),
-- so the agent sees that something was removed; the original is never kept.
ALTER TABLE messages ADD COLUMN masked TEXT;
