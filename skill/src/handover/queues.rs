//! A lane's deliveries in memory, by queue (a conversation): which can be sent now, which wait
//! (for the queue's turn, Teams' rate windows, or a retry), and how many are held.
//!
//! One delivery per queue is sent at a time, oldest first, so order holds within a conversation;
//! queues take turns in the order they became ready, so a busy conversation does not starve the
//! others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pacing::{Admission, RateScope, RateWindows};
use crate::domain::DeliveryId;
use crate::store::Delivery;

struct Queue {
    pending: VecDeque<Delivery>,
    /// A delivery of this queue is being sent.
    busy: bool,
    /// The queue is in the ready list or the waiting heap.
    scheduled: bool,
    /// Not before this, whatever the head: the pace after the last send.
    paced_until: Instant,
    /// Where its sends count in the lane's rate windows.
    scope: Option<RateScope>,
    /// Its head waits for a retry by the worker's own backoff (no server said when), which may be
    /// brought forward once the link is back.
    may_hurry: bool,
}

/// A delivery to try again later (at its `due_at_ms`), first in its queue.
pub struct Retry {
    pub delivery: Delivery,
    /// No server said when: the retry may be made as soon as the link is back.
    pub may_hurry: bool,
}

/// The deliveries of one lane.
pub struct Queues {
    pace: Duration,
    /// The lane's rate windows (Teams'), which admit every send of a queue with a scope.
    windows: Option<Arc<RateWindows>>,
    queues: HashMap<String, Queue>,
    ready: VecDeque<String>,
    waiting: BinaryHeap<Reverse<(Instant, String)>>,
    /// Deliveries held (waiting or being sent).
    held: usize,
    /// The largest id ever added.
    newest: DeliveryId,
}

/// Converts Unix milliseconds into this process's clock.
fn instant_of(unix_ms: i64, now: Instant) -> Instant {
    let wait = unix_ms - chrono::Utc::now().timestamp_millis();
    if wait <= 0 {
        now
    } else {
        now + Duration::from_millis(wait as u64)
    }
}

impl Queues {
    pub fn new(pace: Duration, windows: Option<Arc<RateWindows>>) -> Queues {
        Queues {
            pace,
            windows,
            queues: HashMap::new(),
            ready: VecDeque::new(),
            waiting: BinaryHeap::new(),
            held: 0,
            newest: DeliveryId(0),
        }
    }

    pub fn held(&self) -> usize {
        self.held
    }

    pub fn newest(&self) -> DeliveryId {
        self.newest
    }

    /// Adds a delivery behind the others of its queue; `scope` is where its queue's sends count
    /// in the rate windows.
    pub fn add(&mut self, delivery: Delivery, scope: Option<RateScope>, now: Instant) {
        self.newest = self.newest.max(delivery.id);
        self.held += 1;
        let key = delivery.queue_key.clone();
        let queue = self.queues.entry(key.clone()).or_insert_with(|| Queue {
            pending: VecDeque::new(),
            busy: false,
            scheduled: false,
            paced_until: now,
            scope: None,
            may_hurry: false,
        });
        if scope.is_some() {
            queue.scope = scope;
        }
        queue.pending.push_back(delivery);
        self.schedule(&key, now);
    }

    /// Puts the queue in the ready list or the waiting heap, if its head can be sent at all.
    fn schedule(&mut self, key: &str, now: Instant) {
        let Some(queue) = self.queues.get_mut(key) else {
            return;
        };
        if queue.busy || queue.scheduled {
            return;
        }
        let Some(head) = queue.pending.front() else {
            return;
        };
        let at = queue.paced_until.max(instant_of(head.due_at_ms, now));
        queue.scheduled = true;
        if at <= now {
            self.ready.push_back(key.to_owned());
        } else {
            self.waiting.push(Reverse((at, key.to_owned())));
        }
    }

