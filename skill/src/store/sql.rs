//! Every statement of the store, written once for both databases (placeholders `$1`, `$2`, ...
//! work in SQLite and PostgreSQL alike). The few that differ are in [`super::dialect`], built from
//! the fragments here.

/// The columns [`super::records::SessionRow`] reads.
macro_rules! session_columns {
    () => {
        "id, copilot_conversation_id, livechat_conversation_id, state, closed_by, reference, origin_conversation_id, problem_forwarded, agent_name, timer_kind"
    };
}
pub(crate) use session_columns;

macro_rules! latest_session {
    () => {
        concat!(
            "SELECT ",
            $crate::store::sql::session_columns!(),
            " FROM sessions WHERE (copilot_conversation_id = $1 OR origin_conversation_id = $1) ORDER BY created_at DESC,"
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

/// The first pending delivery of each queue of lane `$1` (its queue, id and due time), found by
/// skipping from queue to queue along the pending index: one probe a queue, however many wait
/// behind their heads (an outage's backlog, a conversation held by Teams' windows), where
/// looking at every pending row cost a subquery each. The body of a recursive `heads` query.
macro_rules! queue_heads_of_lane {
    () => {
        "(SELECT queue_key, id, next_attempt_at FROM deliveries
           WHERE lane = $1 AND state = 'pending' ORDER BY queue_key, id LIMIT 1)
         UNION ALL
         SELECT next.queue_key, next.id, next.next_attempt_at FROM heads,
           LATERAL (SELECT queue_key, id, next_attempt_at FROM deliveries
                    WHERE lane = $1 AND state = 'pending' AND queue_key > heads.queue_key
                    ORDER BY queue_key, id LIMIT 1) next"
    };
}
pub(crate) use queue_heads_of_lane;

/// Whether a Teams conversation (`$key`, its queue) falls to this instance, `$place` (from 0) of
/// `$live` live instances: each conversation's messages are sent by one instance, which then
/// counts every send into its windows (PostgreSQL's `hashtext`, the same for every instance of one
/// database).
macro_rules! teams_conversation_is_ours {
    ($key:literal, $live:literal, $place:literal) => {
        concat!(
            "(",
            $live,
            " = 1 OR (hashtext(",
            $key,
            ") & 2147483647) % ",
            $live,
            " = ",
            $place,
            ")"
        )
    };
}
pub(crate) use teams_conversation_is_ours;

/// The first pending delivery of queue `$key` of lane `$lane`, or NULL: one probe of the pending
/// index, whatever the statistics (PostgreSQL; as `NOT EXISTS` it may instead join or hash every
/// pending row of the table).
macro_rules! queue_head {
    ($lane:literal, $key:literal) => {
        concat!(
            "(SELECT h.id FROM deliveries h WHERE h.lane = ",
            $lane,
            " AND h.queue_key = ",
            $key,
            " AND h.state = 'pending' ORDER BY h.id LIMIT 1)"
        )
    };
}
pub(crate) use queue_head;

/// Whether this worker may claim a row of queue `$key` (PostgreSQL): not one of its busy queues
/// (`$3`, a JSON array), and for Teams a conversation that falls to this instance.
macro_rules! claimable_here {
    ($key:literal) => {
        concat!(
            "(",
            $key,
            " NOT IN (SELECT jsonb_array_elements_text($3::jsonb)) AND ($1 <> 'teams' OR ",
            $crate::store::sql::teams_conversation_is_ours!($key, "$7", "$8"),
            "))"
        )
    };
}
pub(crate) use claimable_here;

/// Leases to this instance, of the rows whose ids `$candidates` selects, those still pending and
/// due, at most `$4`, in id order, skipping rows another claim has locked (so two instances
/// claiming at once take different rows); every claim statement ends so (PostgreSQL). Binds: now,
/// limit, lease, instance ($2, $4, $5, $6).
macro_rules! lease_rows_among {
    ($candidates:expr) => {
        concat!(
            // Joined to the rows claimed, not `WHERE id IN (...)`: a plan made once while the
            // table was nearly empty (the readers' statements are planned once for all runs)
            // answered that by reading the whole table at every claim ever after; joined, each
            // row claimed is looked up by its key.
            "UPDATE deliveries u SET next_attempt_at = $2 + $5, claimed_by = $6",
            " FROM (SELECT d.id FROM deliveries d WHERE d.id = ANY (ARRAY (",
            $candidates,
            "))",
            // Checked again on the row as locked (another may have delivered it since); not as
            // `= 'pending'`, which PostgreSQL would answer by reading the whole pending index.
            " AND d.state NOT IN ('delivered', 'failed') AND d.next_attempt_at <= $2",
            " ORDER BY d.id LIMIT $4 FOR UPDATE SKIP LOCKED) AS claimed WHERE u.id = claimed.id",
            " RETURNING u.id, u.lane, u.queue_key, u.payload, u.attempts, u.next_attempt_at, u.created_at, u.trace_parent"
        )
    };
}
pub(crate) use lease_rows_among;

/// Claims, of the deliveries named in `$9` (a JSON array of ids) and the heads of the queues named
/// in `$10` (a JSON array), those that head their queues and are this worker's to claim, as the
/// whole lane's claim does, looking at those alone (PostgreSQL). Binds as that claim's
/// ([`super::Dialect::due_deliveries`]): lane, now, busy queues, limit, lease, instance, live
/// instances, place; then the ids and the queues.
pub const CLAIM_NAMED: &str = lease_rows_among!(concat!(
    "SELECT c.id FROM deliveries c",
    " WHERE c.id = ANY (ARRAY (SELECT jsonb_array_elements_text($9::jsonb)::bigint",
    " UNION ALL SELECT ",
    queue_head!("$1", "q"),
    " FROM jsonb_array_elements_text($10::jsonb) AS q))",
    " AND c.lane = $1 AND ",
    claimable_here!("c.queue_key"),
    " AND c.id = ",
    queue_head!("c.lane", "c.queue_key")
));

/// An instance is alive at a time (PostgreSQL). Binds: instance, now (ms).
pub const HEARTBEAT: &str = "INSERT INTO instances (id, heartbeat_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";

/// Every instance in the order of its id, and whether it was not heard from since a time. Binds:
/// heard since (ms).
pub const INSTANCES: &str = "SELECT id, heartbeat_at <= $1 AS silent FROM instances ORDER BY id";

/// One claim let go by its holder (PostgreSQL): due now, held by nobody; only while the claim is
/// still the one it holds. Binds: now, delivery, the claim's lease end.
pub const RELEASE_CLAIM: &str = "UPDATE deliveries SET next_attempt_at = $1, claimed_by = NULL WHERE id = $2 AND state = 'pending' AND next_attempt_at = $3";

/// Releases the claims of a silent instance, making them due now: the new `next_attempt_at` also
/// fences its late outcomes. Binds: now (ms), instance.
pub const RELEASE_CLAIMS_OF: &str = "UPDATE deliveries SET next_attempt_at = $1, claimed_by = NULL WHERE state = 'pending' AND claimed_by = $2 RETURNING lane";

/// Forgets a silent instance once its claims are released (a heartbeat brings it back). Binds:
/// instance, heard since (ms).
pub const FORGET_INSTANCE: &str = "DELETE FROM instances WHERE id = $1 AND heartbeat_at <= $2";

/// The channel on which PostgreSQL instances tell each other that a lane has work.
pub const DELIVERIES_CHANNEL: &str = "handover_deliveries";

/// The channel on which PostgreSQL instances name the sessions they changed, so that the others
/// forget them ([`super::cache`]).
pub const SESSIONS_CHANNEL: &str = "handover_sessions";

/// Names changed sessions (comma-separated ids) to every instance at the commit (PostgreSQL).
/// Binds: the ids.
pub const NOTIFY_SESSIONS: &str = "SELECT pg_notify('handover_sessions', $1)";

/// Most bytes of one notification's ids: PostgreSQL takes up to 8,000.
pub const NOTIFY_BYTES: usize = 7_000;

/// Wakes every instance's worker of a lane at the commit (PostgreSQL). Binds: lane.
pub const NOTIFY_DELIVERIES: &str = "SELECT pg_notify('handover_deliveries', $1)";

/// PostgreSQL's clock, in Unix milliseconds: instances sharing a database keep their times (claims,
/// leases, retries, timers) by it, whatever their own clocks say.
pub const DATABASE_NOW_MS: &str = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

pub const PING: &str = "SELECT 1";

/// Binds: id, activity, caller, created at.
pub const INSERT_TURN: &str =
    "INSERT INTO pending_turns (id, activity, caller, created_at) VALUES ($1, $2, $3, $4)";

/// Binds: id.
pub const DELETE_TURN: &str = "DELETE FROM pending_turns WHERE id = $1";

/// Binds: created before (RFC 3339); oldest first.
pub const UNFINISHED_TURNS: &str = "SELECT id, activity, caller, created_at FROM pending_turns WHERE created_at < $1 ORDER BY created_at";

/// Binds: closed at, conversation, created before; returns the closed sessions' ids.
pub const CLOSE_ABANDONED_OPENING_OF_RETURNING: &str = "UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE copilot_conversation_id = $2 AND state = 'opening' AND created_at < $3 RETURNING id, copilot_conversation_id";

/// Binds: session.
pub const SESSION_BY_ID: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE id = $1"
);

/// Binds: conversation, origin. Two selects, each by its own index, rather than one `OR`, which
/// PostgreSQL answered by walking the sessions in `created_at` order (4 ms at 10,000 sessions).
pub const LIVE_SESSION_OF_CONVERSATION_OR_ORIGIN: &str = concat!(
    "SELECT * FROM (SELECT ",
    session_columns!(),
    ", created_at AS begun FROM sessions WHERE copilot_conversation_id = $1 AND state IN ('opening', 'open')",
    " UNION ALL SELECT ",
    session_columns!(),
    ", created_at AS begun FROM sessions WHERE origin_conversation_id = $2 AND state IN ('opening', 'open')",
    ") related ORDER BY begun LIMIT 1"
);

/// Binds: id, conversation, origin, reference, created at. The unique index over live sessions
/// decides between concurrent starts, across instances too.
pub const INSERT_OPENING_SESSION: &str = "INSERT INTO sessions (id, copilot_conversation_id, origin_conversation_id, state, reference, created_at, customer_id) VALUES ($1, $2, $3, 'opening', $4, $5, $6)
     ON CONFLICT (copilot_conversation_id) WHERE state IN ('opening', 'open') DO NOTHING";

/// Binds: live-chat id, opened at, session, agent, timer kind, timer due at (NULL: no timer).
pub const OPEN_SESSION: &str = "UPDATE sessions SET state = 'open', livechat_conversation_id = $1, opened_at = $2, agent_name = $4, timer_kind = $5, timer_at_ms = $6, hub_conversation_id = $7 WHERE id = $3 AND state = 'opening'";
/// The open sessions whose hub has its own id of their conversation.
pub const OPEN_HUB_CONVERSATIONS: &str = "SELECT livechat_conversation_id, hub_conversation_id FROM sessions WHERE state = 'open' AND hub_conversation_id IS NOT NULL";

/// The customer wrote: the inactivity timer (not the queue's) starts again, unless it was started
/// again less than a resolution ago (then nothing is written: a customer writing fast costs a
/// look, not a write, per message). Binds: timer kind, due at, session, resolution (ms).
pub const RESTART_INACTIVITY: &str = "UPDATE sessions SET timer_kind = $1, timer_at_ms = $2 WHERE id = $3 AND state = 'open' AND timer_kind IN ('warn', 'idle') AND (timer_kind <> $1 OR timer_at_ms <= $2 - $4)";

/// An agent joined: named, and a queue timer (or none) gives way to the inactivity timer (NULL:
/// none). Binds: agent, timer kind, due at, session.
pub const AGENT_JOINED: &str = "UPDATE sessions SET agent_name = $1,
     timer_kind = CASE WHEN timer_kind = 'queue' OR timer_kind IS NULL THEN $2 ELSE timer_kind END,
     timer_at_ms = CASE WHEN timer_kind = 'queue' OR timer_kind IS NULL THEN $3 ELSE timer_at_ms END
     WHERE id = $4 AND state = 'open'";

/// Binds: agent, session.
pub const NAME_AGENT: &str = "UPDATE sessions SET agent_name = $1 WHERE id = $2";

/// Moves a timer that fell due on (NULL: stops it), if it is still the one read. Binds: next
/// kind, next due at, session, fired kind, fired due at.
pub const MOVE_TIMER: &str = "UPDATE sessions SET timer_kind = $1, timer_at_ms = $2 WHERE id = $3 AND state = 'open' AND timer_kind = $4 AND timer_at_ms = $5";

/// Closes the session on a timer that fell due, if it is still the one read; the timer stays to
/// say which it was. Binds: closed at, session, fired kind, fired due at.
pub const CLOSE_ON_TIMER: &str = "UPDATE sessions SET state = 'closed', closed_by = 'timeout', closed_at = $1 WHERE id = $2 AND state = 'open' AND timer_kind = $3 AND timer_at_ms = $4";

/// Open sessions whose timer is due. Binds: now, limit.
pub const DUE_TIMERS: &str = concat!(
    "SELECT ",
    session_columns!(),
    ", timer_at_ms FROM sessions WHERE state = 'open' AND timer_at_ms IS NOT NULL AND timer_at_ms <= $1 ORDER BY timer_at_ms LIMIT $2"
);

/// Binds: closed at, session; returns the session if it was still opening.
pub const FAIL_OPENING_RETURNING: &str = "UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE id = $2 AND state = 'opening' RETURNING id, copilot_conversation_id";

/// Binds: closed by, closed at, session.
pub const CLOSE_OPEN_SESSION: &str = "UPDATE sessions SET state = 'closed', closed_by = $1, closed_at = $2 WHERE id = $3 AND state = 'open'";

/// Binds: session.
pub const MARK_PROBLEM_FORWARDED: &str = "UPDATE sessions SET problem_forwarded = 1 WHERE id = $1";

/// Binds: conversation.
/// Binds: none. One row when some session is still opening.
pub const ANY_OPENING: &str = "SELECT 1 FROM sessions WHERE state = 'opening' LIMIT 1";

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

/// Binds: lane, dedupe key.
pub const DELIVERY_SEEN: &str = "SELECT 1 FROM deliveries WHERE lane = $1 AND dedupe_key = $2";

/// Binds: finished at, delivery.
pub const MARK_DELIVERED: &str = "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, finished_at = $1, last_error = NULL WHERE id = $2";

/// Binds: due at, error, whether the retry may be brought forward (1: by the skill's own backoff),
/// delivery.
pub const SCHEDULE_RETRY: &str = "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, may_hurry = $3, claimed_by = NULL WHERE id = $4";

/// Binds: due at, error, whether it may be brought forward, delivery, the claim's lease end.
/// Fenced: only while the claim is still the one that made the attempt (an instance that took the
/// delivery over after the lease moved `next_attempt_at`), so a late outcome never overwrites a
/// later state.
pub const SCHEDULE_RETRY_CLAIMED: &str = "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, may_hurry = $3, claimed_by = NULL WHERE id = $4 AND state = 'pending' AND next_attempt_at = $5";

/// The link is back (PostgreSQL): every retry of the lane waiting by the skill's own backoff, and
/// held by no instance, is due now. Binds: now (ms), lane.
pub const HURRY_RETRIES: &str = "UPDATE deliveries SET next_attempt_at = $1, may_hurry = 0 WHERE lane = $2 AND state = 'pending' AND may_hurry = 1 AND claimed_by IS NULL AND next_attempt_at > $1";

/// Binds: finished at, error, delivery, the claim's lease end; fenced as [`SCHEDULE_RETRY_CLAIMED`].
pub const MARK_FAILED_CLAIMED: &str = "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, finished_at = $1, last_error = $2 WHERE id = $3 AND state = 'pending' AND next_attempt_at = $4";

/// Binds: finished at, error, delivery.
pub const MARK_FAILED: &str = "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, finished_at = $1, last_error = $2 WHERE id = $3";

/// Binds: finished before.
pub const PURGE_DELIVERIES: &str =
    "DELETE FROM deliveries WHERE state IN ('delivered', 'failed') AND finished_at < $1";

/// Binds: closed before.
pub const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE state = 'closed' AND closed_at < $1";

/// The links of sessions no longer kept, and links that expired before the retention's cutoff.
/// Binds: cutoff (Unix milliseconds).
pub const PURGE_FILE_LINKS: &str = "DELETE FROM file_links WHERE expires_at_ms < $1 OR session_id NOT IN (SELECT id FROM sessions)";

/// Binds: token hash, session, reference, name, content type, size, created at, expires at.
pub const INSERT_FILE_LINK: &str = "INSERT INTO file_links (token_sha256, session_id, reference, name, content_type, size, created_at, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (token_sha256) DO NOTHING";

/// Binds: token hash.
pub const FILE_LINK: &str = "SELECT reference, name, content_type, size, expires_at_ms FROM file_links WHERE token_sha256 = $1";

pub const COUNT_OPEN_SESSIONS: &str = "SELECT COUNT(*) AS open FROM sessions WHERE state = 'open'";

/// Binds: lane.
pub const COUNT_DELIVERIES_BY_STATE: &str =
    "SELECT state, COUNT(*) AS n FROM deliveries WHERE lane = $1 GROUP BY state";

/// How many ids a padded `IN (...)` list holds (the rest of a short list is filled with an id no
/// row has), so each of those statements has one shape.
pub const IN_LIST: usize = 64;

/// `$first, ..., $first+count-1`.
fn placeholder_list(first: usize, count: usize) -> String {
    (0..count)
        .map(|n| format!("${}", first + n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts deliveries; a row whose dedupe key was taken is left out, an inserted one comes back
/// with its id and claim (`claimed_by`, and `next_attempt_at`, the lease's end).
macro_rules! insert_deliveries {
    ($columns:literal, $rows:expr) => {
        concat!(
            "INSERT INTO deliveries (lane, queue_key, dedupe_key, payload, next_attempt_at, created_at, trace_parent",
            $columns,
            ") ",
            $rows,
            " ON CONFLICT (lane, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id, dedupe_key, claimed_by, next_attempt_at"
        )
    };
}
pub(crate) use insert_deliveries;

/// Inserts one delivery (binds: lane, queue, dedupe key, payload, due at, created at, trace
/// context); a row whose dedupe key was taken is left out, an inserted one comes back with its id.
pub const INSERT_DELIVERY: &str = insert_deliveries!("", "VALUES ($1, $2, $3, $4, $5, $6, $7)");

/// Marks deliveries delivered, returning the lane and queue of each: the next of the queue, if
/// any, is due now, for this instance's worker to claim once this commits (PostgreSQL; looked for
/// here, it could miss a row another instance committed since this statement began). `now` (an
/// RFC 3339 time) and `listed` (ids, comma-separated) are written in, and the statement is sent as
/// a simple query, so PostgreSQL plans it afresh for the table as it is: planned once while the
/// table was nearly empty, a list of ids is answered by reading the whole table ever after
/// (measured: 5-15 ms a batch at 10,000 sessions instead of a tenth of one).
pub fn mark_delivered_listed(now: &str, listed: &str) -> String {
    format!(
        "UPDATE deliveries d SET state = 'delivered', attempts = d.attempts + 1, finished_at = '{now}', last_error = NULL WHERE d.id IN ({listed})
         RETURNING d.lane, d.queue_key"
    )
}

/// Plans the rest of the transaction's statements afresh at each run (PostgreSQL), for a
/// statement whose best plan depends on the table's size.
pub const PLAN_EACH_RUN: &str = "SET LOCAL plan_cache_mode = force_custom_plan";

/// The states of up to [`IN_LIST`] sessions (the caller keeps the open ones), held against another
/// instance's close until the batch commits (PostgreSQL: SQLite's writer knows from its index).
/// Binds: the session ids. By id alone on purpose: with `state = 'open'` in the query PostgreSQL may also scan the
/// whole index of live sessions (`sessions_one_live_per_conversation`) and intersect, which cost
/// 12 ms a batch at 10,000 sessions where the primary key takes a few hundredths.
pub fn open_sessions_in() -> String {
    format!(
        "SELECT id, state FROM sessions WHERE id IN ({}) FOR SHARE",
        placeholder_list(1, IN_LIST)
    )
}

/// [`open_sessions_in`] with the ids written in (PostgreSQL, held: `FOR SHARE`), sent as a simple
/// query (the first with the `BEGIN`, in one round trip) and so planned for the table as it is.
/// `listed`: quoted ids, comma-separated, none needing escapes.
pub fn open_sessions_listed(listed: &str) -> String {
    format!("SELECT id, state FROM sessions WHERE id IN ({listed}) FOR SHARE")
}

/// Closes every session still `opening` that was created at or before `$2`, returning their ids.
pub const CLOSE_ABANDONED_OPENINGS_RETURNING: &str = "UPDATE sessions SET state = 'closed', closed_by = 'error', closed_at = $1 WHERE state = 'opening' AND created_at <= $2 RETURNING id, copilot_conversation_id";

/// The pending deliveries of a lane after an id, in order (binds: lane, after, limit).
pub const PENDING_AFTER: &str = "SELECT id, lane, queue_key, payload, attempts, next_attempt_at, created_at, trace_parent FROM deliveries WHERE lane = $1 AND state = 'pending' AND id > $2 ORDER BY id LIMIT $3";

/// The live sessions, for the in-memory index.
pub const LIVE_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE state IN ('opening', 'open')"
);

/// A Teams user's sessions, for an erasure. Binds: customer id.
pub const SESSIONS_OF_CUSTOMER: &str =
    "SELECT id, copilot_conversation_id, livechat_conversation_id, state FROM sessions WHERE customer_id = $1";

/// A session's deliveries, either lane, whatever their state. Binds: Copilot conversation,
/// live-chat conversation (or ''), session.
pub const DELETE_SESSION_DELIVERIES: &str = "DELETE FROM deliveries WHERE (lane = 'teams' AND queue_key = $1) OR (lane = 'livechat' AND queue_key IN ($2, $3))";

/// Binds: session.
pub const DELETE_SESSION_FILE_LINKS: &str = "DELETE FROM file_links WHERE session_id = $1";

/// Binds: session.
pub const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = $1";

/// A Teams user's sessions, for an export. Binds: customer id.
pub const EXPORT_SESSIONS_OF_CUSTOMER: &str = "SELECT id, copilot_conversation_id, livechat_conversation_id, state, closed_by, agent_name, created_at, opened_at, closed_at FROM sessions WHERE customer_id = $1 ORDER BY created_at";

/// A session's deliveries either way, for an export. Binds: Copilot conversation, live-chat
/// conversation (or ''), session.
pub const EXPORT_SESSION_DELIVERIES: &str = "SELECT lane, state, payload, created_at, finished_at FROM deliveries WHERE (lane = 'teams' AND queue_key = $1) OR (lane = 'livechat' AND queue_key IN ($2, $3)) ORDER BY id";
