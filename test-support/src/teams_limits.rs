//! A fake Teams' rate limits, enforced exactly as documented: per conversation 7 sends in any 1 s,
//! 8 in 2 s, 60 in 30 s and 1,800 in an hour; per tenant 50 in any 1 s. Written apart from the
//! skill's own pacing (which it checks), the plain way: every accepted arrival kept and counted.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Windows as (length, sends): at most `sends` arrivals in any `length`.
pub type Windows = Vec<(Duration, u32)>;

/// Teams' documented windows for one bot in one conversation.
pub fn teams_conversation_windows() -> Windows {
    vec![
        (Duration::from_secs(1), 7),
        (Duration::from_secs(2), 8),
        (Duration::from_secs(30), 60),
        (Duration::from_secs(3_600), 1_800),
    ]
}

/// Teams' documented window for one app in one tenant.
pub fn teams_tenant_windows() -> Windows {
    vec![(Duration::from_secs(1), 50)]
}

/// Accepted arrivals by key.
type Arrivals = HashMap<String, VecDeque<Instant>>;

/// Accepted arrivals by conversation and by tenant, and the 429s answered.
pub struct TeamsLimits {
    conversation: Windows,
    tenant: Windows,
    arrivals: Mutex<(Arrivals, Arrivals)>,
    throttled: AtomicU64,
}

impl TeamsLimits {
    pub fn new(conversation: Windows, tenant: Windows) -> TeamsLimits {
        TeamsLimits {
            conversation,
            tenant,
            arrivals: Mutex::new((HashMap::new(), HashMap::new())),
            throttled: AtomicU64::new(0),
        }
    }

    /// Teams' own figures.
    pub fn teams() -> TeamsLimits {
        TeamsLimits::new(teams_conversation_windows(), teams_tenant_windows())
    }

    /// A send into `conversation` of `tenant` arriving `now`: accepted and counted, or refused with
    /// how long until it would fit (a 429's `Retry-After`).
    pub fn arrive(&self, conversation: &str, tenant: &str, now: Instant) -> Result<(), Duration> {
        let mut arrivals = self.arrivals.lock().unwrap();
        let (conversations, tenants) = &mut *arrivals;
        let by_conversation = conversations.entry(conversation.to_owned()).or_default();
        let by_tenant = tenants.entry(tenant.to_owned()).or_default();
        let mut wait = Duration::ZERO;
        for (log, windows) in [
            (&*by_conversation, &self.conversation),
            (&*by_tenant, &self.tenant),
        ] {
            for &(length, sends) in windows {
                // Arrivals within (now - length, now].
                let inside: Vec<Instant> = log
                    .iter()
                    .copied()
                    .filter(|&at| at + length > now)
                    .collect();
                if inside.len() >= sends as usize {
                    let oldest_to_leave = inside[inside.len() - sends as usize];
                    wait = wait.max(oldest_to_leave + length - now);
                }
            }
        }
        if !wait.is_zero() {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(wait);
        }
        let longest = |windows: &Windows| windows.iter().map(|w| w.0).max().unwrap_or_default();
        for (log, keep) in [
            (by_conversation, longest(&self.conversation)),
            (by_tenant, longest(&self.tenant)),
        ] {
            log.push_back(now);
            while log.front().is_some_and(|&at| at + keep <= now) {
                log.pop_front();
            }
        }
        Ok(())
    }

    /// 429s answered so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

/// The most sends a greedy sender could have made by `until` of `offered` (conversation, tenant,
/// when it was ready to go, in that order per conversation), one at a time per conversation and
/// answered at once: what the windows allow of that load.
pub fn allowed(
    conversation_windows: &Windows,
    tenant_windows: &Windows,
    offered: &[(String, String, Instant)],
    until: Instant,
) -> usize {
    let limits = TeamsLimits::new(conversation_windows.clone(), tenant_windows.clone());
    let mut by_conversation: HashMap<&str, VecDeque<(&str, Instant)>> = HashMap::new();
    for (conversation, tenant, at) in offered {
        by_conversation
            .entry(conversation)
            .or_default()
            .push_back((tenant, *at));
    }
    // An event queue of (time, conversation): each conversation's head tried at its time.
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, &str)>> =
        by_conversation
            .iter()
            .filter_map(|(conversation, queue)| {
                queue
                    .front()
                    .map(|(_, at)| std::cmp::Reverse((*at, *conversation)))
            })
            .collect();
    let mut sent = 0;
    while let Some(std::cmp::Reverse((now, conversation))) = heap.pop() {
        if now > until {
            break;
        }
        let queue = by_conversation.get_mut(conversation).unwrap();
        let Some(&(tenant, ready)) = queue.front() else {
            continue;
        };
        let now = now.max(ready);
        match limits.arrive(conversation, tenant, now) {
            Ok(()) => {
                sent += 1;
                queue.pop_front();
                if let Some(&(_, next)) = queue.front() {
                    heap.push(std::cmp::Reverse((next.max(now), conversation)));
                }
            }
            Err(wait) => heap.push(std::cmp::Reverse((now + wait, conversation))),
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_refuse_the_eighth_in_a_second_and_say_when() {
        let limits = TeamsLimits::teams();
        let start = Instant::now();
        for _ in 0..7 {
            assert!(limits.arrive("a", "t", start).is_ok());
        }
        assert_eq!(
            limits.arrive("a", "t", start + Duration::from_millis(400)),
            Err(Duration::from_millis(600))
        );
        assert!(limits
            .arrive("a", "t", start + Duration::from_secs(1))
            .is_ok());
        assert_eq!(limits.throttled(), 1);
    }

    #[test]
    fn a_greedy_sender_to_one_conversation_gets_sixty_in_thirty_seconds() {
        let start = Instant::now();
        let offered: Vec<_> = (0..100)
            .map(|_| ("a".to_owned(), "t".to_owned(), start))
            .collect();
        let sent = allowed(
            &teams_conversation_windows(),
            &teams_tenant_windows(),
            &offered,
            start + Duration::from_millis(29_999),
        );
        assert_eq!(sent, 60);
    }
}
