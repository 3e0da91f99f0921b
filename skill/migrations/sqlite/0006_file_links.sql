-- Files agents send, shared with the customer by a link the skill serves (GET /files/{token}).
-- The link's token is a capability: only its SHA-256 is kept here (the token itself is in the
-- delivery that carries the link into Teams). What the live chat calls the file (`reference`, its
-- path on the live chat) is how the skill fetches it again for each download; the skill keeps no
-- bytes. A link works until `expires_at_ms` (files.link_expiry_days) and is deleted with its
-- session by the retention (application.retention_days).
CREATE TABLE file_links (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX file_links_by_session ON file_links (session_id);
