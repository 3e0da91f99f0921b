//! Every statement of the live chat's store, written once.

/// The columns [`super::rows::conversation_from_row`] reads: a conversation's summary is kept by the
/// writes that change it (`UPDATE_SUMMARY`, `MARK_READ`), not recomputed from the transcript.
macro_rules! conversation_columns {
    () => {
        "id, customer_name, state, created_at, ended_at, waiting_since, customer_id, channel, tenant_id, bot_conversation_id, problem_description, ended_by, last_message, last_message_at, unread, assigned_agent, agent_name, queued_at, transfer_note, rating, rating_comment, disposition, wrap_up_summary, wrap_up_due_ms, accepted_at"
    };
}

/// The columns [`super::rows::entry_from_row`] reads, with the entry's files as a JSON array (the
/// subquery's unqualified `seq` is the entry's: `attachments` has no column of that name).
macro_rules! message_columns {
    () => {
        "seq, id, conversation_id, kind, role, sender, body, created_at, delivery_state, last_error, masked,
         (SELECT json_group_array(json_object('id', f.id, 'name', f.name, 'contentType', f.content_type, 'size', f.size, 'sha256', f.sha256, 'width', f.width, 'height', f.height, 'animated', f.animated, 'removed', f.removed_at IS NOT NULL))
            FROM attachments f WHERE f.message_seq = seq) AS attachments"
    };
}

/// The columns [`super::rows::agent_from_row`] reads, with each agent's open conversations.
macro_rules! agent_query {
    () => {
        "SELECT a.username, a.display_name, a.presence, a.capacity, (SELECT COUNT(*) FROM conversations c WHERE c.assigned_agent = a.username AND (c.state = 'open' OR c.wrap_up_due_ms IS NOT NULL)) AS active FROM agents a"
    };
}

pub const PING: &str = "SELECT 1";

pub const LAST_EVENT: &str = "SELECT MAX(seq) AS last FROM events";

/// Binds: after, limit.
pub const EVENTS_AFTER: &str =
    "SELECT seq, kind, conversation_id, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?";

/// Binds: kind, conversation, payload, created at.
pub const INSERT_EVENT: &str =
    "INSERT INTO events (kind, conversation_id, payload, created_at) VALUES (?, ?, ?, ?)";

/// Binds: conversation.
pub const CONVERSATION: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE id = ?"
);

/// Binds: conversation.
pub const CONVERSATION_EXISTS: &str = "SELECT 1 FROM conversations WHERE id = ?";

/// Open conversations, longest waiting first.
pub const OPEN_CONVERSATIONS: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE state = 'open' ORDER BY COALESCE(waiting_since, '9999'), created_at"
);

/// The 100 most recently ended.
pub const ENDED_CONVERSATIONS: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE state = 'ended' ORDER BY ended_at DESC LIMIT 100"
);

/// Binds: idempotency key.
pub const CONVERSATION_OF_KEY: &str = "SELECT id FROM conversations WHERE idempotency_key = ?";

/// Binds: id, customer name, customer id, channel, tenant, bot conversation, problem, created at,
/// idempotency key, queued at.
pub const INSERT_CONVERSATION: &str = "INSERT INTO conversations (id, customer_name, customer_id, channel, tenant_id, bot_conversation_id, problem_description, state, created_at, idempotency_key, queued_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)";

/// The conversation's state and holder, and the entry a caller's message id stored before.
/// Binds: client id, conversation.
pub const ENTRY_TARGET: &str = "SELECT state, assigned_agent, agent_name, (SELECT m.seq FROM messages m WHERE m.conversation_id = c.id AND m.client_id = ?) AS known
     FROM conversations c WHERE c.id = ?";

/// Binds: conversation.
pub const HOLDER: &str = "SELECT state, assigned_agent, agent_name FROM conversations WHERE id = ?";

/// Binds: ended by, ended at, wrap-up due (Unix ms, when required; kept only if an agent had
/// it), conversation.
pub const END_CONVERSATION: &str = "UPDATE conversations SET state = 'ended', ended_by = ?, ended_at = ?, waiting_since = NULL, wrap_up_due_ms = CASE WHEN assigned_agent IS NULL THEN NULL ELSE ? END WHERE id = ? AND state = 'open'";

