//! Sign-in under attack: failed attempts slow down each account and each client address (a
//! growing delay), and lock only the pair of the account and the client that failed (a temporary
//! lock), so that nobody can lock an agent out by failing on purpose from elsewhere: the right
//! password from another client is at most slowed. At most a few password verifications run at
//! once. Behind a proxy the client is the address the proxy names (`client_ip_header`).
//!
//! A refused attempt costs no password verification at all, so a flood spends neither memory
//! (argon2 takes 19 MiB per verification) nor cores. A success resets the account and the address.
//! The state is in memory: a restart forgets it, which only ever lets a waiting agent in sooner.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use service_support::clock::Clock;

use tokio::sync::{Semaphore, SemaphorePermit};

/// A point in time, as the service's clock tells it (since the Unix epoch): tests move it.
pub type Moment = Duration;

/// Failures allowed without any delay.
const FREE_FAILURES: u32 = 3;
/// The first delay after the free failures; doubled per further failure up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(30);
/// The longest delay failures elsewhere impose on an account (its owner waits at most this).
const MAX_ACCOUNT_DELAY: Duration = Duration::from_secs(5);
/// Failures after which the account, from that client, is locked for [`LOCK_TIME`].
const LOCK_AFTER: u32 = 10;
const LOCK_TIME: Duration = Duration::from_secs(15 * 60);
/// A record with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);
/// Records kept at most; beyond it the oldest are dropped (a flood of addresses cannot grow it).
const MAX_RECORDS: usize = 10_000;
/// Password verifications at once, and how long an attempt waits for its turn.
const VERIFICATIONS_AT_ONCE: usize = 2;
const VERIFICATION_WAIT: Duration = Duration::from_secs(5);

/// Whose failures count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    /// Slowed (up to [`MAX_ACCOUNT_DELAY`]), never locked.
    Account(String),
    /// Slowed, never locked: behind a proxy that names no client, every client shares it.
    Client(IpAddr),
    /// Slowed, then locked.
    AccountFromClient(String, IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Moment,
}

impl Failures {
    /// When the next attempt by `subject` may be made, if not now.
    fn next_allowed(&self, subject: &Subject) -> Option<(Moment, Refusal)> {
        let (locks, max_delay) = match subject {
            Subject::Account(_) => (false, MAX_ACCOUNT_DELAY),
            Subject::Client(_) => (false, MAX_DELAY),
            Subject::AccountFromClient(..) => (true, MAX_DELAY),
        };
        if locks && self.count >= LOCK_AFTER {
            return Some((self.last + LOCK_TIME, Refusal::Locked));
        }
        if self.count < FREE_FAILURES {
            return None;
        }
        let doublings = (self.count - FREE_FAILURES).min(16);
        let delay = FIRST_DELAY.saturating_mul(1 << doublings).min(max_delay);
        Some((self.last + delay, Refusal::Wait))
    }
}

/// Why an attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many recent failures: try again after a short delay.
    Wait,
    /// Locked after many failures.
    Locked,
    /// Too many verifications running: the service is busy.
    Busy,
}

/// A refused attempt and how long until the next may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub why: Refusal,
    pub retry_after: Duration,
}

impl Refused {
    /// What the sign-in page says.
    pub fn message(&self) -> String {
        let seconds = self.retry_after.as_secs().max(1);
        match self.why {
            Refusal::Wait => format!("Too many failed sign-ins. Try again in {seconds} s."),
            Refusal::Locked => format!(
                "Too many failed sign-ins: sign-in is locked for {} min. Ask an administrator if this was not you.",
                seconds.div_ceil(60)
            ),
            Refusal::Busy => "The live chat is busy. Try again in a few seconds.".to_owned(),
        }
    }
}

/// The sign-in throttle, shared by every worker.
pub struct SignInThrottle {
    failures: Mutex<HashMap<Subject, Failures>>,
    verifications: Semaphore,
    /// The header a trusted proxy names the client in (`application.client_ip_header`).
    client_ip_header: Option<String>,
    clock: Clock,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self::new(None, Clock::system())
    }
}

