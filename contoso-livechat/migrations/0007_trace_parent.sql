-- The W3C trace context (`traceparent`) of the request that put an entry in the webhook's outbox,
-- when traces are exported: its delivery to the skill continues that request's trace.
ALTER TABLE messages ADD COLUMN trace_parent TEXT;
