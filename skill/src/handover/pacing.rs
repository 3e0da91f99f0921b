//! Teams' rate limits as sliding windows: at most `sends` in any `length`, per conversation (four
//! windows: 1 s, 2 s, 30 s, 1 h) and per tenant (1 s), so that the skill sends as much as Teams
//! allows and never draws a 429 doing it.
//!
//! A send counts from the moment it is admitted until its answer comes back, and then at the time
//! of that answer: Teams counted it somewhere in between, so a window measured from the answers is
//! never shorter than the one Teams measures, however long the request took. Messages wait for
//! room ([`Admission::At`]); a typing indicator takes room only when there is some now.
//!
//! A 429 that comes all the same (another bot in the conversation, a tighter tenant) halves the
//! conversation's windows for a while, and the tenant's when two of its conversations draw one
//! within its shortest window.
//!
//! Several instances sharing a database send into the same tenants, each counting only its own
//! sends: each takes its share of a tenant's window ([`RateWindows::share`]), the window's sends
//! split between the live instances so that the shares add up to the window (50 a second is 25
//! and 25 for two), and at least one each. A conversation's messages are all sent by the one
//! instance it falls to (the store splits the conversations), which has its windows whole. A
//! typing indicator may come to any instance, so it is shown only within that instance's share of
//! the conversation's windows too: with the share spent, it is dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most `sends` in any `length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub length: Duration,
    pub sends: u32,
}

/// The windows a send must fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub conversation: Vec<Window>,
    pub tenant: Vec<Window>,
    /// How long a 429 halves the windows it came from.
    pub shrink_for: Duration,
}

impl RateLimits {
    /// Teams' documented limits for one bot: 7 a second, 8 per 2 s, 60 per 30 s and 1,800 an hour
    /// in a conversation; 50 a second per tenant.
    pub fn teams() -> RateLimits {
        let window = |ms: u64, sends: u32| Window {
            length: Duration::from_millis(ms),
            sends,
        };
        RateLimits {
            conversation: vec![
                window(1_000, 7),
                window(2_000, 8),
                window(30_000, 60),
                window(3_600_000, 1_800),
            ],
            tenant: vec![window(1_000, 50)],
            shrink_for: Duration::from_secs(60),
        }
    }
}

/// Where a send counts: its conversation and its tenant (Teams' keys, as the courier knows them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateScope {
    pub conversation: Arc<str>,
    pub tenant: Arc<str>,
}

/// When a send may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Now; the send is counted until [`RateWindows::end`].
    Now,
    /// Not before then.
    At(Instant),
}

/// Milliseconds since the windows' start: a quarter of an `Instant`'s size, kept per send for up
/// to an hour.
type Millis = u64;

/// The sends of one key within its longest window.
#[derive(Default)]
struct Log {
    /// When the answers of finished sends came back (rounded up to the millisecond), oldest first.
    done: VecDeque<Millis>,
    /// Sends admitted whose answer has not come.
    pending: u32,
    /// The windows are halved until then.
    shrunk_until: Option<Millis>,
    /// Recent 429s (tenants only), to tell one conversation's from the tenant's.
    throttled: VecDeque<Millis>,
}

/// This instance's place among those sending into the same windows, and how many they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Share {
    place: u32,
    of: u32,
}

impl Share {
    const WHOLE: Share = Share { place: 0, of: 1 };

    /// Of `sends`, this instance's part: an equal split, the remainder to the first places.
    fn of_sends(self, sends: u32) -> u32 {
        let extra = u32::from(self.place < sends % self.of);
        (sends / self.of + extra).max(1)
    }
}

impl Log {
    fn limit(&self, window: &Window, now: Millis, share: Share) -> u32 {
        let sends = share.of_sends(window.sends);
        match self.shrunk_until {
            Some(until) if until > now => (sends / 2).max(1),
            _ => sends,
        }
    }

    /// When one more send fits every window: `now` or later. With as many sends pending as a
    /// window takes, no time is known yet; the earliest check is one shortest gap on.
    fn earliest(&self, windows: &[Window], now: Millis, share: Share) -> Millis {
        let mut at = now;
        for window in windows {
            let (limit, length) = (
                self.limit(window, now, share) as usize,
                millis(window.length),
            );
            let pending = self.pending as usize;
            if pending >= limit {
                at = at.max(now + (length / u64::from(window.sends.max(1))).max(1));
                continue;
            }
            // Room for `limit - pending` finished sends in the window: the one that many back
            // from the newest must have left it.
            let room = limit - pending;
            if self.done.len() >= room {
                let blocking = self.done[self.done.len() - room];
                at = at.max(blocking + length);
            }
        }
        at
    }

