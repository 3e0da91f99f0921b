//! One turn of the skill endpoint, `POST /api/messages`: authenticate and check the activity,
//! turn it into a [`HandoverRequest`], have the [`Handover`] answer, and deliver the answer the
//! way the caller asked.
//!
//! `deliveryMode: expectReplies` is handled inline and answered in the HTTP response. Otherwise the
//! answer is `202`: messages and ends are stored before it; opening a live-chat session (a call
//! that can take seconds while Copilot Studio waits for its `endOfConversation`) runs after it, and
//! the replies go back to the caller's `serviceUrl` through [`ReplySender`]. Such a request is kept
//! in the store from before its `202` until its replies are sent, so a process that stops in
//! between handles it at its next start ([`SkillEndpoint::resume_unfinished_turns`]).

use std::sync::Arc;

use tracing::Instrument;

use super::activity::{types, Activity, ExpectedReplies};
use super::auth::{CallerIdentity, InboundAuth};
use super::connector;
use super::content::ContentRules;
use super::inbound::{calls_the_live_chat, request_of};
use super::render::replies;
use super::replies::ReplySender;
use crate::domain::HandoverRequest;
use crate::handover::Handover;
use crate::metrics::Metrics;
use crate::store::{PendingTurn, Store, ABANDONED_OPENING_SECS};
use crate::tasks::DeferredWork;
use service_support::masking::{Author, Masker};

/// A kept request older than this is not handled again at start: Copilot Studio has long stopped
/// waiting, and the customer has moved on.
const TURN_RESUMABLE_SECS: i64 = 10 * 60;

/// Why a turn is refused.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// A bad or missing token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A body that is not a usable activity (400).
    #[error("{0}")]
    BadRequest(String),
    /// `invoke` (501).
    #[error("{0}")]
    NotImplemented(String),
    /// Every slot for deferred work is taken (503); nothing was changed.
    #[error("{0}")]
    Busy(String),
    /// The handover failed (500).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// An authenticated, well-formed activity and what it asks.
pub struct Turn {
    activity: Activity,
    caller: CallerIdentity,
    request: HandoverRequest,
}

/// How the turn is answered over HTTP.
pub enum TurnAnswer {
    /// `202`, empty.
    Accepted,
    /// `200` with this body, `{"activities": [...]}`, for `expectReplies`.
    Replies(serde_json::Value),
}

/// The skill endpoint's collaborators.
pub struct SkillEndpoint {
    pub auth: InboundAuth,
    /// How a message's pictures, files and HTML are read.
    pub content: ContentRules,
    pub handover: Arc<Handover>,
    pub replies: Arc<ReplySender>,
    pub deferred: DeferredWork,
    pub metrics: Arc<Metrics>,
    /// Where requests answered before they are handled are kept.
    pub turns: Store,
    /// Masks the customer's words in a request kept that way, as the handover masks them.
    pub masker: Masker,
}

/// The activity with the customer's words masked (its text, and every text in its value): what
/// a kept request may hold. Handled again after a restart, it masks to the same.
fn masked(masker: &Masker, activity: &Activity) -> Activity {
    fn mask_value(masker: &Masker, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => {
                *text = masker.mask_owned(Author::Customer, std::mem::take(text));
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|item| mask_value(masker, item));
            }
            serde_json::Value::Object(fields) => {
                fields
                    .values_mut()
                    .for_each(|item| mask_value(masker, item));
            }
            _ => {}
        }
    }
    let mut kept = activity.clone();
    kept.text = kept
        .text
        .map(|text| masker.mask_owned(Author::Customer, text));
    if let Some(value) = kept.value.as_mut() {
        mask_value(masker, value);
    }
    kept
}