    /// The next delivery to send now, if any; its queue is busy until [`Queues::sent`].
    pub fn next(&mut self, now: Instant) -> Option<Delivery> {
        while let Some(Reverse((at, _))) = self.waiting.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.waiting.pop() {
                self.ready.push_back(key);
            }
        }
        while let Some(key) = self.ready.pop_front() {
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            queue.scheduled = false;
            // Brought forward by [`Queues::hurry`] while also waiting: sent once, in its turn.
            if queue.busy {
                continue;
            }
            let Some(head) = queue.pending.front() else {
                continue;
            };
            // A retry still waiting was moved ahead by nobody; check its time again.
            if queue.paced_until.max(instant_of(head.due_at_ms, now)) > now {
                self.schedule(&key, now);
                continue;
            }
            if let (Some(windows), Some(scope)) = (&self.windows, &queue.scope) {
                if let Admission::At(at) = windows.admit(scope, now) {
                    queue.scheduled = true;
                    self.waiting.push(Reverse((at, key)));
                    continue;
                }
            }
            queue.busy = true;
            queue.paced_until = now + self.pace;
            return queue.pending.pop_front();
        }
        None
    }

    /// When the earliest waiting queue can send.
    pub fn next_wake(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse((at, _))| *at)
    }

    /// A send of `queue_key` is over. `again` is the delivery to try again later; `None` when it
    /// is done with (delivered or given up).
    pub fn sent(&mut self, queue_key: &str, again: Option<Retry>, now: Instant) {
        let Some(queue) = self.queues.get_mut(queue_key) else {
            return;
        };
        queue.busy = false;
        queue.may_hurry = false;
        match again {
            Some(retry) => {
                queue.may_hurry = retry.may_hurry;
                queue.pending.push_front(retry.delivery);
            }
            None => self.held = self.held.saturating_sub(1),
        }
        if queue.pending.is_empty() && queue.paced_until <= now {
            self.queues.remove(queue_key);
            return;
        }
        self.schedule(queue_key, now);
        self.forget_idle(now);
    }

    /// The link is back: every retry waiting on the worker's own backoff is due now (an outage's
    /// heads would otherwise wake over the next minute, each at its backoff's end). Returns how
    /// many.
    pub fn hurry(&mut self) -> usize {
        let mut hurried = 0;
        for (key, queue) in &mut self.queues {
            if !queue.may_hurry || queue.busy {
                continue;
            }
            queue.may_hurry = false;
            if let Some(head) = queue.pending.front_mut() {
                head.due_at_ms = 0;
                queue.scheduled = true;
                self.ready.push_back(key.clone());
                hurried += 1;
            }
        }
        hurried
    }

    /// Drops a delivery that will not be sent from here (another instance may take it).
    pub fn release(&mut self, queue_key: &str, now: Instant) {
        self.sent(queue_key, None, now);
    }

    /// Empty queues are kept only while their pace matters, so the map does not grow forever.
    fn forget_idle(&mut self, now: Instant) {
        if self.queues.len() < 1_024 || self.queues.len() < self.held * 4 {
            return;
        }
        self.queues
            .retain(|_, queue| queue.busy || !queue.pending.is_empty() || queue.paced_until > now);
    }

    /// Keys of the queues holding something (being sent or waiting).
    pub fn active_keys(&self) -> Vec<String> {
        self.queues
            .iter()
            .filter(|(_, queue)| queue.busy || !queue.pending.is_empty())
            .map(|(key, _)| key.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: i64, queue: &str) -> Delivery {
        Delivery {
            id: DeliveryId(id),
            lane: crate::domain::Lane::Teams,
            queue_key: queue.to_owned(),
            payload: Err("not needed".into()),
            attempts: 0,
            due_at_ms: 0,
            created_at_ms: 0,
            claim: None,
            trace: None,
        }
    }

    #[test]
    fn one_send_per_queue_at_a_time_oldest_first_queues_taking_turns() {
        let now = Instant::now();
        let mut queues = Queues::new(Duration::ZERO, None);
        for (id, queue) in [(1, "a"), (2, "a"), (3, "b")] {
            queues.add(delivery(id, queue), None, now);
        }
        assert_eq!(queues.next(now).map(|d| d.id.0), Some(1));
        assert_eq!(queues.next(now).map(|d| d.id.0), Some(3), "a is busy");
        assert_eq!(queues.next(now).map(|d| d.id.0), None);
        queues.sent("a", None, now);
        assert_eq!(queues.next(now).map(|d| d.id.0), Some(2));
        assert_eq!(queues.held(), 2);
        assert_eq!(queues.newest(), DeliveryId(3));
    }

    #[test]
    fn the_pace_and_a_retry_hold_a_queue_back() {
        let now = Instant::now();
        let mut queues = Queues::new(Duration::from_millis(150), None);
        queues.add(delivery(1, "a"), None, now);
        queues.add(delivery(2, "a"), None, now);
        let first = queues.next(now).unwrap();
        queues.sent("a", None, now);
        assert!(queues.next(now).is_none(), "paced");
        assert_eq!(queues.next_wake(), Some(now + Duration::from_millis(150)));
        let later = now + Duration::from_millis(150);
        let second = queues.next(later).unwrap();
        assert_eq!((first.id.0, second.id.0), (1, 2));
        let retry = Delivery {
            due_at_ms: chrono::Utc::now().timestamp_millis() + 60_000,
            ..second
        };
        queues.sent(
            "a",
            Some(Retry {
                delivery: retry,
                may_hurry: false,
            }),
            later,
        );
        assert!(
            queues.next(later + Duration::from_millis(200)).is_none(),
            "waits for its retry"
        );
        assert_eq!(queues.held(), 1);
        assert_eq!(queues.hurry(), 0, "a server said when");
    }

    #[test]
    fn a_link_back_brings_its_waiting_retries_forward_once_each() {
        let now = Instant::now();
        let mut queues = Queues::new(Duration::ZERO, None);
        for (id, queue) in [(1, "a"), (2, "a"), (3, "b")] {
            queues.add(delivery(id, queue), None, now);
        }
        let (first, other) = (queues.next(now).unwrap(), queues.next(now).unwrap());
        let minute_on = chrono::Utc::now().timestamp_millis() + 60_000;
        for failed in [first, other] {
            let key = failed.queue_key.clone();
            let delivery = Delivery {
                due_at_ms: minute_on,
                ..failed
            };
            queues.sent(
                &key,
                Some(Retry {
                    delivery,
                    may_hurry: true,
                }),
                now,
            );
        }
        assert!(queues.next(now).is_none(), "both wait a minute");
        assert_eq!(queues.hurry(), 2);
        let mut again: Vec<i64> = std::iter::from_fn(|| queues.next(now).map(|d| d.id.0)).collect();
        again.sort();
        assert_eq!(again, [1, 3], "each head once, nothing of a behind it");
        assert_eq!(queues.hurry(), 0);
    }
}
