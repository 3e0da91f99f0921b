//! Erasure: one Teams user's sessions (found by the customer id they were opened with), with their
//! deliveries either way, whatever their state, and the links to agents' files they gave; refused
//! while one of them is live, so that nothing the customer is in the middle of is cut off unseen.

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::WriteConnection;
use super::super::model::ErasedSessions;
use super::super::sql;

/// Erases the sessions of `customer`.
pub struct EraseCustomer {
    pub customer: String,
}

#[async_trait]
impl Write for EraseCustomer {
    type Answer = ErasedSessions;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        _batch: &mut Batch,
    ) -> anyhow::Result<Applied<ErasedSessions>> {
        let sessions = tx
            .query(sql::SESSIONS_OF_CUSTOMER, &[self.customer.as_str().into()])
            .await?;
        for session in &sessions {
            if matches!(session.text("state")?.as_str(), "opening" | "open") {
                // Before anything is deleted: nothing of the user is erased.
                return Ok(Applied::Done(ErasedSessions {
                    live: true,
                    ..ErasedSessions::default()
                }));
            }
        }
        let mut erased = ErasedSessions::default();
        for session in &sessions {
            let id = session.text("id")?;
            let conversation = session.text("copilot_conversation_id")?;
            let livechat = session
                .optional_text("livechat_conversation_id")?
                .unwrap_or_default();
            erased.deliveries += tx
                .execute(
                    sql::DELETE_SESSION_DELIVERIES,
                    &[
                        conversation.as_str().into(),
                        livechat.as_str().into(),
                        id.as_str().into(),
                    ],
                )
                .await?;
            erased.file_links += tx
                .execute(sql::DELETE_SESSION_FILE_LINKS, &[id.as_str().into()])
                .await?;
            erased.sessions += tx
                .execute(sql::DELETE_SESSION, &[id.as_str().into()])
                .await?;
        }
        Ok(Applied::Done(erased))
    }
}
