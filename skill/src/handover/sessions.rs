//! Finding the session a request or an event is about.
//!
//! A request's session is the live one of its conversation, else the live one of the conversation
//! it relates to, else the one named by its `LiveChatConversationId` input: Copilot Studio keeps
//! the conversation id across actions; hosts built on Bot Framework SDKs give every skill
//! invocation a new one and name the original in `relatesTo`, and the input the topic passes is
//! the last resort, and only when that session is of the request's conversation or the one it
//! relates to (naming another conversation's id acts on nothing). An event's session is the one with its live-chat id.

use std::time::{Duration, Instant};

use super::service::{Handover, HandoverError};
use crate::domain::{LiveChatConversationId, Session, SessionKeys};

impl Handover {
    /// The session a request belongs to (see the module's doc), in any state for the input.
    pub(in crate::handover) async fn find_session(
        &self,
        keys: &SessionKeys,
    ) -> anyhow::Result<Option<Session>> {
        if let Some(session) = self.store.live_session(&keys.conversation).await? {
            return Ok(Some(session));
        }
        if let Some(origin) = &keys.origin {
            if let Some(session) = self.store.live_session_by_origin(origin).await? {
                return Ok(Some(session));
            }
        }
        let Some(livechat) = &keys.livechat_input else {
            return Ok(None);
        };
        let named = self.store.session_by_livechat_id(livechat).await?;
        match named {
            Some(session) if session.belongs_to(&keys.conversation, keys.origin.as_ref()) => {
                Ok(Some(session))
            }
            Some(_) => {
                // Naming an id is no proof of owning it: ids show in transcripts and logs.
                tracing::warn!(livechat_conversation_id = %livechat, "a request named the live-chat session of another conversation; refused");
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// The latest session, in any state, of the request's conversation, else of the conversation
    /// it relates to: SDK hosts give each invocation a new conversation id, so a chat that ended is
    /// found through the original one.
    pub(in crate::handover) async fn latest_session(
        &self,
        keys: &SessionKeys,
    ) -> anyhow::Result<Option<Session>> {
        if let Some(session) = self.store.latest_session(&keys.conversation).await? {
            return Ok(Some(session));
        }
        match &keys.origin {
            Some(origin) => self.store.latest_session(origin).await,
            None => Ok(None),
        }
    }

    /// Waits (bounded) for a session that another request is opening; the open session, or `None`.
    pub(in crate::handover) async fn wait_until_open(
        &self,
        mut session: Session,
    ) -> anyhow::Result<Option<Session>> {
        let deadline = Instant::now() + self.opening_wait;
        loop {
            if session.open_livechat().is_some() {
                return Ok(Some(session));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            match self
                .store
                .live_session(&session.copilot_conversation_id)
                .await?
            {
                Some(current) if current.id == session.id => session = current,
                _ => return Ok(None),
            }
        }
    }

    /// The session a live-chat event is about, in any state.
    pub(in crate::handover) async fn session_for_event(
        &self,
        livechat: &LiveChatConversationId,
    ) -> Result<Session, HandoverError> {
        if let Some(session) = self.store.session_by_livechat_id(livechat).await? {
            return Ok(session);
        }
        // A live chat that assigns at once may report "joined" before its answer to the start
        // has been recorded here: while a session is opening, the event is asked again later.
        if self.store.any_session_opening().await? {
            tracing::info!(livechat_conversation_id = %livechat, "an event for a conversation not known yet while a session is opening; asking for it again");
            return Err(HandoverError::NotYetKnown(livechat.clone()));
        }
        Err(HandoverError::UnknownConversation(livechat.clone()))
    }
}