impl SkillEndpoint {
    /// Parses `body` and authenticates the caller: 401 for a bad or missing token, 400 for a body
    /// that is not a usable activity, 501 for `invoke`.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Turn, TurnError> {
        if authorization.is_none() && matches!(self.auth, InboundAuth::Validated(_)) {
            return Err(TurnError::Unauthorized(
                "the request has no Authorization header".into(),
            ));
        }
        let activity: Activity = serde_json::from_slice(body).map_err(|error| {
            TurnError::BadRequest(format!("the body is not a JSON activity: {error}"))
        })?;
        let service_url = activity.service_url.clone().unwrap_or_default();
        let caller = self
            .auth
            .authenticate(
                authorization,
                activity.channel_id.as_deref().unwrap_or_default(),
                &service_url,
            )
            .await
            .map_err(TurnError::Unauthorized)?;
        activity.check_shape().map_err(TurnError::BadRequest)?;
        if activity.kind() == types::INVOKE {
            return Err(TurnError::NotImplemented(
                "the handover skill does not implement invoke activities".into(),
            ));
        }
        let usable_url = connector::service_url(&service_url).map_err(TurnError::BadRequest)?;
        // The serviceUrl is also where the agent's replies go later, so anonymous mode checks it
        // for expectReplies too; an authenticated caller's is checked again at every send.
        let checked_now = caller.anonymous || !activity.expects_replies();
        if checked_now && !self.replies.can_reply(&usable_url, &caller) {
            let reason = if caller.anonymous {
                "in anonymous local mode the skill only answers loopback serviceUrls; set SKILL_APP_ID to serve Copilot Studio"
            } else {
                "the serviceUrl's host is not trusted to receive the skill's tokens; add it to SKILL_TRUSTED_HOSTS if it is yours"
            };
            return Err(TurnError::BadRequest(reason.into()));
        }
        let request = request_of(&activity, &self.content)
            .map_err(|error| TurnError::BadRequest(error.to_string()))?;
        Ok(Turn {
            activity,
            caller,
            request,
        })
    }

    /// Has the handover answer the turn, and delivers the answer.
    pub async fn answer(&self, turn: Turn) -> Result<TurnAnswer, TurnError> {
        let Turn {
            activity,
            caller,
            request,
        } = turn;
        self.metrics
            .activities
            .with_label_values(&[activity.kind_label()])
            .inc();
        // Few fields: this span is made for every message.
        let span = tracing::info_span!(
            "activity",
            activity_type = activity.kind(),
            conversation_id = activity.conversation_id(),
        );

        if activity.expects_replies() {
            let outcome = self.handover.handle(request).instrument(span).await?;
            let activities = replies(&activity, &outcome);
            return Ok(TurnAnswer::Replies(serde_json::json!(ExpectedReplies {
                activities
            })));
        }
        // Reserved before anything changes: a request refused for want of room leaves no trace.
        let slot = self
            .deferred
            .reserve()
            .ok_or_else(|| TurnError::Busy("the skill is busy; try again in a moment".into()))?;

        let (handover, sender) = (self.handover.clone(), self.replies.clone());
        if calls_the_live_chat(&request) {
            // Kept before the 202: a stop before the replies are sent is made good at the next start.
            let turn = PendingTurn {
                id: uuid::Uuid::new_v4().to_string(),
                activity: serde_json::to_string(&masked(&self.masker, &activity))
                    .map_err(anyhow::Error::from)?,
                caller: serde_json::to_string(&caller).map_err(anyhow::Error::from)?,
                created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            };
            let id = turn.id.clone();
            self.turns.record_turn(turn).await?;
            self.spawn_turn(slot, id, activity, caller, request, span);
            return Ok(TurnAnswer::Accepted);
        }

        let outcome = handover.handle(request).instrument(span.clone()).await?;
        let answers = replies(&activity, &outcome);
        if !answers.is_empty() {
            self.deferred.spawn(
                slot,
                async move {
                    sender.send(&activity, &caller, &answers).await;
                }
                .instrument(span),
            );
        }
        Ok(TurnAnswer::Accepted)
    }

    /// Handles a kept request after its 202: the handover's answer, the replies, then the request
    /// is forgotten.
    fn spawn_turn(
        &self,
        slot: crate::tasks::Slot,
        id: String,
        activity: Activity,
        caller: CallerIdentity,
        request: HandoverRequest,
        span: tracing::Span,
    ) {
        let (handover, sender, turns) = (
            self.handover.clone(),
            self.replies.clone(),
            self.turns.clone(),
        );
        self.deferred.spawn(
            slot,
            async move {
                match handover.handle(request).await {
                    Ok(outcome) => {
                        sender
                            .send(&activity, &caller, &replies(&activity, &outcome))
                            .await;
                    }
                    Err(error) => {
                        tracing::error!(error.cause_chain = ?error, "cannot handle the activity")
                    }
                }
                if let Err(error) = turns.finish_turn(&id).await {
                    tracing::warn!(error.cause_chain = ?error, "cannot forget a handled request; it is handled again at the next start");
                }
            }
            .instrument(span),
        );
    }

    /// At start: handles the requests a stopped process answered 202 but did not finish (with a
    /// shared database, only those older than another instance's opening may take), each as it
    /// would have been. Requests are idempotent (a start reuses its conversation's session, a left
    /// message and a rating are keyed by the activity), so handling one again changes nothing twice.
    pub async fn resume_unfinished_turns(&self) {
        let now = chrono::Utc::now();
        let settled_for = if self.turns.dialect().shares_the_database() {
            ABANDONED_OPENING_SECS
        } else {
            0
        };
        let before = (now - chrono::Duration::seconds(settled_for))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let turns = match self.turns.unfinished_turns(&before).await {
            Ok(turns) => turns,
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, "cannot read the requests a stop left unfinished");
                return;
            }
        };
        for turn in turns {
            let age = chrono::DateTime::parse_from_rfc3339(&turn.created_at)
                .map(|at| now.signed_duration_since(at).num_seconds())
                .unwrap_or(i64::MAX);
            let resumed = match self.resumable(&turn, age) {
                Some((activity, caller, request)) => match self.deferred.reserve() {
                    Some(slot) => {
                        let span = tracing::info_span!(
                            "activity",
                            activity_type = activity.kind(),
                            conversation_id = activity.conversation_id(),
                            resumed = true
                        );
                        tracing::info!(parent: &span, age_secs = age, "handling a request a stop left unfinished");
                        self.spawn_turn(slot, turn.id.clone(), activity, caller, request, span);
                        true
                    }
                    None => false,
                },
                None => false,
            };
            if !resumed {
                if let Err(error) = self.turns.finish_turn(&turn.id).await {
                    tracing::warn!(error.cause_chain = ?error, "cannot forget an unfinished request");
                }
            }
        }
    }

    /// What a kept request asks, unless it is too old or no longer readable.
    fn resumable(
        &self,
        turn: &PendingTurn,
        age_secs: i64,
    ) -> Option<(Activity, CallerIdentity, HandoverRequest)> {
        if age_secs > TURN_RESUMABLE_SECS {
            tracing::warn!(
                age_secs,
                "a request a stop left unfinished is too old to handle now; dropped"
            );
            return None;
        }
        let read = || -> anyhow::Result<(Activity, CallerIdentity, HandoverRequest)> {
            let activity: Activity = serde_json::from_str(&turn.activity)?;
            let caller: CallerIdentity = serde_json::from_str(&turn.caller)?;
            let request = request_of(&activity, &self.content)?;
            Ok((activity, caller, request))
        };
        read()
            .inspect_err(|error| tracing::warn!(error = %error, "a request a stop left unfinished cannot be read; dropped"))
            .ok()
    }
}
