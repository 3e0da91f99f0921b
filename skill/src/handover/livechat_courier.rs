//! The live-chat lane's courier: forwards the user's messages and files, and the end of a session,
//! through the [`LiveChat`] port (so it knows no live-chat JSON, and lives with the outbox).
//!
//! A file is fetched ([`FileFetcher`]) and then posted, in one delivery: an attempt that fetched
//! but could not post leaves the file staged, and the next attempt (or the next process, after a
//! crash) posts it without fetching again; the post is keyed by the delivery, so the live chat
//! stores it once. A refused fetch or post is final: the delivery fails, and the customer and the
//! agent are told why (`delivery_reports.rs`).

use std::sync::Arc;

use async_trait::async_trait;

use super::notices::system_note;
use super::outbox::{Attempt, Courier};
use super::ports::{FileFetcher, LiveChat, LiveChatError};
use super::text;
use crate::domain::{
    CustomerFile, DeliveryId, FetchError, Lane, LiveChatConversationId, Outbound, ToAgent,
};

/// Delivers [`ToAgent`] calls.
pub struct LiveChatCourier {
    pub livechat: Arc<dyn LiveChat>,
    pub files: Arc<dyn FileFetcher>,
    /// Where files are transferred: a runtime of several threads, not the outbox workers' one
    /// (`tasks::on_own_thread`), whose messages in words would otherwise wait behind the bytes.
    pub transfers: tokio::runtime::Handle,
}

impl LiveChatCourier {
    /// Fetches (or finds staged) and posts one customer's file, on the transfers' runtime.
    async fn deliver_file(
        &self,
        id: DeliveryId,
        livechat: &LiveChatConversationId,
        sender: &str,
        file: &CustomerFile,
    ) -> Attempt {
        let transfer = Transfer {
            livechat: self.livechat.clone(),
            files: self.files.clone(),
        };
        let (livechat, sender, file) = (livechat.clone(), sender.to_owned(), file.clone());
        let running = self
            .transfers
            .spawn(async move { transfer.run(id, &livechat, &sender, &file).await });
        running.await.unwrap_or_else(|error| Attempt::Retry {
            reason: format!("the file's transfer stopped: {error}"),
            after: None,
        })
    }
}

/// One customer's file on its way: the ports it goes through.
struct Transfer {
    livechat: Arc<dyn LiveChat>,
    files: Arc<dyn FileFetcher>,
}

impl Transfer {
    async fn run(
        &self,
        id: DeliveryId,
        livechat: &LiveChatConversationId,
        sender: &str,
        file: &CustomerFile,
    ) -> Attempt {
        let staged = match self.files.fetch(id, file).await {
            Ok(staged) => staged,
            Err(FetchError::Transient(why)) => {
                return Attempt::Retry {
                    reason: format!("the file could not be fetched: {why}"),
                    after: None,
                }
            }
            Err(FetchError::Refused(refusal)) => {
                self.files.discard(id).await;
                return Attempt::Failed {
                    reason: refusal.to_string(),
                };
            }
        };
        match self.livechat.send_file(id, livechat, sender, &staged).await {
            Ok(()) => {
                self.files.discard(id).await;
                Attempt::Delivered
            }
            Err(error) if error.is_transient() => Attempt::Retry {
                reason: error.to_string(),
                after: None,
            },
            Err(error) => {
                self.files.discard(id).await;
                Attempt::Failed {
                    reason: refused_by_the_live_chat(&error),
                }
            }
        }
    }
}

/// The live chat's refusal of a file, in its own words when it gave some.
fn refused_by_the_live_chat(error: &LiveChatError) -> String {
    match error {
        LiveChatError::Rejected { status: 404, .. } => {
            "the live chat does not take files (404)".to_owned()
        }
        LiveChatError::Rejected { status, detail } if !detail.trim().is_empty() => {
            format!("the live chat refused it: {} ({status})", detail.trim())
        }
        other => other.to_string(),
    }
}

#[async_trait]
impl Courier for LiveChatCourier {
    fn lane(&self) -> Lane {
        Lane::LiveChat
    }

    async fn deliver(&self, id: DeliveryId, payload: &Outbound) -> Attempt {
        let result = match payload {
            Outbound::ToAgent(ToAgent::Message { livechat, message }) => {
                self.livechat.send(id, livechat, message).await
            }
            Outbound::ToAgent(ToAgent::File {
                livechat,
                sender,
                file,
            }) => return self.deliver_file(id, livechat, sender, file).await,
            Outbound::ToAgent(ToAgent::End { livechat }) => self.livechat.end(livechat).await,
            Outbound::ToAgent(ToAgent::Rate {
                livechat,
                rating,
                comment,
            }) => {
                self.livechat
                    .rate(livechat, *rating, comment.as_deref())
                    .await
            }
            Outbound::ToAgent(ToAgent::Abandon {
                session,
                conversation,
            }) => {
                let note = system_note(text::OPENING_INTERRUPTED.to_owned());
                self.livechat.abandon(session, conversation, &note).await
            }
            Outbound::ToUser(_) => {
                return Attempt::Failed {
                    reason: "not a call for the live chat".to_owned(),
                }
            }
        };
        match result {
            Ok(()) => Attempt::Delivered,
            Err(error) if error.is_transient() => Attempt::Retry {
                reason: error.to_string(),
                after: None,
            },
            Err(error) => Attempt::Failed {
                reason: error.to_string(),
            },
        }
    }
}
