//! What the store's callers hand it and get back: deliveries to store and stored ones, changes to a
//! session made with them, what a lane's worker is handed, and the answers of the writes.
//!
//! Sessions themselves are the domain's ([`crate::domain::Session`]); these types are the store's
//! own vocabulary around them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::{mpsc, Notify};

use crate::domain::{DeliveryId, Lane, Outbound, Session, SessionId, SharedFile, Timer};

/// A session still `opening` after this many seconds was abandoned by a process that stopped
/// mid-start (the live chat's start has a timeout of a few seconds); a new start replaces it.
pub const ABANDONED_OPENING_SECS: i64 = 120;

/// The outcome of asking for a new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginSession {
    /// This caller created the session (state opening) and must open it in the live chat.
    Created(Session),
    /// The conversation already has a live session (opening or open); use it.
    Existing(Session),
}

/// A link to an agent's file, stored with the delivery that carries it to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFileLink {
    pub session: SessionId,
    pub shared: SharedFile,
}

/// A message to store for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub payload: Outbound,
    /// The sender's id for the message; a second delivery with the same key is a duplicate.
    pub dedupe_key: Option<String>,
}

/// A user's messages for the live chat, stored together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessages {
    pub deliveries: Vec<NewDelivery>,
    /// The problem description is among them: the session remembers it was forwarded.
    pub includes_problem_description: bool,
    /// The customer wrote: the inactivity timer starts again (when it runs), unless it was
    /// started again less than the resolution (ms) before.
    pub inactivity_timer: Option<(Timer, i64)>,
}

/// A stored message waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub lane: Lane,
    pub queue_key: String,
    /// What to send, or why the stored payload cannot be read.
    pub payload: Result<Outbound, String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it may be sent (Unix milliseconds).
    pub due_at_ms: i64,
    /// When it was stored (Unix milliseconds): retrying lasts a set time from here.
    pub created_at_ms: i64,
    /// The end of the lease this instance claimed it with (PostgreSQL): the fence of its outcome.
    pub claim: Option<i64>,
    /// The trace context of the request that stored it (when traces are exported).
    pub trace: Option<String>,
}

/// What a delivery's attempt came to, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at `at_ms` (Unix milliseconds); `may_hurry` when that time is the skill's own
    /// backoff (no server said when), which the link coming back brings forward.
    Retry {
        at_ms: i64,
        error: String,
        may_hurry: bool,
    },
    Failed {
        error: String,
    },
}

/// A change to a session stored with deliveries (when they are stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionUpdate {
    /// The problem description is among the rows: the session remembers it was forwarded.
    ProblemForwarded(SessionId),
    /// The customer wrote: an inactivity timer starts again from `timer`, unless it was started
    /// again less than `resolution_ms` before.
    CustomerWrote {
        session: SessionId,
        timer: Timer,
        resolution_ms: i64,
    },
    /// An agent took the chat: named, and a queue timer gives way to `inactivity`.
    AgentJoined {
        session: SessionId,
        agent: String,
        inactivity: Option<Timer>,
    },
    /// The agent who closed the chat.
    AgentNamed { session: SessionId, agent: String },
}

/// What a timer that fell due turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerThen {
    /// The next timer (the end after a warning), or none.
    Next(Option<Timer>),
    /// The session closes (queue timeout, inactivity).
    Close,
}

/// The outcome of storing an agent message for an open session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Accepted,
    /// The same message id was accepted before; nothing new was stored.
    Duplicate,
    /// The session is no longer open; nothing was stored.
    SessionClosed,
}

/// Counts of deliveries by state, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub deliveries: u64,
}

/// What erasing a Teams user deleted; nothing when one of their sessions is live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasedSessions {
    pub sessions: u64,
    pub deliveries: u64,
    pub file_links: u64,
    /// A session is still opening or open: nothing was erased.
    #[serde(skip)]
    pub live: bool,
}

/// What a lane's worker is handed.
#[derive(Debug)]
pub enum Arrival {
    /// Deliveries just committed, in id order.
    Stored(Vec<Delivery>),
    /// Pending deliveries read back from the table, in id order, after the id the worker asked
    /// from; `complete` when there were no more.
    Loaded {
        deliveries: Vec<Delivery>,
        complete: bool,
    },
}

/// How a lane's worker learns of its deliveries.
pub enum Intake {
    /// SQLite: the writer hands over what it commits; what did not fit in the worker's memory is
    /// read back with [`super::Store::load_pending`].
    Pushed(mpsc::UnboundedReceiver<Arrival>),
    /// PostgreSQL: the worker claims due queue heads ([`super::Store::due_deliveries`]).
    Claimed(Claims),
}

