//! Every statement of the store, written once for both databases (placeholders `$1`, `$2`, ...
//! work in SQLite and PostgreSQL alike). The few that differ are in [`super::dialect`], built from
//! the fragments here.

/// The columns [`super::records::SessionRow`] reads.
macro_rules! session_columns {
    () => {
        "id, copilot_conversation_id, livechat_conversation_id, state, closed_by, reference, origin_conversation_id, problem_forwarded"
    };
}
pub(crate) use session_columns;

macro_rules! session_is_open {
    () => {
        "SELECT 1 FROM sessions WHERE id = $1 AND state = 'open'"
    };
}
pub(crate) use session_is_open;

macro_rules! latest_session {
    () => {
        concat!(
            "SELECT ",
            $crate::store::sql::session_columns!(),
            " FROM sessions WHERE copilot_conversation_id = $1 ORDER BY created_at DESC,"
        )
    };
}
pub(crate) use latest_session;

/// The oldest pending delivery of each queue of a lane, when it is due: a later message never
/// overtakes an earlier one waiting for its retry.
macro_rules! due_heads {
    () => {
        "FROM deliveries d
         WHERE d.lane = $1 AND d.state = 'pending' AND d.next_attempt_at <= $2
           AND d.id = (SELECT MIN(h.id) FROM deliveries h
                       WHERE h.lane = d.lane AND h.queue_key = d.queue_key AND h.state = 'pending')"
    };
}
pub(crate) use due_heads;

pub const SESSION_IS_OPEN: &str = session_is_open!();

pub const PING: &str = "SELECT 1";

/// Binds: closed at, created before.
pub const CLOSE_ABANDONED_OPENINGS: &str = "UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE state = 'opening' AND created_at < $2";

/// Binds: closed at, conversation, created before.
pub const CLOSE_ABANDONED_OPENING_OF: &str = "UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE copilot_conversation_id = $2 AND state = 'opening' AND created_at < $3";

/// Binds: conversation, origin.
pub const LIVE_SESSION_OF_CONVERSATION_OR_ORIGIN: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE (copilot_conversation_id = $1 OR origin_conversation_id = $2) AND state IN ('opening', 'open') ORDER BY created_at LIMIT 1"
);

/// Binds: id, conversation, origin, reference, created at. The unique index over live sessions
/// decides between concurrent starts, across instances too.
pub const INSERT_OPENING_SESSION: &str = "INSERT INTO sessions (id, copilot_conversation_id, origin_conversation_id, state, reference, created_at) VALUES ($1, $2, $3, 'opening', $4, $5)
     ON CONFLICT (copilot_conversation_id) WHERE state IN ('opening', 'open') DO NOTHING";

/// Binds: live-chat id, opened at, session.
pub const OPEN_SESSION: &str = "UPDATE sessions SET state = 'open', livechat_conversation_id = $1, opened_at = $2 WHERE id = $3 AND state = 'opening'";

/// Binds: closed at, session.
pub const FAIL_OPENING: &str = "UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE id = $2 AND state = 'opening'";

/// Binds: closed by, closed at, session.
pub const CLOSE_OPEN_SESSION: &str = "UPDATE sessions SET state = 'closed', closed_by = $1, closed_at = $2 WHERE id = $3 AND state = 'open'";

/// Binds: session.
pub const MARK_PROBLEM_FORWARDED: &str = "UPDATE sessions SET problem_forwarded = 1 WHERE id = $1";

/// Binds: conversation.
pub const LIVE_SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE copilot_conversation_id = $1 AND state IN ('opening', 'open')"
);

/// Binds: origin.
pub const LIVE_SESSION_BY_ORIGIN: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE origin_conversation_id = $1 AND state IN ('opening', 'open') ORDER BY created_at DESC LIMIT 1"
);

/// Binds: live-chat id.
pub const SESSION_BY_LIVECHAT_ID: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE livechat_conversation_id = $1"
);

/// Binds: lane, queue, dedupe key, payload, due at, created at.
pub const INSERT_DELIVERY: &str =
    "INSERT INTO deliveries (lane, queue_key, dedupe_key, payload, next_attempt_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (lane, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING";

/// Binds: lane, dedupe key.
pub const DELIVERY_SEEN: &str = "SELECT 1 FROM deliveries WHERE lane = $1 AND dedupe_key = $2";

/// Binds: lane.
pub const NEXT_DUE_AT: &str =
    "SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE lane = $1 AND state = 'pending'";

/// Binds: finished at, delivery.
pub const MARK_DELIVERED: &str = "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, finished_at = $1, last_error = NULL WHERE id = $2";

/// Binds: due at, error, delivery.
pub const SCHEDULE_RETRY: &str = "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3";

/// Binds: finished at, error, delivery.
pub const MARK_FAILED: &str = "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, finished_at = $1, last_error = $2 WHERE id = $3";

/// Binds: finished before.
pub const PURGE_DELIVERIES: &str =
    "DELETE FROM deliveries WHERE state IN ('delivered', 'failed') AND finished_at < $1";

/// Binds: closed before.
pub const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE state = 'closed' AND closed_at < $1";

pub const COUNT_OPEN_SESSIONS: &str = "SELECT COUNT(*) AS open FROM sessions WHERE state = 'open'";

/// Binds: lane.
pub const COUNT_DELIVERIES_BY_STATE: &str =
    "SELECT state, COUNT(*) AS n FROM deliveries WHERE lane = $1 GROUP BY state";
