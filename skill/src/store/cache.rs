//! The open sessions an instance has read, kept in memory (PostgreSQL), so that the reads that run
//! on every message (which session does this conversation, this live-chat id belong to?) cost no
//! round trip to the shared database.
//!
//! Unlike the [`super::index`] (SQLite, exact, where a miss means "no such live session"), this is a
//! cache: a miss reads the database. It holds only sessions read while open, and forgets one as
//! soon as any instance changes it: this instance's writer forgets what it commits, and each
//! writer names the sessions it changed on a channel every instance listens to (sent inside the
//! transaction, so it arrives exactly when the change is visible). While this instance is not
//! listening (starting, or reconnecting) nothing is kept, since a change could go unheard.
//! What a write depends on is still checked in its own transaction (a session's being open), so a
//! change a moment late in arriving costs a refused write, never a wrong one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::index::{SessionChange, SessionIndex};
use crate::domain::{CopilotConversationId, LiveChatConversationId, Session, SessionId};

/// More sessions than this and the cache starts again (a bound on memory, far above the number of
/// chats one deployment holds open at once).
const MOST_SESSIONS: usize = 200_000;

/// Open sessions by conversation, origin and live-chat id, as last read.
#[derive(Default)]
pub struct SessionCache {
    sessions: SessionIndex,
    /// Counts what was forgotten: a read begun before a change it did not see is not kept.
    generation: Mutex<u64>,
    listening: AtomicBool,
}

/// When a read began, as the cache counts it: what it read is kept only if nothing was forgotten
/// since.
#[derive(Debug, Clone, Copy)]
pub struct ReadBegun(u64);

impl SessionCache {
    fn generation(&self) -> std::sync::MutexGuard<'_, u64> {
        self.generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether sessions are kept now (while this instance hears the others).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    pub fn by_conversation(&self, conversation: &CopilotConversationId) -> Option<Session> {
        self.listening()
            .then(|| self.sessions.by_conversation(conversation))
            .flatten()
    }

    pub fn by_origin(&self, origin: &CopilotConversationId) -> Option<Session> {
        self.listening()
            .then(|| self.sessions.by_origin(origin))
            .flatten()
    }

    pub fn by_livechat(&self, livechat: &LiveChatConversationId) -> Option<Session> {
        self.listening()
            .then(|| self.sessions.by_livechat(livechat))
            .flatten()
    }

    /// Call before reading a session from the database.
    pub fn read_begins(&self) -> ReadBegun {
        ReadBegun(*self.generation())
    }

    /// Keeps a session read from the database, if it is open, this instance is listening, and
    /// nothing was forgotten since the read began (the read may predate the change).
    pub fn learn(&self, session: &Session, begun: ReadBegun) {
        if !session.is_open() || !self.listening() {
            return;
        }
        let generation = self.generation();
        if *generation != begun.0 {
            return;
        }
        if self.sessions.count() >= MOST_SESSIONS {
            self.sessions.clear();
        }
        self.sessions
            .apply(vec![SessionChange::Live(session.clone())]);
    }

    /// Forgets sessions that changed.
    pub fn forget<'a>(&self, sessions: impl IntoIterator<Item = &'a SessionId>) {
        let gone: Vec<SessionChange> = sessions
            .into_iter()
            .map(|id| SessionChange::Gone(id.clone()))
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut generation = self.generation();
        *generation += 1;
        self.sessions.apply(gone);
    }

    /// Listening (after forgetting everything: changes made while not listening went unheard) or
    /// not (keeping nothing).
    pub fn set_listening(&self, listening: bool) {
        let mut generation = self.generation();
        *generation += 1;
        self.sessions.clear();
        self.listening.store(listening, Ordering::Release);
    }
}

/// The sessions a committed batch changed.
pub fn changed(changes: &[SessionChange]) -> impl Iterator<Item = &SessionId> {
    changes.iter().map(|change| match change {
        SessionChange::Live(session) => &session.id,
        SessionChange::Gone(id)
        | SessionChange::ProblemForwarded(id)
        | SessionChange::AgentNamed(id, _) => id,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{ConversationAddress, SessionState};

    fn open_session(n: u32) -> Session {
        Session {
            id: SessionId::parse(format!("session-{n}")).unwrap(),
            copilot_conversation_id: CopilotConversationId::parse(format!("conversation-{n}"))
                .unwrap(),
            state: SessionState::Open {
                livechat: LiveChatConversationId::parse(format!("livechat-{n}")).unwrap(),
            },
            address: ConversationAddress::from_recorded("{}".to_owned()),
            origin_conversation_id: None,
            problem_forwarded: false,
            agent_name: None,
        }
    }

    fn listening_cache() -> SessionCache {
        let cache = SessionCache::default();
        cache.set_listening(true);
        cache
    }

    #[test]
    fn an_open_session_read_is_kept_and_found_by_each_key() {
        let cache = listening_cache();
        let session = open_session(1);
        cache.learn(&session, cache.read_begins());
        assert_eq!(
            cache
                .by_conversation(&session.copilot_conversation_id)
                .map(|found| found.id),
            Some(session.id.clone())
        );
        assert!(cache
            .by_livechat(&LiveChatConversationId::parse("livechat-1").unwrap())
            .is_some());
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let cache = listening_cache();
        let session = open_session(2);
        let begun = cache.read_begins();
        cache.forget([&session.id]);
        cache.learn(&session, begun);
        assert!(cache
            .by_conversation(&session.copilot_conversation_id)
            .is_none());
    }

    #[test]
    fn a_forgotten_session_is_read_again_and_nothing_is_kept_while_not_listening() {
        let cache = listening_cache();
        let session = open_session(3);
        cache.learn(&session, cache.read_begins());
        cache.forget([&session.id]);
        assert!(cache
            .by_conversation(&session.copilot_conversation_id)
            .is_none());
        cache.learn(&session, cache.read_begins());
        cache.set_listening(false);
        assert!(cache
            .by_conversation(&session.copilot_conversation_id)
            .is_none());
        cache.learn(&session, cache.read_begins());
        cache.set_listening(true);
        assert!(
            cache
                .by_conversation(&session.copilot_conversation_id)
                .is_none(),
            "what was kept before listening again is forgotten"
        );
    }

    #[test]
    fn sessions_not_open_are_not_kept() {
        let cache = listening_cache();
        let mut session = open_session(4);
        session.state = SessionState::Opening;
        cache.learn(&session, cache.read_begins());
        assert!(cache
            .by_conversation(&session.copilot_conversation_id)
            .is_none());
    }
}