/// A PostgreSQL worker's intake. A delivery stored by this instance at the head of its queue is
/// claimed by the insert itself while the worker says it has room, and handed over like SQLite's
/// (no claim statement: measured as the costliest statement per message); the rest wait in the
/// table to be claimed, and the signal says which (or to look along the whole lane).
pub struct Claims {
    pub signal: Arc<LaneSignal>,
    /// Deliveries claimed as they were stored, in id order ([`Arrival::Stored`]).
    pub claimed: mpsc::UnboundedReceiver<Arrival>,
    /// Set by the worker while it has room for more: the writer claims at insert only then.
    pub room: Arc<AtomicBool>,
}

/// What one heartbeat learned (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Deliveries released from instances fallen silent.
    pub released: usize,
    /// This instance's place (from 0) among the live ones, ordered by id, and how many live: its
    /// share of what all of them may do together (Teams' windows).
    pub place: usize,
    pub live: usize,
}

/// One signal per lane, so a write wakes only the worker that has new work, whether the lane's
/// worker has room for deliveries claimed as they are stored, and this instance's place among the
/// live ones (PostgreSQL).
#[derive(Default)]
pub struct Signals {
    teams: Arc<LaneSignal>,
    livechat: Arc<LaneSignal>,
    room: [Arc<AtomicBool>; 2],
    /// The last heartbeat's place (high half) and live instances less one (low half).
    members: AtomicU64,
    /// Cancelled as the store's last handle goes: the listener's connection ends with it.
    ended: tokio_util::sync::CancellationToken,
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.ended.cancel();
    }
}

/// More deliveries named to a worker than this, and it looks at the whole lane instead.
pub const WANTED_IDS: usize = 4_096;

/// What a lane's worker is asked to claim (PostgreSQL): whatever is due in the lane (a look along
/// every pending queue, the costliest statement when many conversations wait), or only the heads
/// among the deliveries named to it and of the queues named to it (a look at those alone).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub all: bool,
    pub ids: Vec<DeliveryId>,
    pub queues: Vec<String>,
}

impl Wanted {
    /// How many deliveries and queues are named.
    pub fn named(&self) -> usize {
        self.ids.len() + self.queues.len()
    }

    /// Asks for the whole lane, which covers whatever was named.
    pub fn whole_lane(&mut self) {
        self.all = true;
        self.ids.clear();
        self.queues.clear();
    }

    /// Adds what `other` asks for; past [`WANTED_IDS`] named, the whole lane.
    pub fn add(&mut self, other: Wanted) {
        if self.all || other.all {
            self.whole_lane();
            return;
        }
        self.ids.extend(other.ids);
        self.queues.extend(other.queues);
        if self.named() > WANTED_IDS {
            self.whole_lane();
        }
    }
}

/// A notification on the deliveries channel (PostgreSQL): a lane, which every instance's worker
/// looks at whole; or a lane, the instance that stored them and the deliveries it stored for
/// others to claim, which each instance's worker claims by id if they are its to take. Written
/// `lane` or `lane/instance/id,id,...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveriesNotice {
    pub lane: Lane,
    pub stored: Option<(String, Vec<DeliveryId>)>,
}

impl DeliveriesNotice {
    /// The whole lane, for every instance (this one's too).
    pub fn of_lane(lane: Lane) -> DeliveriesNotice {
        DeliveriesNotice { lane, stored: None }
    }

    pub fn encode(&self) -> String {
        let mut text = self.lane.as_str().to_owned();
        if let Some((instance, ids)) = &self.stored {
            text.push('/');
            text.push_str(instance);
            text.push('/');
            for (n, id) in ids.iter().enumerate() {
                if n > 0 {
                    text.push(',');
                }
                text.push_str(&id.0.to_string());
            }
        }
        text
    }

    /// None for text no instance writes.
    pub fn decode(text: &str) -> Option<DeliveriesNotice> {
        let Some((lane, rest)) = text.split_once('/') else {
            return Some(DeliveriesNotice {
                lane: Lane::parse(text)?,
                stored: None,
            });
        };
        let (instance, ids) = rest.split_once('/')?;
        let ids = ids
            .split(',')
            .map(|id| id.parse().ok().map(DeliveryId))
            .collect::<Option<Vec<_>>>()?;
        Some(DeliveriesNotice {
            lane: Lane::parse(lane)?,
            stored: Some((instance.to_owned(), ids)),
        })
    }
}

/// Wakes a lane's worker, saying what to claim.
#[derive(Default)]
pub struct LaneSignal {
    notify: Notify,
    wanted: Mutex<Wanted>,
}

impl LaneSignal {
    /// Work may be anywhere in the lane: a retry fell due, claims were released, another instance
    /// stored some without naming it.
    pub fn wake(&self) {
        self.lock().whole_lane();
        self.notify.notify_one();
    }

    /// Work is among `ids` (stored) and at the heads of `queues` (whose heads were delivered):
    /// those that head their queues, are due and are this instance's to take.
    pub fn wake_for(&self, ids: impl IntoIterator<Item = DeliveryId>, queues: Vec<String>) {
        self.lock().add(Wanted {
            all: false,
            ids: ids.into_iter().collect(),
            queues,
        });
        self.notify.notify_one();
    }

