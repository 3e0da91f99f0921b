//! The live-chat system's side: adapters that implement the handover's [`LiveChat`] port and read
//! the system's own webhooks ([`WebhookReader`]). [`ContosoLiveChat`] speaks the shared contract
//! ([`livechat_contract`]); another engagement hub is another adapter here.
//!
//! Invariant: nothing outside `livechat/` knows the live-chat system's URLs, JSON or signatures;
//! the handover sees [`crate::domain::LiveChatEvent`]s and sends [`crate::domain::ToAgent`]s.

pub mod contoso;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

pub use contoso::ContosoLiveChat;
pub use webhook::{WebhookError, WebhookReader, WebhookRequest};

use crate::handover::{Backoff, LiveChat};

/// An engagement hub as the skill uses it: the handover's port, and the reader of its webhooks.
#[derive(Clone)]
pub struct Hub {
    pub livechat: Arc<dyn LiveChat>,
    pub webhooks: Arc<dyn WebhookReader>,
}

impl Hub {
    /// Both sides of one adapter.
    pub fn of<T: LiveChat + WebhookReader + 'static>(adapter: T) -> Self {
        let adapter = Arc::new(adapter);
        Self {
            livechat: adapter.clone(),
            webhooks: adapter,
        }
    }
}

/// The live-chat link's backoff (the contract's, which both services follow); the Teams lanes
/// back off the same way with their own settings.
pub struct LinkBackoff(pub livechat_contract::retry::Backoff);

impl LinkBackoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self(livechat_contract::retry::Backoff { base, max })
    }
}

impl Backoff for LinkBackoff {
    fn delay(&self, failed_attempts: u32, retry_after: Option<Duration>) -> Duration {
        self.0.delay(failed_attempts, retry_after)
    }
}
