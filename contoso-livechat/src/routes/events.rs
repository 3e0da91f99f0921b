//! `GET /agent/events`: server-sent events for the agent pages.
//!
//! Every change is an event numbered by the store; the stream sends each with `id:` so that after a
//! dropped connection the browser's `Last-Event-ID` resumes exactly where it stopped, replayed from
//! the store: nothing missed, nothing twice. A page that slept through more than
//! [`MAX_REPLAY`] events is told to reload instead.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::CurrentAgent;
use crate::store::Store;

const MAX_REPLAY: i64 = 1_000;
const BATCH: u32 = 200;
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct Since {
    /// The last event the page has, for the first connection (later ones send `Last-Event-ID`).
    since: Option<i64>,
}

pub async fn stream(
    request: HttpRequest,
    _agent: CurrentAgent,
    query: web::Query<Since>,
    store: web::Data<Store>,
) -> HttpResponse {
    let resume_from = request
        .headers()
        .get("Last-Event-ID")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok())
        .or(query.since)
        .unwrap_or_else(|| store.last_event_seq());
    let (sender, receiver) = mpsc::channel::<Result<web::Bytes, Infallible>>(32);
    let store = store.into_inner();
    actix_web::rt::spawn(async move {
        let send = |text: String| {
            let sender = sender.clone();
            async move { sender.send(Ok(web::Bytes::from(text))).await.is_ok() }
        };
        if store.last_event_seq() - resume_from > MAX_REPLAY {
            let _ = send("event: reload\ndata: {}\n\n".to_owned()).await;
            return;
        }
        if !send("retry: 2000\n: connected\n\n".to_owned()).await {
            return;
        }
        let mut changes = store.subscribe();
        let mut last = resume_from;
        loop {
            let events = match store.events_since(last, BATCH).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::error!(error.cause_chain = ?error, "cannot read events; closing the stream");
                    return;
                }
            };
            let full_batch = events.len() as u32 == BATCH;
            for event in events {
                last = event.seq;
                if !send(format!(
                    "id: {}\nevent: {}\ndata: {}\n\n",
                    event.seq, event.kind, event.payload
                ))
                .await
                {
                    return;
                }
            }
            if full_batch {
                continue;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
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
