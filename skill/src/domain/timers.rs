//! The one timer an open session has, and what ends a chat: the deadlines are stored with the
//! session (so they survive a restart and fire once across instances), computed here from the
//! configured [`Timeouts`].

use std::time::Duration;

/// What a session's timer is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Waiting for an agent: when due, the chat ends with `queueTimeout`.
    Queue,
    /// The customer has written nothing for a while: when due, they are warned.
    Warn,
    /// The customer has written nothing for longer: when due, the chat ends with `inactive`.
    Idle,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Queue => "queue",
            TimerKind::Warn => "warn",
            TimerKind::Idle => "idle",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [TimerKind::Queue, TimerKind::Warn, TimerKind::Idle]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A deadline: `kind` falls due at `due_ms` (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    pub due_ms: i64,
}

/// How long a chat may wait or stay silent; `None` switches that timer off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// Waiting in the queue for an agent.
    pub queue: Option<Duration>,
    /// The customer writing nothing, until they are warned.
    pub inactivity_warning: Option<Duration>,
    /// The customer writing nothing, until the chat is closed.
    pub inactivity: Option<Duration>,
}

fn after(now_ms: i64, duration: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

impl Timeouts {
    /// The timer of a session that just opened: the queue's while it waits for an agent (no
    /// inactivity is counted then), else the inactivity timer.
    pub fn at_open(&self, queued: bool, now_ms: i64) -> Option<Timer> {
        if queued {
            return self.queue.map(|queue| Timer {
                kind: TimerKind::Queue,
                due_ms: after(now_ms, queue),
            });
        }
        self.inactivity_from(now_ms)
    }

    /// The inactivity timer counted from `now_ms` (a customer message, an agent joining): the
    /// warning first, when there is one before the end.
    pub fn inactivity_from(&self, now_ms: i64) -> Option<Timer> {
        match (self.inactivity_warning, self.inactivity) {
            (Some(warning), Some(end)) if warning < end => Some(Timer {
                kind: TimerKind::Warn,
                due_ms: after(now_ms, warning),
            }),
            (_, Some(end)) => Some(Timer {
                kind: TimerKind::Idle,
                due_ms: after(now_ms, end),
            }),
            (Some(warning), None) => Some(Timer {
                kind: TimerKind::Warn,
                due_ms: after(now_ms, warning),
            }),
            (None, None) => None,
        }
    }

    /// How early an inactivity deadline may be stored, so that a customer writing often restarts
    /// it once in a while rather than with every message: a twentieth of the shortest inactivity
    /// timer, at most 15 s (15 s for the default 5-minute warning).
    pub fn resolution_ms(&self) -> i64 {
        let shortest = [self.inactivity_warning, self.inactivity]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_default();
        i64::try_from((shortest / 20).min(Duration::from_secs(15)).as_millis()).unwrap_or(0)
    }

    /// What follows a warning that fell due: the end, as long after the customer's last message
    /// as configured (the warning's deadline counts from that message too).
    pub fn after_warning(&self, warning: Timer) -> Option<Timer> {
        let silent_since = warning.due_ms
            - i64::try_from(self.inactivity_warning.unwrap_or_default().as_millis())
                .unwrap_or(i64::MAX);
        self.inactivity.map(|end| Timer {
            kind: TimerKind::Idle,
            due_ms: after(silent_since, end).max(warning.due_ms),
        })
    }
}

/// How a chat ended, as the action that held it tells Copilot Studio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatOutcome {
    /// The agent closed the chat.
    AgentEnded,
    /// Nobody took the chat in time.
    QueueTimeout,
    /// The customer wrote nothing for too long.
    Inactive,
    /// The session failed (it could not be opened, or was interrupted).
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n * 60))
    }

    const DEFAULTS: Timeouts = Timeouts {
        queue: Some(Duration::from_secs(600)),
        inactivity_warning: Some(Duration::from_secs(300)),
        inactivity: Some(Duration::from_secs(600)),
    };

    #[test]
    fn a_queued_session_waits_for_the_queue_timer_only() {
        assert_eq!(
            DEFAULTS.at_open(true, 1_000),
            Some(Timer {
                kind: TimerKind::Queue,
                due_ms: 601_000
            })
        );
        let no_queue_timeout = Timeouts {
            queue: None,
            ..DEFAULTS
        };
        assert_eq!(no_queue_timeout.at_open(true, 1_000), None);
    }

    #[test]
    fn the_warning_comes_first_and_the_end_counts_from_the_last_message() {
        let warning = DEFAULTS.at_open(false, 0).unwrap();
        assert_eq!(
            warning,
            Timer {
                kind: TimerKind::Warn,
                due_ms: 300_000
            }
        );
        // Fired a little late: the end still counts from the customer's last message.
        let late = Timer {
            due_ms: 300_000,
            ..warning
        };
        assert_eq!(
            DEFAULTS.after_warning(late),
            Some(Timer {
                kind: TimerKind::Idle,
                due_ms: 600_000
            })
        );
    }

    #[test]
    fn zero_switches_a_timer_off() {
        let only_end = Timeouts {
            inactivity_warning: None,
            ..DEFAULTS
        };
        assert_eq!(
            only_end.inactivity_from(0),
            Some(Timer {
                kind: TimerKind::Idle,
                due_ms: 600_000
            })
        );
        // A warning at or after the end would never be seen.
        let late_warning = Timeouts {
            inactivity_warning: minutes(10),
            ..DEFAULTS
        };
        assert_eq!(
            late_warning.inactivity_from(0).unwrap().kind,
            TimerKind::Idle
        );
        let only_warning = Timeouts {
            inactivity: None,
            ..DEFAULTS
        };
        let warning = only_warning.inactivity_from(0).unwrap();
        assert_eq!(warning.kind, TimerKind::Warn);
        assert_eq!(only_warning.after_warning(warning), None);
        assert_eq!(Timeouts::default().inactivity_from(0), None);
        assert_eq!(DEFAULTS.resolution_ms(), 15_000);
        let short = Timeouts {
            inactivity_warning: Some(Duration::from_secs(1)),
            inactivity: Some(Duration::from_secs(2)),
            ..DEFAULTS
        };
        assert_eq!(short.resolution_ms(), 50);
    }
}
