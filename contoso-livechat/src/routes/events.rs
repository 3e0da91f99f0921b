//! `GET /agent/events`: server-sent events for the agent pages.
//!
//! Every change is an event numbered by the store; the stream sends each with `id:` so that after a
//! dropped connection the browser's `Last-Event-ID` resumes exactly where it stopped, replayed from
//! the store: nothing missed, nothing twice. A page that slept through more than
//! [`MAX_REPLAY`] events, or names an event this store never had, is told to reload instead.
//! Each agent holds at most [`MAX_STREAMS_PER_AGENT`] streams at once; more are answered 429.
//! A stream lasts only as long as its sign-in: it is checked before every write and at every
//! heartbeat, and a stream whose sign-in ended tells its page to reload (to the sign-in page).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::{Agents, CurrentAgent, RevokedSessions};
use crate::configuration::AgentRole;
use crate::presence::{LivePages, Opened};
use crate::store::{Event, EventKind};
use crate::store::{Presence, Store};

const MAX_REPLAY: i64 = 1_000;
const BATCH: u32 = 200;
/// Also how soon a page that went away is noticed (a write to its closed connection fails).
const HEARTBEAT: Duration = Duration::from_secs(5);
pub use crate::presence::MAX_STREAMS_PER_AGENT;

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// After this event number.
    After(i64),
    /// The page must reload: it missed too much, or names an event that never was (a number
    /// from another store, a negative one, text).
    Reload,
}

/// Where to resume for a `Last-Event-ID` header (any text) or `since` parameter, when the newest
/// event is `last`: no overflow and no panic whatever is sent.
pub fn resume_point(last_event_id: Option<&str>, since: Option<i64>, last: i64) -> Resume {
    let asked = match last_event_id.map(str::trim) {
        Some(text) => match text.parse::<i64>() {
            Ok(seq) => Some(seq),
            Err(_) => return Resume::Reload,
        },
        None => since,
    };
    match asked {
        None => Resume::After(last),
        Some(seq) if seq < 0 || seq > last => Resume::Reload,
        Some(seq) if last.saturating_sub(seq) > MAX_REPLAY => Resume::Reload,
        Some(seq) => Resume::After(seq),
    }
}

/// Whether an agent who is not a supervisor may see `event`: all but another agent's whispers.
fn shown_to(event: &Event, username: &str) -> bool {
    if event.kind != EventKind::Whisper {
        return true;
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Whisper {
        whisper_to: Option<String>,
    }
    serde_json::from_str::<Whisper>(&event.payload)
        .ok()
        .and_then(|whisper| whisper.whisper_to)
        .is_some_and(|to| to.eq_ignore_ascii_case(username))
}

#[derive(Deserialize)]
pub struct Since {
    /// The last event the page has, for the first connection (later ones send `Last-Event-ID`).
    since: Option<i64>,
}

pub async fn stream(
    request: HttpRequest,
    agent: CurrentAgent,
    query: web::Query<Since>,
    store: web::Data<Store>,
    pages: web::Data<LivePages>,
    agents: web::Data<Agents>,
    revoked: web::Data<RevokedSessions>,
) -> HttpResponse {
    let Some((slot, opened)) = pages.into_inner().open(&agent.agent.username) else {
        return HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "15"))
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "At most {MAX_STREAMS_PER_AGENT} live-update streams per agent; close another tab or window."
            ));
    };
    if opened == Opened::Returned {
        // Set offline while their pages were gone; a page of theirs is back.
        if let Err(error) = store
            .set_presence(&agent.agent.username, Presence::Online)
            .await
        {
            tracing::error!(error.cause_chain = ?error, "cannot set the returning agent online");
        }
    }
    // Text that is not a header value counts as an unreadable id: reload.
    let header = request
        .headers()
        .get("Last-Event-ID")
        .map(|value| value.to_str().unwrap_or("?"));
    let resume = resume_point(header, query.since, store.last_event_seq());
    let (sender, receiver) = mpsc::channel::<Result<web::Bytes, Infallible>>(32);
    let store = store.into_inner();
    let signed_in = agent.agent;
    actix_web::rt::spawn(async move {
        let _slot = slot;
        // The sign-in is asked again before every write and at every heartbeat: a stream ends
        // with it (signed out, revoked, removed, expired), telling the page to reload.
        let still_signed_in = || signed_in.is_valid(&agents, &revoked);
        let send = |text: String| {
            let sender = sender.clone();
            async move { sender.send(Ok(web::Bytes::from(text))).await.is_ok() }
        };
        let resume_from = match resume {
            Resume::After(seq) => seq,
            Resume::Reload => {
                let _ = send("event: reload\ndata: {}\n\n".to_owned()).await;
                return;
            }
        };
        if !send("retry: 2000\n: connected\n\n".to_owned()).await {
            return;
        }
        let mut changes = store.subscribe();
        let mut last = resume_from;
        loop {
            if !still_signed_in() {
                tracing::info!(agent = %signed_in.username, "the sign-in ended; closing its live-update stream");
                let _ = send("event: reload\ndata: {}\n\n".to_owned()).await;
                return;
            }
            let events = match store.events_since(last, BATCH).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::error!(error.cause_chain = ?error, "cannot read events; closing the stream");
                    return;
                }
            };
            let full_batch = events.len() as u32 == BATCH;
            if let Some(newest) = events.last().map(|event| event.seq) {
                // One write for all that is new: a page costs one chunk per commit, not one
                // per event.
                let mut chunk = String::with_capacity(
                    events.iter().map(|event| event.payload.len() + 48).sum(),
                );
                let supervisor = agents.role_of(&signed_in.username) == AgentRole::Supervisor;
                for event in events
                    .iter()
                    .filter(|event| supervisor || shown_to(event, &signed_in.username))
                {
                    let _ = write!(
                        chunk,
                        "id: {}\nevent: {}\ndata: {}\n\n",
                        event.seq,
                        event.kind.as_str(),
                        event.payload
                    );
                }
                last = newest;
                if !send(chunk).await {
                    return;
                }
            }
            if full_batch {
                continue;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                // The page went away: give its slot back now, not at the next heartbeat.
                _ = sender.closed() => return,
                _ = tokio::time::sleep(HEARTBEAT) => if !send(": ping\n\n".to_owned()).await { return },
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(ReceiverStream::new(receiver))
}
