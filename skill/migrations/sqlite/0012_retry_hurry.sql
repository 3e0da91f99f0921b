-- Whether a delivery waiting for a retry waits by the skill's own backoff (1) rather than a time
-- its receiver asked for (0, `Retry-After`): the first success after an outage brings the first
-- kind forward, so a backlog drains when the link is back, not at the end of each backoff.
-- (SQLite's worker holds its retries in memory and brings them forward there.)
ALTER TABLE deliveries ADD COLUMN may_hurry INTEGER NOT NULL DEFAULT 0;