    /// Waits for a wake (one that came while nobody waited counts).
    pub async fn woken(&self) {
        self.notify.notified().await;
    }

    /// What the wakes since the last take asked for, leaving nothing.
    pub fn take(&self) -> Wanted {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.wanted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Signals {
    /// Cancelled when these signals (and so the store) are dropped.
    pub fn ended(&self) -> tokio_util::sync::CancellationToken {
        self.ended.clone()
    }

    pub fn of(&self, lane: Lane) -> &Arc<LaneSignal> {
        match lane {
            Lane::Teams => &self.teams,
            Lane::LiveChat => &self.livechat,
        }
    }

    /// This instance is `place` (from 0) of `live` instances sharing the database.
    pub fn set_members(&self, place: usize, live: usize) {
        let live = u32::try_from(live.max(1)).unwrap_or(u32::MAX);
        let place = u32::try_from(place).unwrap_or(u32::MAX).min(live - 1);
        self.members.store(
            (u64::from(place) << 32) | u64::from(live - 1),
            Ordering::Relaxed,
        );
    }

    /// This instance's place among the live instances and how many they are (0 of 1 until the
    /// first heartbeat says otherwise).
    pub fn members(&self) -> (u32, u32) {
        let packed = self.members.load(Ordering::Relaxed);
        ((packed >> 32) as u32, (packed as u32) + 1)
    }

    /// Where the lane's worker says it has room (starts without).
    pub fn room(&self, lane: Lane) -> &Arc<AtomicBool> {
        match lane {
            Lane::Teams => &self.room[0],
            Lane::LiveChat => &self.room[1],
        }
    }
}

/// Fixed-width UTC timestamps, so that text comparison is time comparison.
pub fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sessions still `opening` after this were abandoned by a process that stopped mid-start.
pub fn abandoned_opening_cutoff() -> String {
    (Utc::now() - chrono::Duration::seconds(ABANDONED_OPENING_SECS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A request answered 202 and not yet handled to the end, as the skill endpoint wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTurn {
    pub id: String,
    /// The activity, as received.
    pub activity: String,
    /// Who called, as the endpoint wrote it.
    pub caller: String,
    /// When it was received (RFC 3339 UTC).
    pub created_at: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_names_its_lane_and_what_an_instance_stored_or_nothing_it_cannot_read() {
        let named = DeliveriesNotice {
            lane: Lane::Teams,
            stored: Some(("instance-a".to_owned(), vec![DeliveryId(7), DeliveryId(12)])),
        };
        assert_eq!(named.encode(), "teams/instance-a/7,12");
        assert_eq!(DeliveriesNotice::decode(&named.encode()), Some(named));
        let whole = DeliveriesNotice {
            lane: Lane::LiveChat,
            stored: None,
        };
        assert_eq!(whole.encode(), "livechat");
        assert_eq!(DeliveriesNotice::decode("livechat"), Some(whole));
        for unreadable in [
            "",
            "email",
            "teams/",
            "teams/a",
            "teams/a/",
            "teams/a/1,x",
            "mail/a/1",
        ] {
            assert_eq!(DeliveriesNotice::decode(unreadable), None, "{unreadable}");
        }
    }

    #[test]
    fn a_worker_is_asked_for_what_it_was_named_until_the_whole_lane_is_asked_for() {
        let signal = LaneSignal::default();
        assert_eq!(signal.take(), Wanted::default());
        signal.wake_for([DeliveryId(1), DeliveryId(2)], Vec::new());
        signal.wake_for([DeliveryId(3)], vec!["q".to_owned()]);
        assert_eq!(
            signal.take(),
            Wanted {
                all: false,
                ids: vec![DeliveryId(1), DeliveryId(2), DeliveryId(3)],
                queues: vec!["q".to_owned()],
            },
            "named across wakes, and taken once"
        );
        assert_eq!(signal.take(), Wanted::default());

        signal.wake_for([DeliveryId(4)], Vec::new());
        signal.wake();
        signal.wake_for([DeliveryId(5)], vec!["q".to_owned()]);
        assert_eq!(
            signal.take(),
            Wanted {
                all: true,
                ..Wanted::default()
            },
            "the whole lane covers what was named"
        );

        signal.wake_for((0..WANTED_IDS as i64).map(DeliveryId), vec!["q".to_owned()]);
        assert_eq!(
            signal.take(),
            Wanted {
                all: true,
                ..Wanted::default()
            },
            "named past the limit, the whole lane"
        );
    }

    #[tokio::test]
    async fn a_wake_nobody_waited_for_is_kept_for_the_next_wait() {
        let signal = LaneSignal::default();
        signal.wake_for([DeliveryId(1)], Vec::new());
        tokio::time::timeout(std::time::Duration::from_secs(5), signal.woken())
            .await
            .unwrap();
        assert_eq!(signal.take().ids, vec![DeliveryId(1)]);
    }
}
