//! `leaveMessage`: while nobody is online, a live-chat conversation of its own holds the message for
//! the team and is closed at once (the customer is not waiting in it); no session holds the Teams
//! conversation. Keyed by the activity, so a repeat opens nothing twice, and stored in one
//! transaction, so the message is never stored without the end that closes its conversation.

use super::super::notices::closing;
use super::super::service::Handover;
use super::super::text;
use super::start::handoff_context;
use crate::domain::{
    left_message_start, DedupeKey, HandoverOutcome, LeaveMessageRequest, LeftMessagePart,
    MessageToAgent, NoteRole, Outbound, SessionId, StartRequest, ToAgent,
};
use crate::store::NewDelivery;

impl Handover {
    pub(in crate::handover) async fn leave_message(
        &self,
        left: LeaveMessageRequest,
    ) -> anyhow::Result<HandoverOutcome> {
        if !self.livechat.capabilities().leave_message {
            tracing::info!(
                hub = self.livechat.kind(),
                "the live chat holds no left messages"
            );
            return Ok(HandoverOutcome::MessageNotLeft);
        }
        let start = SessionId::parse(left_message_start(
            &left.start.keys.conversation,
            left.id.as_ref(),
            &uuid::Uuid::new_v4().to_string(),
        ))?;
        let sender = left
            .start
            .customer
            .name
            .clone()
            .unwrap_or_else(|| text::DEFAULT_CUSTOMER_NAME.to_owned());
        let context = handoff_context(StartRequest {
            problem_description: Some(left.message.clone()),
            ..left.start
        });
        let opened = match self.livechat.start(&start, &context).await {
            Ok(opened) => opened,
            Err(error) => {
                tracing::error!(error = %error, "cannot leave the customer's message in the live chat");
                return Ok(HandoverOutcome::MessageNotLeft);
            }
        };
        let livechat = opened.livechat;
        let mut deliveries = vec![NewDelivery {
            payload: Outbound::ToAgent(ToAgent::Message {
                livechat: livechat.clone(),
                message: MessageToAgent {
                    text: left.message,
                    sender,
                    role: NoteRole::Customer,
                },
            }),
            dedupe_key: None,
        }];
        deliveries.extend(closing(&livechat, text::LEFT_MESSAGE_NOTE.to_owned()));
        for (delivery, part) in deliveries.iter_mut().zip([
            LeftMessagePart::Text,
            LeftMessagePart::Note,
            LeftMessagePart::End,
        ]) {
            delivery.dedupe_key = DedupeKey::LeftMessage {
                start: &start,
                part,
            }
            .stored();
        }
        self.store.enqueue_all(deliveries).await?;
        self.metrics.messages.with_label_values(&["left"]).inc();
        tracing::info!(livechat_conversation_id = %livechat, "message left for the team");
        Ok(HandoverOutcome::MessageLeft(livechat))
    }
}
