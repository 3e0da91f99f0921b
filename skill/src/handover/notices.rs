//! What the handover sends each way on its own account: a notice into the user's Teams conversation
//! (through the Teams outbox, so in order with the agent's replies), and what closes a live-chat
//! conversation from the skill's side (a note for the agent saying why, then the end).

use super::service::Handover;
use super::text;
use crate::domain::LiveChatConversationId;
use crate::domain::{
    MessageToAgent, MessageToUser, NoteRole, Outbound, Session, ToAgent, ToUser, UserConversation,
};
use crate::store::NewDelivery;

impl Handover {
    /// A notice from the bot account into the session's Teams conversation; `dedupe_key` makes a
    /// repeat a no-op.
    pub(in crate::handover) async fn tell_user(
        &self,
        session: &Session,
        livechat: &LiveChatConversationId,
        notice: String,
        dedupe_key: Option<String>,
    ) -> anyhow::Result<()> {
        self.store
            .enqueue(to_user(
                session,
                livechat,
                MessageToUser::notice(notice),
                dedupe_key,
            ))
            .await?;
        Ok(())
    }
}

/// The session's Teams conversation.
pub(in crate::handover) fn user_conversation(
    session: &Session,
    livechat: &LiveChatConversationId,
) -> UserConversation {
    UserConversation {
        address: session.address.clone(),
        conversation: session.copilot_conversation_id.clone(),
        livechat: livechat.clone(),
    }
}

/// A message into the session's Teams conversation, for the Teams outbox.
pub(in crate::handover) fn to_user(
    session: &Session,
    livechat: &LiveChatConversationId,
    message: MessageToUser,
    dedupe_key: Option<String>,
) -> NewDelivery {
    NewDelivery {
        payload: Outbound::ToUser(ToUser {
            to: user_conversation(session, livechat),
            message,
        }),
        dedupe_key,
    }
}

/// A line from the skill in the agent's transcript.
pub(in crate::handover) fn system_note(text: String) -> MessageToAgent {
    MessageToAgent {
        text,
        sender: text::SYSTEM_SENDER.to_owned(),
        role: NoteRole::System,
    }
}

/// What closes a live-chat conversation from the skill's side: a note for the agent saying why,
/// then the end.
pub(in crate::handover) fn closing(
    livechat: &LiveChatConversationId,
    note: String,
) -> Vec<NewDelivery> {
    [
        ToAgent::Message {
            livechat: livechat.clone(),
            message: system_note(note),
        },
        ToAgent::End {
            livechat: livechat.clone(),
        },
    ]
    .into_iter()
    .map(|call| NewDelivery {
        payload: Outbound::ToAgent(call),
        dedupe_key: None,
    })
    .collect()
}
