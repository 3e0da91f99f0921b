-- Only pending deliveries are claimed: the index holds those alone, so a delivered row leaves it
-- instead of moving to another part of it. Claims find a queue's head by (lane, queue_key, id).
DROP INDEX deliveries_pending;
CREATE INDEX deliveries_pending ON deliveries (lane, queue_key, id) WHERE state = 'pending';
