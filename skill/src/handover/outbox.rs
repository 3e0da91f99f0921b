//! The delivery worker shared by both outboxes.
//!
//! It holds its lane's pending deliveries in memory ([`Queues`]) and sends the oldest of each queue
//! (a conversation), one at a time per queue, many queues at once, so order holds within a
//! conversation while conversations proceed in parallel. Sends into one queue are paced (Teams
//! allows about seven a second per conversation). A failed attempt is tried again after the
//! server's `Retry-After` or jittered exponential backoff; after the last attempt the delivery is
//! marked failed and [`Handover::delivery_failed`] reports it. Files (fetched and posted, up to
//! megabytes each) are sent a few at a time (`max_transfers`); the others wait their turn outside
//! the places of the messages in words. Outcomes are recorded through the
//! store's writer without waiting: a delivery whose outcome a crash lost is sent again (at least
//! once).
//!
//! Where the deliveries come from is the store's [`Intake`]: with SQLite the writer hands over
//! what it commits (and, at start-up or after holding too many, the worker reads the rest back in
//! order); with PostgreSQL the worker claims due queue heads from the shared table, so that two
//! instances never send the same message.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::pacing::{RateScope, RateWindows};
use super::queues::{Queues, Retry};
use super::service::Handover;
use crate::domain::{DeliveryId, Lane, Outbound};
use crate::metrics::Metrics;
use crate::store::{Arrival, Delivery, DeliveryOutcome, Intake, LaneSignal, Store, Wanted};

/// Deliveries read back from the table at a time.
const LOAD_CHUNK: u32 = 1_000;

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Worth another attempt, after `after` if the server said so.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Final: no further attempt can succeed.
    Failed {
        reason: String,
    },
}

/// Delivers one lane's payloads over its transport (`protocol/` for Teams, `livechat/` for the
/// live chat): one attempt, classified.
#[async_trait]
pub trait Courier: Send + Sync + 'static {
    fn lane(&self) -> Lane;
    /// One attempt at delivery `id` (the same id on every attempt, so a receiver that dedupes can).
    /// A payload with a [`Courier::rate_scope`] was admitted by [`Courier::windows`] first; the
    /// courier ends that admission when the answer comes.
    async fn deliver(&self, id: DeliveryId, payload: &Outbound) -> Attempt;

    /// The rate windows every send of this lane must fit (Teams'); none by default.
    fn windows(&self) -> Option<Arc<RateWindows>> {
        None
    }

    /// Where a send of `payload` counts in [`Courier::windows`].
    fn rate_scope(&self, _payload: &Outbound) -> Option<RateScope> {
        None
    }
}

/// A message failing this many times in a row tells the person who wrote it, once, that it waits
/// (one blip is not worth a notice): the customer while the live chat is down, the agent while
/// Teams refuses.
pub const DELAY_NOTICE_AFTER_FAILURES: u32 = 2;

/// How long to wait before another attempt: each link's own (the live-chat link's is the contract's,
/// which the Teams lanes use with their own settings).
pub trait Backoff: Send + Sync {
    /// The delay before attempt `failed_attempts + 1`; the server's `Retry-After`, if it sent one,
    /// within the backoff's cap.
    fn delay(&self, failed_attempts: u32, retry_after: Option<Duration>) -> Duration;
}

/// When to try again.
#[derive(Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Retries stop this long after the delivery was stored.
    pub retry_for: Option<Duration>,
    pub backoff: Arc<dyn Backoff>,
}

impl RetryPolicy {
    /// True while another attempt is allowed after `failed_attempts`, for a delivery stored at
    /// `created_at_ms`, at `now_ms` (Unix milliseconds).
    pub fn may_retry(&self, failed_attempts: u32, created_at_ms: i64, now_ms: i64) -> bool {
        let in_time = self.retry_for.is_none_or(|limit| {
            let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
            now_ms.saturating_sub(created_at_ms) < limit_ms
        });
        failed_attempts < self.max_attempts && in_time
    }

