//! `GET` and `HEAD /files/{token}`: the link to an agent's file that the customer's Teams shows,
//! on the skill's public URL (the only address a customer's Teams reaches through a dev tunnel).
//!
//! The token is the only credential (unguessable, never logged; the span names the route's
//! pattern, not its path). The bytes are streamed from the live chat as they come, never held
//! whole. Every answer is `nosniff`, `Content-Security-Policy: default-src 'none'; sandbox` and
//! `Referrer-Policy: no-referrer`; a file is `Content-Disposition: attachment`, except a PNG, JPEG,
//! GIF or WebP picture, shown inline. A person follows the link, so refusals are one plain
//! sentence: 404 for no such link, 410 for an expired one (or a file the live chat no longer
//! keeps), 502 when the live chat cannot give it now.

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::TryStreamExt;
use service_support::files::{content_disposition, INLINE_PICTURES, SERVED_FILE_POLICY};

use crate::domain::FileLinkToken;
use crate::handover::{Handover, LiveChatError, SharedFileLink};

/// An answer with the headers every one carries.
fn answer(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, SERVED_FILE_POLICY))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("X-Robots-Tag", "noindex, nofollow"));
    builder
}

/// A refusal, in one sentence for the person who followed the link.
fn refusal(status: StatusCode, sentence: &str) -> HttpResponse {
    answer(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; charset=utf-8")
        .body(format!("{sentence}\n"))
}

pub async fn download(
    request: HttpRequest,
    path: web::Path<String>,
    handover: web::Data<Handover>,
) -> HttpResponse {
    let Some(token) = FileLinkToken::parse(&path.into_inner()) else {
        return refusal(StatusCode::NOT_FOUND, "This link is not valid.");
    };
    let link = match handover.shared_file(&token).await {
        Ok(SharedFileLink::Works(link)) => link,
        Ok(SharedFileLink::Unknown) => {
            return refusal(StatusCode::NOT_FOUND, "This link is not valid.")
        }
        Ok(SharedFileLink::Expired) => {
            return refusal(
                StatusCode::GONE,
                "This link has expired. Ask the agent to send the file again.",
            )
        }
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "cannot look a file's link up");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "The file cannot be given right now. Try again in a moment.",
            );
        }
    };
    let file = &link.file;
    let inline = INLINE_PICTURES.contains(&file.content_type.as_str());
    let mut builder = answer(StatusCode::OK);
    builder
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .content_type(file.content_type.as_str());
    if let Ok(value) = HeaderValue::from_str(&content_disposition(inline, &file.name)) {
        builder.insert_header((header::CONTENT_DISPOSITION, value));
    }
    if request.method() == Method::HEAD {
        // The length a GET would send; no body is sent for HEAD.
        let nothing =
            futures_util::stream::empty::<Result<actix_web::web::Bytes, std::io::Error>>();
        return builder.body(SizedStream::new(file.size, nothing));
    }
    let download = match handover.open_shared_file(&link).await {
        Ok(download) => download,
        Err(LiveChatError::Rejected {
            status: 404 | 410, ..
        }) => {
            return refusal(
                StatusCode::GONE,
                "The live chat no longer keeps this file. Ask the agent to send it again.",
            )
        }
        Err(error) => {
            tracing::warn!(error = %error, "an agent's file could not be fetched from the live chat");
            return refusal(
                StatusCode::BAD_GATEWAY,
                "The file cannot be fetched from the live chat right now. Try again in a moment.",
            );
        }
    };
    tracing::info!(size = file.size, content_type = %file.content_type, "an agent's file is downloaded through its link");
    let body = download
        .body
        .map_err(|error| std::io::Error::other(format!("the live chat stopped sending: {error}")));
    match download.length {
        Some(length) => builder.body(SizedStream::new(length, body)),
        None => builder.streaming(body),
    }
}
