//! Which agents have a page open, for presence: an agent whose last page has been gone for
//! `routing.offline_after_ms` is set offline, and back online when a page of theirs opens again
//! (unless they chose to be offline or away since).
//!
//! A page counts while its live-update stream is open; each agent holds at most
//! [`MAX_STREAMS_PER_AGENT`] streams at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Streams one agent may hold at once: a few tabs and windows, not a flood.
pub const MAX_STREAMS_PER_AGENT: usize = 8;

#[derive(Default)]
struct Pages {
    /// Open streams per agent.
    open: HashMap<String, usize>,
    /// Since when an agent without streams has had none (or signed in, or the process started).
    idle_since: HashMap<String, Instant>,
    /// Agents set offline because their pages were gone: a new page brings them back.
    dozed: HashSet<String>,
}

/// The agents' open pages.
pub struct LivePages {
    pages: Mutex<Pages>,
    started: Instant,
}

impl Default for LivePages {
    fn default() -> Self {
        Self {
            pages: Mutex::default(),
            started: Instant::now(),
        }
    }
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
            pages.idle_since.insert(agent.to_owned(), Instant::now());
        }
    }

    /// True when `agent` has had no page for `grace`: they are to be set offline, and are
    /// remembered as dozed.
    pub fn doze_if_idle(&self, agent: &str, grace: Duration) -> bool {
        let mut pages = self.lock();
        if pages.open.contains_key(agent) {
            return false;
        }
        let since = pages.idle_since.get(agent).copied().unwrap_or(self.started);
        if since.elapsed() < grace {
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
                pages.idle_since.insert(self.agent.clone(), Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_dozes_only_after_their_last_page_is_gone_for_the_grace() {
        let pages = Arc::new(LivePages::default());
        let (first, opened) = pages.open("ann").unwrap();
        assert_eq!(opened, Opened::Same);
        let (second, _) = pages.open("ann").unwrap();
        assert!(!pages.doze_if_idle("ann", Duration::ZERO));
        drop(first);
        assert!(
            !pages.doze_if_idle("ann", Duration::ZERO),
            "one page is still open"
        );
        drop(second);
        assert!(!pages.doze_if_idle("ann", Duration::from_secs(3600)));
        assert!(pages.doze_if_idle("ann", Duration::ZERO));
        let (_again, opened) = pages.open("ann").unwrap();
        assert_eq!(opened, Opened::Returned);
    }

    #[test]
    fn an_agent_holds_a_bounded_number_of_pages() {
        let pages = Arc::new(LivePages::default());
        let slots: Vec<_> = (0..MAX_STREAMS_PER_AGENT)
            .map(|_| pages.open("ann").unwrap())
            .collect();
        assert!(pages.open("ann").is_none());
        assert!(pages.open("ben").is_some());
        drop(slots);
        assert!(pages.open("ann").is_some());
    }
}
