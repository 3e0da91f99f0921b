//! A session's timer fell due (from the [`super::TimerWorker`]): a warning to the customer, or the
//! end of the chat with the customer told and the agent's transcript saying why. Nothing happens
//! if the session no longer has this timer: the store acts only if it still holds the deadline
//! that was read, in the transaction that stores the notices.

use std::time::Duration;

use super::notices::{closing, to_user};
use super::service::Handover;
use super::text;
use crate::domain::{DedupeKey, MessageToUser, Session, Timer, TimerKind};
use crate::store::TimerThen;

impl Handover {
    pub async fn fire_timer(&self, session: &Session, timer: Timer) -> anyhow::Result<()> {
        let Some(livechat) = session.open_livechat().cloned() else {
            return Ok(());
        };
        let notice = |text: String| {
            to_user(
                session,
                &livechat,
                MessageToUser::notice(text),
                DedupeKey::Timer {
                    kind: timer.kind,
                    session: &session.id,
                    due_ms: timer.due_ms,
                }
                .stored(),
            )
        };
        let (then, deliveries, reason) = match timer.kind {
            TimerKind::Queue => {
                let waited = self.timeouts.queue.unwrap_or_default();
                let mut deliveries = vec![notice(text::queue_timed_out(waited))];
                deliveries.extend(closing(&livechat, text::queue_timeout_note(waited)));
                (TimerThen::Close, deliveries, "queue timeout")
            }
            TimerKind::Warn => {
                let next = self.timeouts.after_warning(timer);
                let closes_in = next
                    .map(|end| Duration::from_millis((end.due_ms - timer.due_ms).max(0) as u64))
                    .unwrap_or_default();
                let deliveries = if next.is_some() {
                    vec![notice(text::inactivity_warning(closes_in))]
                } else {
                    Vec::new()
                };
                (TimerThen::Next(next), deliveries, "inactivity warning")
            }
            TimerKind::Idle => {
                let silent = self.timeouts.inactivity.unwrap_or_default();
                let mut deliveries = vec![notice(text::inactivity_ended(silent))];
                deliveries.extend(closing(&livechat, text::inactivity_note(silent)));
                (TimerThen::Close, deliveries, "inactivity")
            }
        };
        let closes = then == TimerThen::Close;
        if self
            .store
            .fire_timer(&session.id, timer, then, deliveries)
            .await?
        {
            let event = if closes { "closed" } else { "warned" };
            self.metrics.messages.with_label_values(&["timer"]).inc();
            tracing::info!(livechat_conversation_id = %livechat, reason, "{event} by a timer");
        } else {
            tracing::debug!(
                "the timer changed before it fired (a message, an agent or another instance)"
            );
        }
        Ok(())
    }
}
