//! The newest events in memory, for the agents' live updates: the writer hands over what each
//! commit recorded, and every page takes it from here instead of each reading the table. A page
//! further behind than memory reaches reads the table.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::model::{Event, EventKind};

/// Events kept in memory; about two seconds of the benchmark's heaviest load.
const RECENT_EVENTS: usize = 8_192;

/// The newest events, in order, and the number of the last one committed (followed by the pages).
pub struct RecentEvents {
    events: RwLock<VecDeque<Arc<Event>>>,
    held: watch::Sender<i64>,
}

impl RecentEvents {
    /// Memory holding nothing yet, after the table's newest event `last`.
    pub fn after_table(last: i64) -> Self {
        Self {
            events: RwLock::new(VecDeque::new()),
            held: watch::channel(last).0,
        }
    }

    /// The events after `seq` (at most `limit`), when memory covers them; shared, not copied, by
    /// the pages.
    pub fn after(&self, seq: i64, limit: u32) -> Option<Vec<Arc<Event>>> {
        let events = self
            .events
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seq >= *self.held.borrow() {
            return Some(Vec::new());
        }
        let first = events.front()?.seq;
        if seq.saturating_add(1) < first {
            return None;
        }
        let skip = usize::try_from(seq.saturating_add(1) - first).unwrap_or(usize::MAX);
        Some(
            events
                .iter()
                .skip(skip)
                .take(limit as usize)
                .cloned()
                .collect(),
        )
    }

    /// Adds what one commit recorded (in order, following what is held) and tells the pages.
    pub fn push(&self, committed: Vec<Event>) {
        let Some(newest) = committed.last().map(|event| event.seq) else {
            return;
        };
        {
            let mut events = self
                .events
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            events.extend(committed.into_iter().map(Arc::new));
            let excess = events.len().saturating_sub(RECENT_EVENTS);
            events.drain(..excess);
        }
        self.held.send_replace(newest);
    }

    /// Forgets what the events of `conversations` said (an erasure), but those numbered in
    /// `kept`: each becomes an `erased` event in its place, so the numbers stay gap-free.
    pub fn redact(&self, conversations: &HashSet<&str>, kept: &[i64]) {
        let mut events = self
            .events
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events.iter_mut() {
            let erased = event
                .conversation_id
                .as_ref()
                .is_some_and(|id| conversations.contains(id.as_str()));
            if erased && !kept.contains(&event.seq) {
                *event = Arc::new(Event {
                    seq: event.seq,
                    kind: EventKind::Erased,
                    conversation_id: event.conversation_id.clone(),
                    payload: serde_json::json!({"conversationId": event.conversation_id})
                        .to_string(),
                });
            }
        }
    }

    /// Follows the number of the newest committed event.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.held.subscribe()
    }

    pub fn last(&self) -> i64 {
        *self.held.borrow()
    }
}