    /// The delay before attempt `failed_attempts + 1`.
    pub fn delay(&self, failed_attempts: u32, retry_after: Option<Duration>) -> Duration {
        self.backoff.delay(failed_attempts, retry_after)
    }
}

/// How much one worker takes on.
#[derive(Debug, Clone, Copy)]
pub struct WorkerLimits {
    /// Deliveries being sent at once.
    pub max_in_flight: usize,
    /// Deliveries held in memory; beyond it they wait in the table and are read back in order.
    pub max_in_memory: usize,
    /// Files being transferred at once ([`Outbound::is_transfer`]); more wait their turn (each
    /// still holding its conversation's place) without taking a place of the messages in words.
    pub max_transfers: usize,
    /// The longest one attempt may take (PostgreSQL): a claimed delivery is sent only while its
    /// claim outlasts that.
    pub longest_attempt: Duration,
}

/// Delivers one lane's outbox until shut down.
pub struct OutboxWorker {
    pub store: Store,
    pub courier: Arc<dyn Courier>,
    /// Told of deliveries given up.
    pub handover: Arc<Handover>,
    pub policy: RetryPolicy,
    /// Least time between two sends into one queue.
    pub pace: Duration,
    /// How often a PostgreSQL worker looks for due deliveries when nothing wakes it, and how long
    /// a worker waits before reading the table again after a failed read.
    pub poll_interval: Duration,
    pub limits: WorkerLimits,
    pub metrics: Arc<Metrics>,
}

/// Where the worker's deliveries come from, and what it knows of the table.
enum Source {
    Pushed {
        /// Every pending delivery up to this id is held, in flight or done.
        loaded_through: DeliveryId,
        /// Nothing pending beyond `loaded_through` is missing from memory.
        caught_up: bool,
        /// A read-back is on its way.
        loading: bool,
        /// Not before this (after a failed read).
        next_load: Instant,
    },
    Claimed {
        /// What to claim: the whole lane, or the deliveries and queues named to this worker
        /// (claimed if they head their queues, the queues' heads, and are its).
        named: Wanted,
        next_poll: Instant,
        /// When this worker last brought the stored retries forward (the link back).
        hurried_at: Option<Instant>,
    },
}

/// The least time between two times a worker brings the stored retries forward: each success of
/// a retried delivery says the link is back, and one statement a while serves them all.
const HURRY_EVERY: Duration = Duration::from_secs(1);

/// A send that finished.
struct Sent {
    delivery: Delivery,
    attempt: Attempt,
}

fn is_transfer(delivery: &Delivery) -> bool {
    delivery.payload.as_ref().is_ok_and(Outbound::is_transfer)
}