    fn finish(&mut self, at: Millis) {
        self.pending = self.pending.saturating_sub(1);
        // Answers come back nearly in order: insert from the back.
        let position = self
            .done
            .iter()
            .rposition(|&earlier| earlier <= at)
            .map_or(0, |index| index + 1);
        self.done.insert(position, at);
    }

    /// Drops what no window of `longest` can see any more.
    fn prune(&mut self, longest: Millis, now: Millis) {
        while let Some(&oldest) = self.done.front() {
            if oldest + longest > now {
                break;
            }
            self.done.pop_front();
        }
        if self.shrunk_until.is_some_and(|until| until <= now) {
            self.shrunk_until = None;
        }
        if self.done.capacity() > 64 && self.done.len() < self.done.capacity() / 4 {
            self.done.shrink_to(self.done.len() * 2);
        }
    }

    fn idle(&self) -> bool {
        self.done.is_empty()
            && self.pending == 0
            && self.shrunk_until.is_none()
            && self.throttled.is_empty()
    }
}

fn millis(duration: Duration) -> Millis {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 4)
}

/// Logs kept before idle ones are swept.
const SWEEP_ABOVE: usize = 4_096;

struct Logs {
    conversations: HashMap<Arc<str>, Log>,
    tenants: HashMap<Arc<str>, Log>,
    /// Sizes at the last sweep.
    swept_at: usize,
    /// This instance's share of every window.
    share: Share,
    /// Nothing is admitted before this (an instance joining others, until they know of it).
    held_until: Millis,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            conversations: HashMap::new(),
            tenants: HashMap::new(),
            swept_at: 0,
            share: Share::WHOLE,
            held_until: 0,
        }
    }
}

/// The windows of every conversation and tenant, shared by the Teams lane's worker and the typing
/// indicator.
pub struct RateWindows {
    limits: RateLimits,
    /// Times are kept as milliseconds since this.
    base: Instant,
    /// The longest window of a conversation, and of a tenant: how long each kind keeps its sends.
    longest_conversation: Millis,
    longest_tenant: Millis,
    /// Two 429s of one tenant within this (its shortest window) halve the tenant's windows.
    shortest_tenant: Millis,
    logs: Mutex<Logs>,
}

impl RateWindows {
    pub fn new(limits: RateLimits) -> RateWindows {
        RateWindows::starting(limits, Instant::now())
    }

    /// Windows whose times count from `base` (no later than any time they are given).
    pub fn starting(limits: RateLimits, base: Instant) -> RateWindows {
        let longest = |windows: &[Window]| {
            windows
                .iter()
                .map(|window| millis(window.length))
                .max()
                .unwrap_or_default()
        };
        RateWindows {
            longest_conversation: longest(&limits.conversation),
            shortest_tenant: limits
                .tenant
                .iter()
                .map(|window| millis(window.length))
                .min()
                .unwrap_or_default(),
            longest_tenant: longest(&limits.tenant),
            limits,
            base,
            logs: Mutex::new(Logs::default()),
        }
    }

    /// `at` in milliseconds since the base: rounded down for a moment to check, up for a send's
    /// answer, so that a window is never measured shorter than it was.
    fn since_base(&self, at: Instant, round_up: bool) -> Millis {
        let elapsed = at.saturating_duration_since(self.base);
        let whole = millis(elapsed);
        if round_up && elapsed > Duration::from_millis(whole) {
            whole + 1
        } else {
            whole
        }
    }

    fn logs(&self) -> std::sync::MutexGuard<'_, Logs> {
        self.logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When a message into `scope` may start; [`Admission::Now`] counts it from now on.
    pub fn admit(&self, scope: &RateScope, at: Instant) -> Admission {
        self.admit_as(scope, at, false)
    }

    /// [`Self::admit`], for a typing indicator (`typing`, held to this instance's share of the
    /// conversation's windows) or for a message of a conversation that falls to this instance
    /// (its windows whole).
    fn admit_as(&self, scope: &RateScope, at: Instant, typing: bool) -> Admission {
        let now = self.since_base(at, false);
        let mut logs = self.logs();
        let logs = &mut *logs;
        let conversation = logs
            .conversations
            .entry(scope.conversation.clone())
            .or_default();
        conversation.prune(self.longest_conversation, now);
        let tenant = logs.tenants.entry(scope.tenant.clone()).or_default();
        tenant.prune(self.longest_tenant, now);
        let conversation_share = if typing { logs.share } else { Share::WHOLE };
        let earliest = conversation
            .earliest(&self.limits.conversation, now, conversation_share)
            .max(tenant.earliest(&self.limits.tenant, now, logs.share))
            .max(logs.held_until);
        if earliest > now {
            return Admission::At(self.base + Duration::from_millis(earliest));
        }
        conversation.pending += 1;
        tenant.pending += 1;
        Admission::Now
    }

