-- Private notes: any agent's notes on a conversation, and a supervisor's whispers to the agent who
-- has it. Kept with the transcript, never sent to the skill; each is placed after the entry that was
-- the last when it was written.
CREATE TABLE notes (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    author TEXT NOT NULL,
    author_name TEXT NOT NULL,
    body TEXT NOT NULL,
    whisper_to TEXT,
    after_seq INTEGER NOT NULL,
    masked TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX notes_by_conversation ON notes (conversation_id, created_at);
