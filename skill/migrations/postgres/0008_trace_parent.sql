-- The W3C trace context (`traceparent`) of the request that stored a delivery, when traces are
-- exported: its send, later and perhaps by another instance, continues that request's trace.
ALTER TABLE deliveries ADD COLUMN trace_parent TEXT;
