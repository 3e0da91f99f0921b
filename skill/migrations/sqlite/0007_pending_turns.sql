-- Requests that call the live chat (startConversation, leaveMessage, rateConversation) are answered
-- 202 at once and handled after; each is kept here from before its 202 until its replies are sent,
-- so that a process that stops in between (a crash, a deploy) handles it at its next start instead
-- of leaving Copilot Studio waiting for an answer that never comes. `activity` and `caller` are
-- what the skill endpoint needs to handle it again, as it wrote them.
CREATE TABLE pending_turns (
    id TEXT PRIMARY KEY NOT NULL,
    activity TEXT NOT NULL,
    caller TEXT NOT NULL,
    created_at TEXT NOT NULL
);
