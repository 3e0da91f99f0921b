-- Files agents send, shared with the customer by a link; see migrations/sqlite for the comments.
CREATE TABLE file_links (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX file_links_by_session ON file_links (session_id);