/// Binds: id, conversation, kind, role, sender, body, created at, delivery state, due at, client
/// id, detail, trace context, masking rules (comma-separated).
pub const INSERT_ENTRY: &str = "INSERT INTO messages (id, conversation_id, kind, role, sender, body, created_at, delivery_state, next_attempt_at, client_id, detail, trace_parent, masked)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// A new entry's effect on its conversation's summary: a customer's message starts the wait (if
/// none runs) and is unread; an agent writing has read the conversation and answered. Binds: role
/// (?1), created at (?2), seq (?3), kind (?4), body (?5), conversation (?6), customer name (?7).
pub const UPDATE_SUMMARY: &str = concat!(
    "UPDATE conversations SET
            waiting_since = CASE ?1 WHEN 'customer' THEN COALESCE(waiting_since, ?2) WHEN 'agent' THEN NULL ELSE waiting_since END,
            read_seq = CASE ?1 WHEN 'agent' THEN ?3 ELSE read_seq END,
            unread = CASE ?1 WHEN 'customer' THEN unread + 1 WHEN 'agent' THEN 0 ELSE unread END,
            last_message = CASE ?4 WHEN 'message' THEN ?5 ELSE last_message END,
            last_message_at = CASE ?4 WHEN 'message' THEN ?2 ELSE last_message_at END,
            customer_name = COALESCE(NULLIF(customer_name, ''), ?7)
         WHERE id = ?6 RETURNING ",
    conversation_columns!()
);

/// Binds: seq.
pub const ENTRY: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE seq = ?"
);

/// A transcript, queue updates left out. Binds: conversation.
pub const TRANSCRIPT: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ? AND kind <> 'queue' ORDER BY seq"
);

/// Every open conversation's transcript.
pub const OPEN_TRANSCRIPTS: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE state = 'open') AND kind <> 'queue' ORDER BY seq"
);

/// Moves the read mark to the newest entry. Binds: conversation.
pub const MARK_READ: &str = "UPDATE conversations SET unread = 0, read_seq = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?1) WHERE id = ?1 AND read_seq < (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?1)";

/// Binds: rating, comment, rated at, conversation.
pub const RATE: &str =
    "UPDATE conversations SET rating = ?, rating_comment = ?, rated_at = ? WHERE id = ?";

pub const RATING_AVERAGE: &str = "SELECT AVG(rating) AS average, COUNT(rating) AS rated FROM conversations WHERE rating IS NOT NULL";

pub const UNREAD_TOTAL: &str =
    "SELECT COALESCE(SUM(unread), 0) AS unread FROM conversations WHERE state = 'open'";

/// Binds: seq.
pub const DELIVERY_STATE: &str = "SELECT delivery_state FROM messages WHERE seq = ?";

/// Binds: state, due at, error, one more attempt (else reset), seq.
pub const SET_DELIVERY: &str = concat!(
    "UPDATE messages SET delivery_state = ?, next_attempt_at = ?, last_error = ?, attempts = CASE WHEN ? THEN attempts + 1 ELSE 0 END WHERE seq = ? RETURNING ",
    message_columns!()
);

/// Binds: message id.
pub const FAILED_REPLY: &str =
    "SELECT seq FROM messages WHERE id = ? AND delivery_state = 'failed'";

/// The oldest pending entry of each conversation that is due. Binds: now, limit.
pub const DUE_DELIVERIES: &str = concat!(
    "SELECT ",
    message_columns!(),
    ", attempts, detail, trace_parent FROM messages d
     WHERE d.delivery_state = 'pending' AND d.next_attempt_at <= ?
       AND d.seq = (SELECT MIN(h.seq) FROM messages h WHERE h.conversation_id = d.conversation_id AND h.delivery_state = 'pending')
     ORDER BY d.seq LIMIT ?"
);

pub const NEXT_DUE_AT: &str =
    "SELECT MIN(next_attempt_at) AS due FROM messages WHERE delivery_state = 'pending'";

/// Every agent, by display name.
pub const AGENTS: &str = concat!(agent_query!(), " ORDER BY a.display_name, a.username");

/// Binds: username.
pub const AGENT: &str = concat!(agent_query!(), " WHERE a.username = ?");

pub const AGENT_USERNAMES: &str = "SELECT username FROM agents";

/// A configured agent: new ones offline with their capacity, display names refreshed. Binds:
/// username, display name, capacity, updated at.
pub const UPSERT_AGENT: &str =
    "INSERT INTO agents (username, display_name, capacity, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name";

/// A removed agent's open conversations go back to the queue. Binds: username.
pub const ORPHANS_TO_QUEUE: &str = "UPDATE conversations SET assigned_agent = NULL, agent_name = NULL, queued_at = created_at, reported_position = NULL, reported_at = NULL
     WHERE assigned_agent = ? AND state = 'open' RETURNING id";

