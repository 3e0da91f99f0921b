-- The worker reads a lane's pending deliveries in id order; the others are never looked up by
-- state. A partial index over the pending ones, in id order, is appended to at the end and emptied
-- from the front as deliveries finish, instead of moving every delivered row to another part of an
-- index ordered by conversation (two random pages per message).
DROP INDEX deliveries_pending;
CREATE INDEX deliveries_pending ON deliveries (lane, id) WHERE state = 'pending';
