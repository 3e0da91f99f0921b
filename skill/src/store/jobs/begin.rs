//! Opening a session: an `opening` session for the conversation, unless it (or the conversation it
//! relates to) has a live one; an opening of the conversation abandoned by a stopped process is
//! closed and abandoned first.

use anyhow::Context;
use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::{Value, WriteConnection};
use super::super::model::{abandoned_opening_cutoff, BeginSession};
use super::super::sql;
use super::shared::{abandon_openings, one_session};
use crate::domain::{ConversationAddress, CopilotConversationId, Session, SessionId, SessionState};

/// Begins a session for `conversation`.
pub struct Begin {
    pub conversation: CopilotConversationId,
    pub origin: Option<CopilotConversationId>,
    pub address: ConversationAddress,
    /// Who the customer is, so that their sessions can be erased.
    pub customer: Option<String>,
}

#[async_trait]
impl Write for Begin {
    type Answer = BeginSession;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<BeginSession>> {
        let conversation = self.conversation.as_str();
        let origin: Value = self
            .origin
            .as_ref()
            .map(CopilotConversationId::as_str)
            .into();
        let abandoned = tx
            .query(
                sql::CLOSE_ABANDONED_OPENING_OF_RETURNING,
                &[
                    batch.now.as_str().into(),
                    conversation.into(),
                    abandoned_opening_cutoff().into(),
                ],
            )
            .await?;
        abandon_openings(batch, &abandoned)?;
        if let Some(existing) = one_session(
            tx,
            sql::LIVE_SESSION_OF_CONVERSATION_OR_ORIGIN,
            &[conversation.into(), origin.clone()],
        )
        .await?
        {
            return Ok(Applied::Done(BeginSession::Existing(existing)));
        }
        let session = Session {
            id: SessionId::parse(uuid::Uuid::new_v4().to_string())?,
            copilot_conversation_id: self.conversation.clone(),
            state: SessionState::Opening,
            address: self.address.clone(),
            origin_conversation_id: self.origin.clone(),
            problem_forwarded: false,
            agent_name: None,
        };
        let inserted = tx
            .execute(
                sql::INSERT_OPENING_SESSION,
                &[
                    session.id.as_str().into(),
                    conversation.into(),
                    origin,
                    self.address.as_recorded().into(),
                    batch.now.as_str().into(),
                    self.customer.as_deref().into(),
                ],
            )
            .await
            .context("cannot create a session")?;
        if inserted == 1 {
            batch.session_live(session.clone());
            return Ok(Applied::Done(BeginSession::Created(session)));
        }
        // Another instance inserted first: the unique index decided.
        match one_session(tx, sql::LIVE_SESSION, &[conversation.into()]).await? {
            Some(existing) => Ok(Applied::Done(BeginSession::Existing(existing))),
            None => {
                anyhow::bail!("a concurrent start closed the conversation's session; try again")
            }
        }
    }
}
