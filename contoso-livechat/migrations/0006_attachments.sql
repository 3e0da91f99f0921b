-- Files in transcripts: a customer's picture or document (uploaded by the skill), or an agent's.
-- The bytes live on disk under the data directory, named by their SHA-256 (files/objects/ab/ab…),
-- so that two uploads of the same bytes are kept once; a row here is one file of one entry. When
-- retention removes the bytes of an ended conversation, the row stays with `removed_at`, so the
-- transcript still names what was sent.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    message_seq INTEGER NOT NULL REFERENCES messages (seq),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size > 0),
    sha256 TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    animated INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    removed_at TEXT
);
CREATE INDEX attachments_by_entry ON attachments (message_seq);
CREATE INDEX attachments_kept ON attachments (sha256) WHERE removed_at IS NULL;
CREATE INDEX attachments_by_conversation ON attachments (conversation_id) WHERE removed_at IS NULL;
