//! The live-chat system's side: adapters that implement the handover's [`LiveChat`] port and read
//! the system's own webhooks ([`WebhookReader`]). [`ContosoLiveChat`] speaks the shared contract
//! ([`livechat_contract`]), [`GenesysLiveChat`] Genesys Cloud's Open Messaging; another engagement
//! hub is another adapter here.
//!
//! Invariant: nothing outside `livechat/` knows the live-chat system's URLs, JSON or signatures;
//! the handover sees [`crate::domain::LiveChatEvent`]s and sends [`crate::domain::ToAgent`]s.

pub mod agents;
pub mod contoso;
pub mod genesys;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::domain::LiveChatEvent;

pub use contoso::ContosoLiveChat;
pub use genesys::GenesysLiveChat;
pub use webhook::{WebhookError, WebhookReader, WebhookRequest};

use crate::handover::{Backoff, LiveChat};

/// An engagement hub as the skill uses it: the handover's port, the reader of its webhooks, and
/// the events it reports by other ways than the webhook (Genesys' notification channel).
pub struct Hub {
    pub livechat: Arc<dyn LiveChat>,
    pub webhooks: Arc<dyn WebhookReader>,
    pub pushed: Option<mpsc::Receiver<LiveChatEvent>>,
}

impl Hub {
    /// Both sides of one adapter, and what it pushes, if anything.
    pub fn of<T: LiveChat + WebhookReader + 'static>(
        adapter: T,
        pushed: Option<mpsc::Receiver<LiveChatEvent>>,
    ) -> Self {
        let adapter = Arc::new(adapter);
        Self {
            livechat: adapter.clone(),
            webhooks: adapter,
            pushed,
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
