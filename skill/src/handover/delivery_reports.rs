//! Deliveries that failed, told to whoever can act on them (from the outbox workers, so failures
//! here are logged, not returned): an agent's reply that never reached Teams is reported to the
//! agent in the live chat; a customer's message the live chat refused or never took is reported to
//! the customer in Teams, and one that keeps failing while the live chat is down is announced to
//! them once (an agent's while Teams refuses it, to the agent); a customer's file that could not be fetched or was refused is told to both. The skill's own notes and the end of a session are only logged and counted: there is
//! nobody to tell.

use super::notices::system_note;
use super::service::Handover;
use super::text;
use crate::domain::{
    DedupeKey, DeliveryId, LiveChatConversationId, MessageToUser, NoteRole, Outbound, Speaker,
    ToAgent, ToUser,
};
use crate::store::{Delivery, NewDelivery};

impl Handover {
    /// A delivery was given up.
    pub async fn delivery_failed(&self, delivery: &Delivery, reason: &str) {
        if let Ok(Outbound::ToAgent(ToAgent::File {
            livechat,
            sender,
            file,
        })) = &delivery.payload
        {
            self.file_failed(delivery.id, livechat, sender, &file.shown_name(), reason)
                .await;
            return;
        }
        let livechat = match &delivery.payload {
            Ok(Outbound::ToUser(message)) => &message.to.livechat,
            Ok(Outbound::ToAgent(ToAgent::Message { livechat, message }))
                if message.role == NoteRole::Customer =>
            {
                let notice = text::undelivered_to_agent(reason);
                self.tell_customer_of(livechat, notice, DedupeKey::Undelivered(delivery.id))
                    .await;
                return;
            }
            _ => return,
        };
        let notice = text::undelivered_to_customer(reason);
        self.tell_agent_of(livechat, notice, DedupeKey::Undelivered(delivery.id))
            .await;
    }

    /// A customer's file was not passed on: the customer is told (once), and the agent reads in
    /// the transcript what was sent and why it is not there.
    async fn file_failed(
        &self,
        delivery: DeliveryId,
        livechat: &LiveChatConversationId,
        sender: &str,
        name: &str,
        reason: &str,
    ) {
        let note = text::file_missing_for_agent(sender, name, reason);
        self.tell_agent_of(livechat, note, DedupeKey::Undelivered(delivery))
            .await;
        self.tell_customer_of(
            livechat,
            text::file_not_passed_on(name, reason),
            DedupeKey::Undelivered(delivery),
        )
        .await;
    }

    /// A message keeps failing to get through: a customer's to the live chat (it is down), and
    /// the customer is told that the agent will see it when it is back; an agent's to Teams, and
    /// the agent is told it will reach the customer. Said once for that message, which holds its
    /// conversation's place, so once an outage.
    pub async fn delivery_delayed(&self, delivery: &Delivery) {
        if let Ok(Outbound::ToUser(ToUser {
            to,
            message:
                MessageToUser {
                    from: Speaker::Agent(_),
                    ..
                },
        })) = &delivery.payload
        {
            let notice = text::TEAMS_DELAYED.to_owned();
            self.tell_agent_of(&to.livechat, notice, DedupeKey::Delayed(delivery.id))
                .await;
            return;
        }
        let livechat = match &delivery.payload {
            Ok(Outbound::ToAgent(ToAgent::Message { livechat, message }))
                if message.role == NoteRole::Customer =>
            {
                livechat
            }
            Ok(Outbound::ToAgent(ToAgent::File { livechat, .. })) => livechat,
            _ => return,
        };
        let notice = text::LIVECHAT_DELAYED.to_owned();
        self.tell_customer_of(livechat, notice, DedupeKey::Delayed(delivery.id))
            .await;
    }

    /// Tells the agent of `livechat`, as a system line in its transcript; `key` makes a repeat a
    /// no-op.
    async fn tell_agent_of(
        &self,
        livechat: &LiveChatConversationId,
        notice: String,
        key: DedupeKey<'_>,
    ) {
        let note = NewDelivery {
            payload: Outbound::ToAgent(ToAgent::Message {
                livechat: livechat.clone(),
                message: system_note(notice),
            }),
            dedupe_key: key.stored(),
        };
        if let Err(error) = self.store.enqueue(note).await {
            tracing::error!(error.cause_chain = ?error, "cannot store a notice for the agent");
        }
    }

    /// Tells the customer of the session `livechat` belongs to; `key` makes a repeat a no-op.
    async fn tell_customer_of(
        &self,
        livechat: &LiveChatConversationId,
        notice: String,
        key: DedupeKey<'_>,
    ) {
        let session = match self.store.session_by_livechat_id(livechat).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                tracing::warn!(livechat_conversation_id = %livechat, "the customer's session is gone; nobody to tell");
                return;
            }
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, "cannot find the session of a customer to tell");
                return;
            }
        };
        if let Err(error) = self
            .tell_user(&session, livechat, notice, key.stored())
            .await
        {
            tracing::error!(error.cause_chain = ?error, "cannot store the notice for the customer");
        }
    }
}