impl SignInThrottle {
    /// A throttle that takes the client's address from `client_ip_header` when set, and the
    /// time from `clock`.
    pub fn new(client_ip_header: Option<String>, clock: Clock) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            verifications: Semaphore::new(VERIFICATIONS_AT_ONCE),
            client_ip_header,
            clock,
        }
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> Moment {
        Duration::from_millis(u64::try_from(self.clock.now_ms()).unwrap_or(0))
    }

    /// The client a request comes from: the last address in the trusted proxy's header (the one
    /// the proxy itself added; earlier ones are the client's word), else the connection's.
    pub fn client_of(&self, request: &actix_web::HttpRequest) -> Option<IpAddr> {
        match &self.client_ip_header {
            Some(header) => request
                .headers()
                .get_all(header.as_str())
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .last()
                .and_then(|address| parse_address(address.trim())),
            None => request.peer_addr().map(|address| address.ip()),
        }
    }

    fn subjects(username: &str, client: Option<IpAddr>) -> Vec<Subject> {
        let account = username.trim().to_lowercase();
        let mut subjects = vec![Subject::Account(account.clone())];
        if let Some(client) = client {
            subjects.push(Subject::Client(client));
            subjects.push(Subject::AccountFromClient(account, client));
        }
        subjects
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<Subject, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks whether an attempt may go ahead, at `now`.
    pub fn check(
        &self,
        username: &str,
        client: Option<IpAddr>,
        now: Moment,
    ) -> Result<(), Refused> {
        let records = self.records();
        let worst = Self::subjects(username, client)
            .iter()
            .filter_map(|subject| records.get(subject)?.next_allowed(subject))
            .filter(|(at, _)| *at > now)
            .max_by_key(|(at, _)| *at);
        match worst {
            Some((at, why)) => Err(Refused {
                why,
                retry_after: at - now,
            }),
            None => Ok(()),
        }
    }

    /// Waits for a turn to verify a password; `Busy` after a few seconds in line.
    pub async fn verification_turn(&self) -> Result<SemaphorePermit<'_>, Refused> {
        let busy = Refused {
            why: Refusal::Busy,
            retry_after: Duration::from_secs(5),
        };
        match tokio::time::timeout(VERIFICATION_WAIT, self.verifications.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy),
        }
    }

    /// Counts a failed attempt against the account, the address, and the two together.
    pub fn failed(&self, username: &str, client: Option<IpAddr>, now: Moment) {
        let mut records = self.records();
        if records.len() >= MAX_RECORDS {
            records.retain(|_, failures| now.saturating_sub(failures.last) < FORGET_AFTER);
            if records.len() >= MAX_RECORDS {
                // Still full: drop the oldest half.
                let mut by_age: Vec<(Moment, Subject)> = records
                    .iter()
                    .map(|(subject, failures)| (failures.last, subject.clone()))
                    .collect();
                by_age.sort_unstable_by_key(|(last, _)| *last);
                for (_, subject) in by_age.into_iter().take(MAX_RECORDS / 2) {
                    records.remove(&subject);
                }
            }
        }
        for subject in Self::subjects(username, client) {
            let record = records.entry(subject).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.saturating_sub(record.last) >= FORGET_AFTER {
                record.count = 0;
            }
            record.count = record.count.saturating_add(1);
            record.last = now;
        }
    }

    /// A success: the account and the address start afresh.
    pub fn succeeded(&self, username: &str, client: Option<IpAddr>) {
        let mut records = self.records();
        for subject in Self::subjects(username, client) {
            records.remove(&subject);
        }
    }
}

/// An address as a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:5678` or `::1`.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn delays_grow_then_lock_and_a_success_resets() {
        let throttle = SignInThrottle::default();
        let start = Duration::from_secs(1_000_000);
        for n in 0..FREE_FAILURES {
            assert!(throttle.check("ann", CLIENT, start).is_ok(), "{n}");
            throttle.failed("ann", CLIENT, start);
        }
        let refused = throttle.check("Ann", None, start).unwrap_err();
        assert_eq!(refused.why, Refusal::Wait);
        assert_eq!(refused.retry_after, FIRST_DELAY);
        // Another account from the same address is slowed too.
        assert!(throttle.check("bob", CLIENT, start).is_err());
        assert!(throttle.check("bob", None, start).is_ok());

        let mut now = start;
        for _ in FREE_FAILURES..LOCK_AFTER {
            now += MAX_DELAY;
            assert!(throttle.check("ann", CLIENT, now).is_ok());
            throttle.failed("ann", CLIENT, now);
        }
        let locked = throttle.check("ann", CLIENT, now + MAX_DELAY).unwrap_err();
        assert_eq!(locked.why, Refusal::Locked);
        assert!(locked.message().contains("locked"));
        assert!(throttle.check("ann", CLIENT, now + LOCK_TIME).is_ok());

        throttle.succeeded("ann", CLIENT);
        assert!(throttle.check("ann", CLIENT, now).is_ok());
    }

    #[test]
    fn failures_from_one_client_never_lock_the_account_out_from_another() {
        let throttle = SignInThrottle::default();
        let attacker = Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9)));
        let agent = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7)));
        let mut now = Duration::from_secs(1_000_000);
        for _ in 0..(LOCK_AFTER * 3) {
            now += MAX_DELAY;
            throttle.failed("ann", attacker, now);
        }
        assert_eq!(
            throttle.check("ann", attacker, now).unwrap_err().why,
            Refusal::Locked
        );
        // From elsewhere: slowed by at most the account's delay, then let in.
        match throttle.check("ann", agent, now) {
            Ok(()) => {}
            Err(refused) => {
                assert_eq!(refused.why, Refusal::Wait);
                assert!(refused.retry_after <= MAX_ACCOUNT_DELAY);
            }
        }
        assert!(throttle
            .check("ann", agent, now + MAX_ACCOUNT_DELAY)
            .is_ok());
    }

    #[test]
    fn a_flood_of_addresses_stays_bounded() {
        let throttle = SignInThrottle::default();
        let now = Duration::from_secs(1_000_000);
        for n in 0..(MAX_RECORDS as u32 + 500) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(n));
            throttle.failed(
                "ann",
                Some(address),
                now + Duration::from_millis(u64::from(n)),
            );
        }
        assert!(throttle.records().len() <= MAX_RECORDS + 2);
        // The account, failing all along, is among the newest and still throttled.
        assert!(throttle
            .check("ann", None, now + Duration::from_secs(11))
            .is_err());
    }

    #[tokio::test]
    async fn only_a_few_verifications_run_at_once() {
        let throttle = SignInThrottle::default();
        let _first = throttle.verification_turn().await.unwrap();
        let _second = throttle.verification_turn().await.unwrap();
        assert_eq!(throttle.verifications.available_permits(), 0);
    }
}