    /// Counts a typing indicator into `scope` now if it fits, until the [`Taken`] ends (or is
    /// dropped: a send abandoned halfway still counted, from then).
    pub fn try_take(self: &Arc<Self>, scope: &RateScope, now: Instant) -> Option<Taken> {
        (self.admit_as(scope, now, true) == Admission::Now).then(|| Taken {
            windows: self.clone(),
            scope: scope.clone(),
            ended: false,
        })
    }

    /// This instance is `place` (from 0) of `live` instances sending into the same tenants: from
    /// now on it admits its share of each tenant's window (and typing, of each conversation's).
    pub fn share(&self, place: usize, live: usize) {
        let live = u32::try_from(live.max(1)).unwrap_or(u32::MAX);
        let place = u32::try_from(place).unwrap_or(u32::MAX).min(live - 1);
        let share = Share { place, of: live };
        let mut logs = self.logs();
        if logs.share != share {
            tracing::info!(
                place,
                live,
                "Teams' windows are shared with the other instances"
            );
            logs.share = share;
        }
    }

    /// Admits nothing before `until`: an instance joining others sends nothing to Teams until they
    /// have all taken their smaller shares.
    pub fn hold_until(&self, until: Instant) {
        let until = self.since_base(until, true);
        let mut logs = self.logs();
        logs.held_until = logs.held_until.max(until);
    }

    /// A send admitted into `scope` will not be made after all: it counts for nothing.
    pub fn withdraw(&self, scope: &RateScope) {
        let mut logs = self.logs();
        if let Some(conversation) = logs.conversations.get_mut(&scope.conversation) {
            conversation.pending = conversation.pending.saturating_sub(1);
        }
        if let Some(tenant) = logs.tenants.get_mut(&scope.tenant) {
            tenant.pending = tenant.pending.saturating_sub(1);
        }
    }

    /// A send admitted into `scope` got its answer at `at`; `throttled` when it was a 429.
    pub fn end(&self, scope: &RateScope, at: Instant, throttled: bool) {
        let at = self.since_base(at, true);
        let mut logs = self.logs();
        let logs = &mut *logs;
        let shrink_until = at + millis(self.limits.shrink_for);
        if let Some(conversation) = logs.conversations.get_mut(&scope.conversation) {
            conversation.finish(at);
            if throttled {
                conversation.shrunk_until = Some(shrink_until);
            }
        }
        if let Some(tenant) = logs.tenants.get_mut(&scope.tenant) {
            tenant.finish(at);
            if throttled {
                while tenant
                    .throttled
                    .front()
                    .is_some_and(|&earlier| earlier + self.shortest_tenant <= at)
                {
                    tenant.throttled.pop_front();
                }
                tenant.throttled.push_back(at);
                if tenant.throttled.len() >= 2 {
                    tenant.shrunk_until = Some(shrink_until);
                }
            }
        }
        let size = logs.conversations.len() + logs.tenants.len();
        if size > SWEEP_ABOVE && size > logs.swept_at * 2 {
            let keep = self.longest_conversation.max(self.longest_tenant);
            for log in logs.conversations.values_mut() {
                log.prune(self.longest_conversation, at);
            }
            for log in logs.tenants.values_mut() {
                log.prune(self.longest_tenant, at);
                log.throttled.retain(|&when| when + keep > at);
            }
            logs.conversations.retain(|_, log| !log.idle());
            logs.tenants.retain(|_, log| !log.idle());
            logs.swept_at = logs.conversations.len() + logs.tenants.len();
        }
    }
}

/// A send counted in the windows until it ends.
pub struct Taken {
    windows: Arc<RateWindows>,
    scope: RateScope,
    ended: bool,
}

