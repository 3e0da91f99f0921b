//! The live-chat system's side: adapters that implement the handover's [`LiveChat`] port and read
//! the system's own webhooks ([`WebhookReader`]). [`ContosoLiveChat`] speaks the shared contract
//! ([`livechat_contract`]), [`GenesysLiveChat`] Genesys Cloud's Open Messaging; another engagement
//! hub is another adapter here.
//!
//! Invariant: nothing outside `livechat/` knows the live-chat system's URLs, JSON or signatures;
//! the handover sees [`crate::domain::LiveChatEvent`]s and sends [`crate::domain::ToAgent`]s.

pub mod contoso;
pub mod genesys;
pub mod webhook;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::domain::LiveChatEvent;

pub use contoso::ContosoLiveChat;
pub use genesys::GenesysLiveChat;
pub use webhook::{WebhookError, WebhookReader, WebhookRequest};

use crate::handover::{Backoff, LiveChat};

/// An engagement hub as the skill uses it: the handover's port, the reader of its webhooks, and
/// the events it reports by other ways than the webhook (Genesys' notification channel).
#[derive(Clone)]
pub struct Hub {
    pub livechat: Arc<dyn LiveChat>,
    pub webhooks: Arc<dyn WebhookReader>,
    pushed: Arc<Mutex<Option<mpsc::Receiver<LiveChatEvent>>>>,
}

impl Hub {
    /// Both sides of one adapter.
    pub fn of<T: LiveChat + WebhookReader + 'static>(adapter: T) -> Self {
        let adapter = Arc::new(adapter);
        Self {
            livechat: adapter.clone(),
            webhooks: adapter,
            pushed: Arc::new(Mutex::new(None)),
        }
    }

    /// An adapter that also pushes events.
    pub fn pushing<T: LiveChat + WebhookReader + 'static>(
        adapter: T,
        events: mpsc::Receiver<LiveChatEvent>,
    ) -> Self {
        let hub = Self::of(adapter);
        *hub.pushed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(events);
        hub
    }

    /// The pushed events, to the first who asks.
    pub fn take_pushed(&self) -> Option<mpsc::Receiver<LiveChatEvent>> {
        self.pushed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
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
