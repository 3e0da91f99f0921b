//! Which agents have a page open, for presence: an agent whose last page has been gone for
//! `routing.offline_after_ms` is set offline, and back online when a page of theirs opens again
//! (unless they chose to be offline or away since).
//!
//! A page counts while its live-update stream is open; each agent holds at most
//! [`MAX_STREAMS_PER_AGENT`] streams at once. Idle time goes by the live chat's [`Clock`], which
//! tests stop and move.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_support::clock::Clock;

/// Streams one agent may hold at once: a few tabs and windows, not a flood.
pub const MAX_STREAMS_PER_AGENT: usize = 8;

#[derive(Default)]
struct Pages {
    /// Open streams per agent.
    open: HashMap<String, usize>,
    /// Since when (Unix ms) an agent without streams has had none (or signed in, or the process
    /// started).
    idle_since: HashMap<String, i64>,
    /// Agents set offline because their pages were gone: a new page brings them back.
    dozed: HashSet<String>,
}

/// The agents' open pages.
pub struct LivePages {
    pages: Mutex<Pages>,
    /// When the process started (Unix ms): an agent never seen has been idle since then.
    started_ms: i64,
    clock: Clock,
}

/// One stream's place in [`LivePages`], given back when the stream ends.
pub struct PageSlot {
    pages: Arc<LivePages>,
    agent: String,
}

/// What opening a page means for the agent's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Nothing changes.
    Same,
    /// They were set offline for having no page: they are back.
    Returned,
}

impl LivePages {
    /// No page open yet, idle time going by `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            pages: Mutex::default(),
            started_ms: clock.now_ms(),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for `agent`'s new page, unless they hold [`MAX_STREAMS_PER_AGENT`] already.
    pub fn open(self: &Arc<Self>, agent: &str) -> Option<(PageSlot, Opened)> {
        let mut pages = self.lock();
        let count = pages.open.entry(agent.to_owned()).or_default();
        if *count >= MAX_STREAMS_PER_AGENT {
            return None;
        }
        *count += 1;
        pages.idle_since.remove(agent);
        let opened = if pages.dozed.remove(agent) {
            Opened::Returned
        } else {
            Opened::Same
        };
        Some((
            PageSlot {
                pages: self.clone(),
                agent: agent.to_owned(),
            },
            opened,
        ))
    }

    /// The agent signed in (or chose a presence): their grace starts now, and a choice of
    /// theirs is not undone by a page opening.
    pub fn touch(&self, agent: &str) {
        let mut pages = self.lock();
        pages.dozed.remove(agent);
        if !pages.open.contains_key(agent) {
            pages
                .idle_since
                .insert(agent.to_owned(), self.clock.now_ms());
        }
    }

    /// True when `agent` has had no page for `grace`: they are to be set offline, and are
    /// remembered as dozed.
    pub fn doze_if_idle(&self, agent: &str, grace: Duration) -> bool {
        let mut pages = self.lock();
        if pages.open.contains_key(agent) {
            return false;
        }
        let since = pages
            .idle_since
            .get(agent)
            .copied()
            .unwrap_or(self.started_ms);
        if self.clock.since(since) < grace {
            return false;
        }
        pages.dozed.insert(agent.to_owned());
        true
    }
}

impl Drop for PageSlot {
    fn drop(&mut self) {
        let mut pages = self.pages.lock();
        if let Some(count) = pages.open.get_mut(&self.agent) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                pages.open.remove(&self.agent);
                let now = self.pages.clock.now_ms();
                pages.idle_since.insert(self.agent.clone(), now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(60);

    #[test]
    fn an_agent_dozes_only_after_their_last_page_is_gone_for_the_grace() {
        let clock = Clock::paused();
        let pages = Arc::new(LivePages::new(clock.clone()));
        let (first, opened) = pages.open("ann").unwrap();
        assert_eq!(opened, Opened::Same);
        let (second, _) = pages.open("ann").unwrap();
        clock.advance(GRACE * 2);
        assert!(!pages.doze_if_idle("ann", GRACE), "two pages are open");
        drop(first);
        assert!(!pages.doze_if_idle("ann", GRACE), "one page is still open");
        drop(second);
        clock.advance(GRACE - Duration::from_millis(1));
        assert!(!pages.doze_if_idle("ann", GRACE), "within the grace");
        clock.advance(Duration::from_millis(1));
        assert!(pages.doze_if_idle("ann", GRACE), "the grace is over");
        let (_again, opened) = pages.open("ann").unwrap();
        assert_eq!(opened, Opened::Returned);
    }

    #[test]
    fn an_agent_never_seen_is_idle_from_the_start_and_signing_in_starts_their_grace() {
        let clock = Clock::paused();
        let pages = LivePages::new(clock.clone());
        clock.advance(GRACE);
        pages.touch("ben");
        assert!(!pages.doze_if_idle("ben", GRACE), "signed in just now");
        assert!(
            pages.doze_if_idle("cat", GRACE),
            "never seen since the start"
        );
        clock.advance(GRACE);
        assert!(pages.doze_if_idle("ben", GRACE));
    }

    #[test]
    fn an_agent_holds_a_bounded_number_of_pages() {
        let pages = Arc::new(LivePages::new(Clock::paused()));
        let slots: Vec<_> = (0..MAX_STREAMS_PER_AGENT)
            .map(|_| pages.open("ann").unwrap())
            .collect();
        assert!(pages.open("ann").is_none());
        assert!(pages.open("ben").is_some());
        drop(slots);
        assert!(pages.open("ann").is_some());
    }
}