/// Binds: username.
pub const DELETE_AGENT: &str = "DELETE FROM agents WHERE username = ?";

/// Binds: presence, updated at, username, presence.
pub const SET_PRESENCE: &str =
    "UPDATE agents SET presence = ?, updated_at = ? WHERE username = ? AND presence <> ?";

/// Binds: capacity, updated at, username, capacity.
pub const SET_CAPACITY: &str =
    "UPDATE agents SET capacity = ?, updated_at = ? WHERE username = ? AND capacity <> ?";

/// Binds: username, display name, accepted at, transfer note, conversation.
pub const ASSIGN: &str =
    "UPDATE conversations SET assigned_agent = ?, agent_name = ?, queued_at = NULL,
            accepted_at = COALESCE(accepted_at, ?), transfer_note = ?
         WHERE id = ?";

/// Binds: display name.
pub const USERNAME_OF: &str = "SELECT username FROM agents WHERE display_name = ? LIMIT 1";

/// Back in the queue by its age. Binds: transfer note, conversation.
pub const BACK_TO_QUEUE: &str =
    "UPDATE conversations SET assigned_agent = NULL, agent_name = NULL, queued_at = created_at,
                    reported_position = NULL, reported_at = NULL, transfer_note = ?
                 WHERE id = ?";

/// The waiting conversations, oldest first (within a millisecond, in the order they started).
pub const QUEUE: &str = "SELECT id, reported_position, reported_at FROM conversations
         WHERE state = 'open' AND assigned_agent IS NULL ORDER BY queued_at, rowid";

/// The mean wait (start to acceptance) of the last acceptances since a time, in seconds. Binds:
/// since, how many.
pub const MEAN_WAIT: &str = "SELECT AVG((julianday(accepted_at) - julianday(created_at)) * 86400.0) AS mean FROM
            (SELECT accepted_at, created_at FROM conversations WHERE accepted_at IS NOT NULL AND accepted_at >= ?
             ORDER BY accepted_at DESC LIMIT ?)";

pub const QUEUE_LENGTH: &str =
    "SELECT COUNT(*) AS waiting FROM conversations WHERE state = 'open' AND assigned_agent IS NULL";

/// A waiting conversation's place. Binds: conversation.
pub const PLACE: &str = "SELECT (SELECT COUNT(*) FROM conversations o WHERE o.state = 'open' AND o.assigned_agent IS NULL
                    AND (o.queued_at < c.queued_at OR (o.queued_at = c.queued_at AND o.rowid <= c.rowid))) AS position
         FROM conversations c WHERE c.id = ? AND c.state = 'open' AND c.assigned_agent IS NULL";

pub const ONLINE_COUNT: &str = "SELECT COUNT(*) AS online FROM agents WHERE presence = 'online'";

/// The customer was told a place. Binds: position, told at (ms), conversation.
pub const MARK_REPORTED: &str =
    "UPDATE conversations SET reported_position = ?, reported_at = ? WHERE id = ?";

/// Binds: id, conversation, entry seq, name, content type, size, sha256, width, height, animated,
/// created at.
pub const INSERT_ATTACHMENT: &str = "INSERT INTO attachments (id, conversation_id, message_seq, name, content_type, size, sha256, width, height, animated, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// A file as its download needs it. Binds: id.
pub const ATTACHMENT: &str = "SELECT conversation_id, name, content_type, size, sha256, removed_at IS NOT NULL AS removed FROM attachments WHERE id = ?";

/// The bytes kept on disk: each distinct file once.
pub const KEPT_BYTES: &str = "SELECT COALESCE(SUM(size), 0) AS kept FROM (SELECT sha256, MAX(size) AS size FROM attachments WHERE removed_at IS NULL GROUP BY sha256)";

/// Binds: sha256.
pub const IS_KEPT: &str =
    "SELECT 1 FROM attachments WHERE sha256 = ? AND removed_at IS NULL LIMIT 1";

/// Every file still kept, by its bytes' hash.
pub const KEPT_HASHES: &str = "SELECT DISTINCT sha256 FROM attachments WHERE removed_at IS NULL";

/// The files of conversations that ended before a time are removed. Binds: removed at, ended
/// before.
pub const REMOVE_EXPIRED_FILES: &str = "UPDATE attachments SET removed_at = ?
     WHERE removed_at IS NULL AND conversation_id IN (SELECT id FROM conversations WHERE state = 'ended' AND ended_at < ?)
     RETURNING id";

