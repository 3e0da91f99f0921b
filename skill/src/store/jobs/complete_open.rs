//! A session's live-chat start answered: the `opening` session becomes open with its live-chat id,
//! its first timer, the agent who has it (if the live chat said) and the hub's own id of it.

use anyhow::Context;
use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::sql;
use super::shared::{one_session, timer_values};
use crate::domain::{LiveChatConversationId, SessionId, Timer};

/// Answers whether the session was still `opening` (and so is open now).
pub struct CompleteOpen {
    pub session: SessionId,
    pub livechat: LiveChatConversationId,
    pub timer: Option<Timer>,
    pub agent: Option<String>,
    pub hub_conversation: Option<String>,
}

#[async_trait]
impl Write for CompleteOpen {
    type Answer = bool;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<bool>> {
        let [kind, due] = timer_values(self.timer);
        let opened = tx
            .execute(
                sql::OPEN_SESSION,
                &[
                    self.livechat.as_str().into(),
                    batch.now.as_str().into(),
                    self.session.as_str().into(),
                    self.agent.clone().into(),
                    kind,
                    due,
                    self.hub_conversation.clone().into(),
                ],
            )
            .await
            .context("cannot record the live-chat id")?
            == 1;
        if opened {
            if let Some(session) =
                one_session(tx, sql::SESSION_BY_ID, &[self.session.as_str().into()]).await?
            {
                batch.session_live(session);
            }
        }
        Ok(Applied::Done(opened))
    }
}