impl Taken {
    /// The answer came; `throttled` when it was a 429.
    pub fn end(mut self, throttled: bool) {
        self.ended = true;
        self.windows.end(&self.scope, Instant::now(), throttled);
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if !self.ended {
            self.windows.end(&self.scope, Instant::now(), false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(conversation: &str, tenant: &str) -> RateScope {
        RateScope {
            conversation: Arc::from(conversation),
            tenant: Arc::from(tenant),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends as fast as admitted into `scope`, each answered `latency` after it started, from
    /// `start` for `until`; returns the start times.
    fn greedy(
        windows: &RateWindows,
        scope: &RateScope,
        start: Instant,
        until: Duration,
        latency: Duration,
    ) -> Vec<Instant> {
        let mut now = start;
        let mut sent = Vec::new();
        while now < start + until {
            match windows.admit(scope, now) {
                Admission::Now => {
                    sent.push(now);
                    now += latency;
                    windows.end(scope, now, false);
                }
                Admission::At(at) => {
                    assert!(at > now);
                    now = at;
                }
            }
        }
        sent
    }

    /// At most `sends` of `times` in any half-open window of `length`.
    fn fits(times: &[Instant], window: Window) -> bool {
        times.iter().enumerate().all(|(index, &start)| {
            times[index..]
                .iter()
                .take_while(|&&t| t < start + window.length)
                .count()
                <= window.sends as usize
        })
    }

    #[test]
    fn a_conversation_sends_seven_at_once_then_as_its_longer_windows_allow() {
        let start = Instant::now();
        let windows = RateWindows::starting(RateLimits::teams(), start);
        let sent = greedy(
            &windows,
            &scope("a", "t"),
            start,
            Duration::from_secs(30),
            ms(0),
        );
        // 7 in the first second, the 8th at 1 s, then the 2 s window: 8 every 2 s until the 30 s
        // window's 60 are spent.
        assert_eq!(sent[..7], [start; 7]);
        assert_eq!(sent[7], start + ms(1_000));
        assert_eq!(sent[8], start + ms(2_000));
        assert_eq!(sent.len(), 60);
        for window in RateLimits::teams().conversation {
            assert!(fits(&sent, window), "{window:?}");
        }
        // The 61st waits for the first to leave the 30 s window.
        assert_eq!(
            windows.admit(&scope("a", "t"), start + ms(29_999)),
            Admission::At(start + ms(30_000))
        );
    }

    /// Windows of one send per `length` in a conversation, nothing else.
    fn one_send_per(length: Duration, start: Instant) -> RateWindows {
        RateWindows::starting(
            RateLimits {
                conversation: vec![Window { length, sends: 1 }],
                tenant: vec![],
                shrink_for: Duration::ZERO,
            },
            start,
        )
    }

    #[test]
    fn a_withdrawn_admission_counts_for_nothing() {
        let start = Instant::now();
        let windows = one_send_per(ms(30_000), start);
        let a = scope("a", "t");
        assert_eq!(windows.admit(&a, start), Admission::Now);
        // Not made after all (a delivery whose claim ran out): the one send fits again at once,
        // where an ended send would hold the window for 30 s.
        windows.withdraw(&a);
        assert_eq!(windows.admit(&a, start + ms(10)), Admission::Now);
        windows.end(&a, start + ms(20), false);
        assert_eq!(
            windows.admit(&a, start + ms(30)),
            Admission::At(start + ms(30_020))
        );
    }

    #[test]
    fn windows_count_from_the_answer_so_a_slow_request_never_shortens_them() {
        let start = Instant::now();
        let windows = one_send_per(ms(1_000), start);
        let a = scope("a", "t");
        assert_eq!(windows.admit(&a, start), Admission::Now);
        // Pending: no room, and no time known yet.
        assert!(matches!(
            windows.admit(&a, start + ms(500)),
            Admission::At(_)
        ));
        windows.end(&a, start + ms(700), false);
        assert_eq!(
            windows.admit(&a, start + ms(900)),
            Admission::At(start + ms(1_700))
        );
        assert_eq!(windows.admit(&a, start + ms(1_700)), Admission::Now);
    }

    #[test]
    fn a_tenant_is_shared_by_its_conversations_and_others_are_not_held_back() {
        let start = Instant::now();
        let windows = RateWindows::starting(RateLimits::teams(), start);
        let mut admitted = 0;
        for n in 0..60 {
            let one = scope(&format!("c{n}"), "busy");
            if windows.admit(&one, start) == Admission::Now {
                windows.end(&one, start, false);
                admitted += 1;
            }
        }
        assert_eq!(admitted, 50);
        assert_eq!(
            windows.admit(&scope("c99", "busy"), start + ms(10)),
            Admission::At(start + ms(1_000))
        );
        assert_eq!(windows.admit(&scope("c0", "quiet"), start), Admission::Now);
    }

    #[test]
    fn instances_split_tenants_and_typing_and_a_conversation_has_its_windows_whole() {
        let start = Instant::now();
        // In one second, per conversation and per tenant, greedily, as each instance would.
        let in_a_second = |windows: &RateWindows, conversations: usize| {
            let mut admitted = 0;
            for n in 0..conversations {
                let one = scope(&format!("c{n}"), "t");
                while windows.admit(&one, start) == Admission::Now {
                    windows.end(&one, start, false);
                    admitted += 1;
                }
            }
            admitted
        };
        let typing_in_a_second = |windows: &Arc<RateWindows>| {
            let one = scope("c0", "t");
            std::iter::from_fn(|| windows.try_take(&one, start).map(|taken| taken.end(false)))
                .count()
        };
        for live in [1, 2, 3] {
            let (mut tenant, mut typing) = (0, 0);
            for place in 0..live {
                // The instance a conversation falls to sends its messages at its whole windows.
                let windows = Arc::new(RateWindows::starting(RateLimits::teams(), start));
                windows.share(place, live);
                assert_eq!(in_a_second(&windows, 1), 7, "{live} instance(s)");
                let windows = Arc::new(RateWindows::starting(RateLimits::teams(), start));
                windows.share(place, live);
                typing += typing_in_a_second(&windows);
                let windows = RateWindows::starting(RateLimits::teams(), start);
                windows.share(place, live);
                tenant += in_a_second(&windows, 60);
            }
            assert_eq!((typing, tenant), (7, 50), "{live} instance(s)");
        }
        // A window smaller than the instances still lets each send one (typing, held to its share).
        let windows = Arc::new(one_send_per(ms(1_000), start));
        windows.share(1, 2);
        assert!(windows.try_take(&scope("b", "t"), start).is_some());
        assert_eq!(windows.admit(&scope("a", "t"), start), Admission::Now);
        // Joining others: nothing until they have heard of it, typing dropped meanwhile.
        let windows = Arc::new(RateWindows::starting(RateLimits::teams(), start));
        windows.hold_until(start + ms(2_000));
        assert_eq!(
            windows.admit(&scope("a", "t"), start),
            Admission::At(start + ms(2_000))
        );
        assert!(windows
            .try_take(&scope("a", "t"), start + ms(1_999))
            .is_none());
        assert_eq!(
            windows.admit(&scope("a", "t"), start + ms(2_000)),
            Admission::Now
        );
        // Alone again: the whole window, the tenant's too.
        let windows = RateWindows::starting(RateLimits::teams(), start);
        windows.share(1, 2);
        windows.share(0, 1);
        assert_eq!(in_a_second(&windows, 1), 7);
        assert_eq!(in_a_second(&windows, 60), 43, "50 a second, 7 spent");
    }

    #[test]
    fn a_429_halves_the_conversation_for_a_while_and_two_halve_the_tenant() {
        let start = Instant::now();
        let windows = RateWindows::starting(RateLimits::teams(), start);
        let a = scope("a", "t");
        assert_eq!(windows.admit(&a, start), Admission::Now);
        windows.end(&a, start, true);
        let sent = greedy(&windows, &a, start + ms(1), ms(999), ms(0));
        assert_eq!(sent.len(), 2, "7 halved is 3, one spent");
        // After the shrink (60 s) the full windows are back.
        let later = start + Duration::from_secs(3_601);
        assert_eq!(greedy(&windows, &a, later, ms(999), ms(0)).len(), 7);

        // One 429 in a tenant leaves it whole; a second from another conversation halves it.
        let tenant_wide = |n: usize| {
            let mut admitted = 0;
            for c in 0..60 {
                let one = scope(&format!("x{n}-{c}"), "u");
                let at = start + Duration::from_secs(n as u64 * 10);
                if windows.admit(&one, at) == Admission::Now {
                    windows.end(&one, at, false);
                    admitted += 1;
                }
            }
            admitted
        };
        let b = scope("b", "u");
        assert_eq!(windows.admit(&b, start), Admission::Now);
        windows.end(&b, start, true);
        assert_eq!(tenant_wide(1), 50);
        let c = scope("c", "u");
        let at = start + ms(20_000);
        for one in [&b, &c] {
            assert_eq!(windows.admit(one, at), Admission::Now);
            windows.end(one, at, true);
        }
        assert_eq!(tenant_wide(3), 25);
    }
}