/// A customer's conversations, for an export or an erasure. Binds: customer id.
pub const CONVERSATIONS_OF_CUSTOMER: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE customer_id = ? ORDER BY created_at"
);

/// Conversations ended before a time, a bounded batch at a time. Binds: ended before, limit.
pub const EXPIRED_CONVERSATIONS: &str =
    "SELECT id FROM conversations WHERE state = 'ended' AND ended_at < ? ORDER BY ended_at LIMIT ?";

/// A conversation's files, forgotten (the janitor deletes bytes nothing refers to). Binds:
/// conversation.
pub const DELETE_CONVERSATION_FILES: &str =
    "DELETE FROM attachments WHERE conversation_id = ? RETURNING sha256";

/// A conversation's transcript, but an end still pending for the skill. Binds: conversation.
pub const DELETE_CONVERSATION_ENTRIES: &str = "DELETE FROM messages WHERE conversation_id = ? AND NOT (kind = 'ended' AND delivery_state = 'pending')";

/// Binds: conversation.
pub const DELETE_CONVERSATION_EVENTS: &str = "DELETE FROM events WHERE conversation_id = ?";

/// An ended conversation whose end has reached the skill (or never had to). Binds: conversation.
pub const DELETE_CONVERSATION: &str = "DELETE FROM conversations WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id)";

/// What stays of an erased conversation whose end is still on its way to the skill: its id and
/// state, nothing of the customer. Binds: conversation.
pub const ANONYMISE_CONVERSATION: &str = "UPDATE conversations SET customer_name = '', customer_id = NULL, channel = NULL, tenant_id = NULL, bot_conversation_id = NULL, problem_description = NULL, last_message = NULL, rating_comment = NULL, transfer_note = NULL, idempotency_key = NULL WHERE id = ?";

/// Binds: customer id's SHA-256, conversations, messages, files, erased at.
pub const INSERT_ERASURE: &str = "INSERT INTO erasures (customer_sha256, conversations, messages, files, erased_at) VALUES (?, ?, ?, ?, ?)";

pub const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// Binds: id, conversation, author, author's name, body, whisper to, after seq, masked, created at.
pub const INSERT_NOTE: &str = "INSERT INTO notes (id, conversation_id, author, author_name, body, whisper_to, after_seq, masked, created_at)
     VALUES (?, ?, ?, ?, ?, ?, COALESCE((SELECT MAX(seq) FROM messages WHERE conversation_id = ?), 0), ?, ?) RETURNING after_seq";

/// A conversation's notes, oldest first. Binds: conversation.
pub const NOTES: &str = "SELECT id, conversation_id, author, author_name, body, whisper_to, after_seq, masked, created_at FROM notes WHERE conversation_id = ? ORDER BY after_seq, created_at, id";

/// Binds: conversation.
pub const DELETE_CONVERSATION_NOTES: &str = "DELETE FROM notes WHERE conversation_id = ?";

/// Records an ended conversation's wrap-up, once. Binds: disposition, summary, at, conversation.
pub const WRAP_UP: &str = "UPDATE conversations SET disposition = ?, wrap_up_summary = ?, wrapped_up_at = ?, wrap_up_due_ms = NULL WHERE id = ? AND state = 'ended' AND disposition IS NULL RETURNING assigned_agent";

/// Wrap-ups past their time, recorded as timed out. Binds: code, at, now (Unix ms).
pub const WRAP_UP_TIMEOUTS: &str = "UPDATE conversations SET disposition = ?, wrapped_up_at = ?, wrap_up_due_ms = NULL WHERE wrap_up_due_ms IS NOT NULL AND wrap_up_due_ms <= ? RETURNING id, assigned_agent";

/// A customer's other conversations, newest first, at most 20. Binds: customer id, conversation.
pub const CUSTOMER_HISTORY: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE customer_id = ? AND id <> ? ORDER BY created_at DESC LIMIT 20"
);

/// What the dashboard counts of each conversation started since a time: its times, the first agent
/// reply, its rating and wrap-up. Binds: since.
pub const DASHBOARD: &str = "SELECT c.created_at, c.queued_at, c.accepted_at, c.ended_at, c.rating, c.disposition, c.state,
        (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.role = 'agent' AND m.kind = 'message') AS first_reply_at
     FROM conversations c WHERE c.created_at >= ? ORDER BY c.created_at";