impl OutboxWorker {
    /// Runs until `shutdown` is cancelled, then waits briefly for deliveries in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let lane = self.courier.lane();
        let (mut arrivals, signal, room): (
            mpsc::UnboundedReceiver<Arrival>,
            Option<Arc<LaneSignal>>,
            Option<Arc<AtomicBool>>,
        );
        let mut source = match self.store.intake(lane) {
            Ok(Intake::Pushed(receiver)) => {
                (arrivals, signal, room) = (receiver, None, None);
                Source::Pushed {
                    loaded_through: DeliveryId(0),
                    caught_up: false,
                    loading: false,
                    next_load: Instant::now(),
                }
            }
            Ok(Intake::Claimed(claims)) => {
                (arrivals, signal, room) = (claims.claimed, Some(claims.signal), Some(claims.room));
                Source::Claimed {
                    named: Wanted {
                        all: true,
                        ..Wanted::default()
                    },
                    next_poll: Instant::now(),
                    hurried_at: None,
                }
            }
            Err(error) => {
                tracing::error!(lane = lane.as_str(), error.cause_chain = ?error, "the outbox worker cannot start");
                return;
            }
        };
        let mut queues = Queues::new(self.pace, self.courier.windows());
        let mut in_flight: JoinSet<Sent> = JoinSet::new();
        // Transfers taken from their queues that wait for one of the few transfer places: their
        // queues stay busy, so nothing of their conversation overtakes them.
        let mut parked: VecDeque<Delivery> = VecDeque::new();
        // The tasks transferring files.
        let mut transfers: HashSet<tokio::task::Id> = HashSet::new();
        let spawn = |in_flight: &mut JoinSet<Sent>, delivery: Delivery| {
            let courier = self.courier.clone();
            // The send continues the trace of the request that stored it (traces exported only).
            let span = tracing::debug_span!(
                "deliver",
                lane = delivery.lane.as_str(),
                delivery_id = delivery.id.0,
                attempt = delivery.attempts + 1
            );
            service_support::trace_context::adopt(&span, delivery.trace.as_deref());
            in_flight
                .spawn(
                    async move {
                        let attempt = match &delivery.payload {
                            Ok(payload) => courier.deliver(delivery.id, payload).await,
                            Err(reason) => Attempt::Failed {
                                reason: reason.clone(),
                            },
                        };
                        Sent { delivery, attempt }
                    }
                    .instrument(span),
                )
                .id()
        };
        tracing::info!(lane = lane.as_str(), "outbox worker started");
        loop {
            let now = Instant::now();
            self.refill(&mut source, &mut queues, in_flight.len(), now)
                .await;
            while in_flight.len() < self.limits.max_in_flight
                && transfers.len() < self.limits.max_transfers
            {
                let Some(delivery) = parked.pop_front() else {
                    break;
                };
                // Checked again: it may have waited here for a transfer place past its claim.
                if self.claim_runs_out(&delivery) {
                    self.give_back(&mut source, &mut queues, &delivery, now);
                    continue;
                }
                transfers.insert(spawn(&mut in_flight, delivery));
            }
            while in_flight.len() < self.limits.max_in_flight {
                let Some(delivery) = queues.next(now) else {
                    break;
                };
                if self.claim_runs_out(&delivery) {
                    // Held here past its claim (a conversation waiting out Teams' hour window,
                    // say): another instance may take it, so it is not sent from here but claimed
                    // again, its place in the windows given back.
                    self.give_back(&mut source, &mut queues, &delivery, now);
                    continue;
                }
                if !is_transfer(&delivery) {
                    spawn(&mut in_flight, delivery);
                } else if transfers.len() < self.limits.max_transfers {
                    transfers.insert(spawn(&mut in_flight, delivery));
                } else {
                    parked.push_back(delivery);
                }
            }
            // What the writer claims as it stores waits here for its turn, its lease running: a
            // little more than can be in flight at once.
            if let Some(room) = &room {
                let held = queues.held() + parked.len();
                room.store(
                    held < 2 * self.limits.max_in_flight,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            let wake_at = [
                queues.next_wake(),
                match &source {
                    Source::Claimed { next_poll, .. } => Some(*next_poll),
                    Source::Pushed {
                        caught_up: false,
                        loading: false,
                        next_load,
                        ..
                    } => Some(*next_load),
                    Source::Pushed { .. } => None,
                },
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3_600));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(arrival) = arrivals.recv() => self.arrived(&mut source, &mut queues, arrival),
                _ = async {
                    match &signal {
                        Some(signal) => signal.woken().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let (Source::Claimed { named, .. }, Some(signal)) = (&mut source, &signal) {
                        named.add(signal.take());
                    }
                }
                Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    let mut finished = vec![done];
                    while let Some(done) = in_flight.try_join_next_with_id() {
                        finished.push(done);
                    }
                    for done in finished {
                        match done {
                            Ok((task, sent)) => {
                                transfers.remove(&task);
                                self.settle(&mut source, &mut queues, sent)
                            }
                            Err(error) => {
                                transfers.remove(&error.id());
                                tracing::error!(lane = lane.as_str(), error = %error, "a delivery task failed; the delivery stays pending")
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake_at.into()) => {}
            }
        }
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(done) = in_flight.join_next().await {
                if let Ok(sent) = done {
                    self.settle(&mut source, &mut queues, sent);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(lane = lane.as_str(), "deliveries still in flight at shutdown; they stay pending and are retried on the next start");
        }
        tracing::info!(lane = lane.as_str(), "outbox worker stopped");
    }

    /// Asks for more deliveries when the worker has room and the table may have some.
    async fn refill(
        &self,
        source: &mut Source,
        queues: &mut Queues,
        in_flight: usize,
        now: Instant,
    ) {
        let lane = self.courier.lane();
        // Sends this worker may still start.
        let free = self.limits.max_in_flight.saturating_sub(in_flight);
        match source {
            Source::Pushed {
                loaded_through,
                caught_up: false,
                loading,
                next_load,
                ..
            } if !*loading
                && now >= *next_load
                && queues.held() <= self.limits.max_in_memory / 2 =>
            {
                let room = (self.limits.max_in_memory - queues.held()).max(1);
                let limit = LOAD_CHUNK.min(u32::try_from(room).unwrap_or(LOAD_CHUNK));
                match self.store.load_pending(lane, *loaded_through, limit) {
                    Ok(()) => *loading = true,
                    Err(error) => {
                        tracing::error!(lane = lane.as_str(), error.cause_chain = ?error, "cannot ask for pending deliveries");
                        *next_load = now + self.poll_interval;
                    }
                }
            }
            Source::Claimed {
                named, next_poll, ..
            } if free > 0
                && (now >= *next_poll
                    || (named.all && free >= self.lane_room())
                    || named.named() > 0) =>
            {
                let whole = named.all || now >= *next_poll;
                let capacity = u32::try_from(free).unwrap_or(u32::MAX);
                // Queues this worker holds are left out: their heads are being sent or paced here.
                let busy = queues.active_keys();
                let Wanted {
                    ids,
                    queues: heads_of,
                    ..
                } = std::mem::take(named);
                let claimed = if whole {
                    *next_poll = now + self.poll_interval;
                    self.store
                        .due_deliveries(lane, self.store.now_ms(), capacity, &busy)
                        .await
                } else {
                    self.store
                        .claim_named(lane, self.store.now_ms(), capacity, &busy, &ids, &heads_of)
                        .await
                };
                match claimed {
                    Ok(due) => {
                        // Room ran out before all that was asked for was claimed: the rest is
                        // looked for along the lane when there is room again, and again until a
                        // look leaves room to spare. A look cut short by the room claims the
                        // lowest ids, and what it leaves is named nowhere else: left, it waited
                        // for the next poll.
                        if due.len() == capacity as usize {
                            named.whole_lane();
                        }
                        for delivery in due {
                            // Claimed means due: the row's time is now the claim's lease, which
                            // fences the outcome.
                            let delivery = Delivery {
                                due_at_ms: 0,
                                claim: Some(delivery.due_at_ms),
                                ..delivery
                            };
                            self.hold(queues, delivery, now);
                        }
                    }
                    Err(error) => {
                        tracing::error!(lane = lane.as_str(), error.cause_chain = ?error, "cannot claim due deliveries")
                    }
                }
            }
            _ => {}
        }
    }

    /// The room a look along the whole lane waits for (a quarter of what may be in flight), so
    /// that a backlog is claimed in batches and not with a look along every queue each time one
    /// send ends. The poll looks whatever the room.
    fn lane_room(&self) -> usize {
        (self.limits.max_in_flight / 4).max(1)
    }

    /// Whether a claimed delivery's claim would end before an attempt begun now could.
    fn claim_runs_out(&self, delivery: &Delivery) -> bool {
        let longest = i64::try_from(self.limits.longest_attempt.as_millis()).unwrap_or(i64::MAX);
        delivery
            .claim
            .is_some_and(|claim| self.store.now_ms().saturating_add(longest) >= claim)
    }

    /// Lets go of a claimed delivery [`Queues::next`] admitted but that will not be sent from
    /// here: its admission is withdrawn, its queue is free, and the worker claims again.
    fn give_back(
        &self,
        source: &mut Source,
        queues: &mut Queues,
        delivery: &Delivery,
        now: Instant,
    ) {
        let scope = delivery
            .payload
            .as_ref()
            .ok()
            .and_then(|payload| self.courier.rate_scope(payload));
        if let (Some(windows), Some(scope)) = (self.courier.windows(), scope) {
            windows.withdraw(&scope);
        }
        queues.release(&delivery.queue_key, now);
        match (source, delivery.claim) {
            // Let go in the table too, or nobody could claim it until its lease passed.
            (Source::Claimed { .. }, Some(claim)) => {
                let (store, lane, id) = (self.store.clone(), delivery.lane, delivery.id);
                tokio::spawn(async move {
                    if let Err(error) = store.release_claim(lane, id, claim).await {
                        tracing::warn!(lane = lane.as_str(), delivery_id = id.0, error.cause_chain = ?error, "cannot let a claim go; the delivery is claimed again when its lease passes");
                    }
                });
            }
            (Source::Claimed { named, .. }, None) => named.whole_lane(),
            (Source::Pushed { .. }, _) => {}
        }
        tracing::info!(
            lane = self.courier.lane().as_str(),
            delivery_id = delivery.id.0,
            "a delivery waited here past its claim; claiming it again"
        );
    }

    /// Holds a delivery in its queue, with where its sends count in the lane's windows.
    fn hold(&self, queues: &mut Queues, delivery: Delivery, now: Instant) {
        let scope = delivery
            .payload
            .as_ref()
            .ok()
            .and_then(|payload| self.courier.rate_scope(payload));
        queues.add(delivery, scope, now);
    }

    /// Takes what the store handed over.
    fn arrived(&self, source: &mut Source, queues: &mut Queues, arrival: Arrival) {
        let now = Instant::now();
        let Source::Pushed {
            loaded_through,
            caught_up,
            loading,
            next_load,
            ..
        } = source
        else {
            // Claimed by the insert for this worker: held whatever its memory (the writer claims
            // only while the worker has room).
            if let Arrival::Stored(deliveries) = arrival {
                for delivery in deliveries {
                    self.hold(queues, delivery, now);
                }
            }
            return;
        };
        match arrival {
            Arrival::Stored(deliveries) => {
                for delivery in deliveries {
                    // While behind, or when full, what was just stored waits in the table and is
                    // read back in order.
                    if !*caught_up || queues.held() >= self.limits.max_in_memory {
                        *caught_up = false;
                        break;
                    }
                    *loaded_through = delivery.id;
                    self.hold(queues, delivery, now);
                }
            }
            Arrival::Loaded {
                deliveries,
                complete,
            } => {
                *loading = false;
                let read_failed = deliveries.is_empty() && !complete;
                for delivery in deliveries {
                    if delivery.id > *loaded_through {
                        *loaded_through = delivery.id;
                        self.hold(queues, delivery, now);
                    }
                }
                if complete {
                    *caught_up = true;
                } else if read_failed {
                    *next_load = now + self.poll_interval;
                }
            }
        }
    }

    /// The link is back: the retries stored by every instance (PostgreSQL), waiting by their own
    /// backoff, are due now rather than at the end of each one's (up to a minute after an
    /// outage), at most every [`HURRY_EVERY`].
    fn hurry_stored(&self, hurried_at: &mut Option<Instant>, now: Instant) {
        if hurried_at.is_some_and(|at| now < at + HURRY_EVERY) {
            return;
        }
        *hurried_at = Some(now);
        let (store, lane) = (self.store.clone(), self.courier.lane());
        tokio::spawn(async move {
            match store.hurry_retries(lane, store.now_ms()).await {
                Ok(0) => {}
                Ok(hurried) => {
                    tracing::info!(
                        lane = lane.as_str(),
                        hurried,
                        "the link is back; stored retries due now"
                    )
                }
                Err(error) => {
                    tracing::warn!(lane = lane.as_str(), error.cause_chain = ?error, "cannot bring the stored retries forward; they wait out their backoff")
                }
            }
        });
    }

    /// Records a finished send and decides what comes next for its delivery.
    fn settle(&self, source: &mut Source, queues: &mut Queues, sent: Sent) {
        let lane = self.courier.lane().as_str();
        let Sent { delivery, attempt } = sent;
        let now = Instant::now();
        let failed_attempts = delivery.attempts + 1;
        let queue_key = delivery.queue_key.clone();
        match attempt {
            Attempt::Delivered => {
                self.metrics
                    .deliveries
                    .with_label_values(&[lane, "delivered"])
                    .inc();
                self.store.record_claimed_outcome(
                    delivery.id,
                    DeliveryOutcome::Delivered,
                    delivery.claim,
                );
                queues.sent(&queue_key, None, now);
                // A first success after retries means the link is back: the others need not
                // wait out their backoff.
                if delivery.attempts > 0 {
                    let hurried = queues.hurry();
                    if hurried > 0 {
                        tracing::info!(lane, hurried, "the link is back; waiting retries sent now");
                    }
                    if let Source::Claimed { hurried_at, .. } = source {
                        self.hurry_stored(hurried_at, now);
                    }
                }
            }
            Attempt::Retry { reason, after }
                if self.policy.may_retry(
                    failed_attempts,
                    delivery.created_at_ms,
                    self.store.now_ms(),
                ) =>
            {
                let delay = self.policy.delay(failed_attempts, after);
                self.metrics
                    .deliveries
                    .with_label_values(&[lane, "retried"])
                    .inc();
                tracing::warn!(lane, delivery_id = delivery.id.0, queue = %queue_key, attempt = failed_attempts, reason = %reason, retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                let at_ms = self.store.now_ms() + delay.as_millis() as i64;
                if failed_attempts == DELAY_NOTICE_AFTER_FAILURES {
                    let (handover, delayed) = (self.handover.clone(), delivery.clone());
                    tokio::spawn(async move { handover.delivery_delayed(&delayed).await });
                }
                self.store.record_claimed_outcome(
                    delivery.id,
                    DeliveryOutcome::Retry {
                        at_ms,
                        error: reason,
                        may_hurry: after.is_none(),
                    },
                    delivery.claim,
                );
                match source {
                    // The retry is this worker's to make, in turn, first in its queue.
                    Source::Pushed { .. } => {
                        let again = Delivery {
                            attempts: failed_attempts,
                            due_at_ms: at_ms,
                            ..delivery
                        };
                        let retry = Retry {
                            delivery: again,
                            may_hurry: after.is_none(),
                        };
                        queues.sent(&queue_key, Some(retry), now);
                    }
                    // Whichever instance claims it when it falls due makes the retry.
                    Source::Claimed { .. } => queues.release(&queue_key, now),
                }
            }
            Attempt::Retry { reason, .. } | Attempt::Failed { reason } => {
                self.metrics
                    .deliveries
                    .with_label_values(&[lane, "failed"])
                    .inc();
                tracing::error!(lane, delivery_id = delivery.id.0, queue = %queue_key, attempt = failed_attempts, reason = %reason, "delivery failed for good");
                self.store.record_claimed_outcome(
                    delivery.id,
                    DeliveryOutcome::Failed {
                        error: reason.clone(),
                    },
                    delivery.claim,
                );
                queues.sent(&queue_key, None, now);
                // Telling someone stores a message: not on the worker's loop.
                let handover = self.handover.clone();
                tokio::spawn(async move { handover.delivery_failed(&delivery, &reason).await });
            }
        }
    }
}
