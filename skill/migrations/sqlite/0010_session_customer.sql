-- The customer a session served (the Entra object id, else the channel's user id), so that one
-- Teams user's sessions and pending deliveries can be erased. Sessions from before have none.
ALTER TABLE sessions ADD COLUMN customer_id TEXT;
CREATE INDEX sessions_by_customer ON sessions (customer_id) WHERE customer_id IS NOT NULL;
