//! The live sessions in memory, for the reads that run on every message (which session does this
//! conversation, this origin, this live-chat id belong to?).
//!
//! Only with SQLite, where this process is the only writer: the store's writer applies every change
//! it commits here before it answers the request that asked for it, so the index is exact for
//! whoever reads after that answer. At start-up it is loaded from the table, which stays the truth.
//! Closed sessions are not kept; reads that need them (a webhook after the end) go to the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::domain::{CopilotConversationId, LiveChatConversationId, Session, SessionId};

/// A committed change to the live sessions.
#[derive(Debug, Clone)]
pub enum SessionChange {
    /// Created `opening`, or changed while still live.
    Live(Session),
    /// Closed (or abandoned): no longer live.
    Gone(SessionId),
    /// The problem description was forwarded.
    ProblemForwarded(SessionId),
    /// An agent joined the chat.
    AgentNamed(SessionId, String),
}

#[derive(Default)]
struct Maps {
    sessions: HashMap<SessionId, Arc<Session>>,
    by_conversation: HashMap<CopilotConversationId, SessionId>,
    by_origin: HashMap<CopilotConversationId, SessionId>,
    by_livechat: HashMap<LiveChatConversationId, SessionId>,
}

impl Maps {
    fn remove(&mut self, id: &SessionId) -> Option<Arc<Session>> {
        let session = self.sessions.remove(id)?;
        self.by_conversation
            .remove(&session.copilot_conversation_id);
        if let Some(origin) = &session.origin_conversation_id {
            if self.by_origin.get(origin) == Some(id) {
                self.by_origin.remove(origin);
            }
        }
        if let Some(livechat) = session.open_livechat() {
            self.by_livechat.remove(livechat);
        }
        Some(session)
    }

    fn insert(&mut self, session: Session) {
        self.remove(&session.id);
        let id = session.id.clone();
        self.by_conversation
            .insert(session.copilot_conversation_id.clone(), id.clone());
        if let Some(origin) = &session.origin_conversation_id {
            self.by_origin.insert(origin.clone(), id.clone());
        }
        if let Some(livechat) = session.open_livechat() {
            self.by_livechat.insert(livechat.clone(), id.clone());
        }
        self.sessions.insert(id, Arc::new(session));
    }

    fn get(&self, id: Option<&SessionId>) -> Option<Session> {
        id.and_then(|id| self.sessions.get(id))
            .map(|session| Session::clone(session))
    }
}

/// Live sessions by conversation, origin and live-chat id.
#[derive(Default)]
pub struct SessionIndex {
    maps: RwLock<Maps>,
}

impl SessionIndex {
    /// An index of `sessions` (the live ones of the table).
    pub fn of(sessions: Vec<Session>) -> SessionIndex {
        let mut maps = Maps::default();
        for session in sessions {
            maps.insert(session);
        }
        SessionIndex {
            maps: RwLock::new(maps),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        self.maps
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Maps> {
        self.maps
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn by_conversation(&self, conversation: &CopilotConversationId) -> Option<Session> {
        let maps = self.read();
        maps.get(maps.by_conversation.get(conversation))
    }

    pub fn by_origin(&self, origin: &CopilotConversationId) -> Option<Session> {
        let maps = self.read();
        maps.get(maps.by_origin.get(origin))
    }

    pub fn by_livechat(&self, livechat: &LiveChatConversationId) -> Option<Session> {
        let maps = self.read();
        maps.get(maps.by_livechat.get(livechat))
    }

    /// True when the session is open.
    pub fn is_open(&self, id: &SessionId) -> bool {
        self.read()
            .sessions
            .get(id)
            .is_some_and(|session| session.is_open())
    }

    /// Whether any session is still opening (its live-chat id not yet known).
    pub fn any_opening(&self) -> bool {
        self.read()
            .sessions
            .values()
            .any(|session| matches!(session.state, crate::domain::SessionState::Opening))
    }

    /// Sessions in state open.
    pub fn open_count(&self) -> usize {
        self.read()
            .sessions
            .values()
            .filter(|session| session.is_open())
            .count()
    }

    /// How many sessions it holds.
    pub fn count(&self) -> usize {
        self.read().sessions.len()
    }

    /// Forgets every session.
    pub fn clear(&self) {
        *self.write() = Maps::default();
    }

    /// Applies what a commit changed.
    pub fn apply(&self, changes: Vec<SessionChange>) {
        if changes.is_empty() {
            return;
        }
        let mut maps = self.write();
        for change in changes {
            match change {
                SessionChange::Live(session) => maps.insert(session),
                SessionChange::Gone(id) => {
                    maps.remove(&id);
                }
                SessionChange::ProblemForwarded(id) => {
                    if let Some(session) = maps.sessions.get_mut(&id) {
                        Arc::make_mut(session).problem_forwarded = true;
                    }
                }
                SessionChange::AgentNamed(id, agent) => {
                    if let Some(session) = maps.sessions.get_mut(&id) {
                        Arc::make_mut(session).agent_name = Some(agent);
                    }
                }
            }
        }
    }
}
