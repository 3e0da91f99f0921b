//! `rateConversation`: the rating is checked against the live chat's scale, then stored for the
//! live chat (delivered after anything the session still sends there), once per activity. A live
//! chat that takes no ratings gets none: the action ends `notRated`, not with an error.

use super::super::service::Handover;
use crate::domain::{DedupeKey, HandoverOutcome, Outbound, RateRequest, Rating, ToAgent};
use crate::store::NewDelivery;

impl Handover {
    pub(in crate::handover) async fn rate(
        &self,
        rate: RateRequest,
    ) -> anyhow::Result<HandoverOutcome> {
        if !self.livechat.capabilities().ratings {
            // Nothing to keep it in: the topic thanks the customer all the same, and hears so.
            tracing::info!(
                hub = self.livechat.kind(),
                "the live chat takes no ratings; not rated"
            );
            return Ok(HandoverOutcome::NotRated);
        }
        let scale = self.livechat.rating_scale();
        let rating = match Rating::parse(&rate.rating, &scale) {
            Ok(rating) => rating,
            Err(reason) => {
                tracing::warn!(reason = %reason, "rating refused");
                return Ok(HandoverOutcome::RatingRefused(reason));
            }
        };
        if rate
            .comment
            .as_ref()
            .is_some_and(|comment| comment.chars().count() > scale.max_comment_chars)
        {
            let reason = format!(
                "the Comment input is longer than {} characters",
                scale.max_comment_chars
            );
            tracing::warn!(reason = %reason, "rating refused");
            return Ok(HandoverOutcome::RatingRefused(reason));
        }
        let session = match self.find_session(&rate.keys).await? {
            Some(session) => Some(session),
            None => self.latest_session(&rate.keys).await?,
        };
        let Some(livechat) = session
            .as_ref()
            .and_then(|session| session.livechat())
            .cloned()
        else {
            tracing::warn!("rating for a conversation with no live chat");
            return Ok(HandoverOutcome::NothingToRate);
        };
        let dedupe_key = rate.id.as_ref().map(|activity| {
            DedupeKey::Rating {
                conversation: &rate.keys.conversation,
                activity,
            }
            .to_string()
        });
        self.store
            .enqueue(NewDelivery {
                payload: Outbound::ToAgent(ToAgent::Rate {
                    livechat: livechat.clone(),
                    rating,
                    comment: rate.comment,
                }),
                dedupe_key,
            })
            .await?;
        self.metrics.messages.with_label_values(&["rating"]).inc();
        tracing::info!(livechat_conversation_id = %livechat, rating = rating.get(), "rating stored for the live chat");
        Ok(HandoverOutcome::Rated)
    }
}
