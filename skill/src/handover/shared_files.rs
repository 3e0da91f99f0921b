//! A link to an agent's file, followed by whoever holds it (the customer's browser, or a link
//! scanner before them): the file while the link works, read from the live chat as it is passed
//! on, never kept by the skill. A link is not used up by a download: scanners open links first.

use super::ports::{FileDownload, LiveChatError};
use super::service::Handover;
use crate::domain::{FileLink, FileLinkToken};

/// What a link's token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedFileLink {
    /// No link has this token (or its session is gone).
    Unknown,
    /// The link worked until its time.
    Expired,
    Works(FileLink),
}

impl Handover {
    /// What `token` opens now.
    pub async fn shared_file(&self, token: &FileLinkToken) -> anyhow::Result<SharedFileLink> {
        Ok(match self.store.file_link(token).await? {
            None => SharedFileLink::Unknown,
            Some(link) if link.expires_at_ms <= self.clock.now_ms() => SharedFileLink::Expired,
            Some(link) => SharedFileLink::Works(link),
        })
    }

    /// The bytes of a linked file, streamed from the live chat.
    pub async fn open_shared_file(&self, link: &FileLink) -> Result<FileDownload, LiveChatError> {
        self.livechat.open_file(&link.file).await
    }
}
