//! Files over HTTP: the skill's upload of a customer's file (`POST /api/chat/attachments`) and the
//! downloads (`GET /api/chat/files/{id}` with the API key, `GET /agent/files/{id}` for a signed-in
//! agent). (An agent's reply with a file is read by `compose.rs`.)
//!
//! A file is served with the kind its bytes were found to be, `X-Content-Type-Options: nosniff`
//! and `Content-Security-Policy: default-src 'none'; sandbox`, and as an attachment, except a
//! PNG, JPEG, GIF or WebP picture on the agent pages (shown inline as a thumbnail). SVG and HTML
//! are never shown inline.

use actix_files::NamedFile;
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::TryStreamExt;
use livechat_contract::api::{caller_key, Role, UploadAnswer, UploadQuery};
use serde::Deserialize;
use service_support::files::{self, INLINE_PICTURES};

use crate::auth::CurrentAgent;
use crate::error::{ApiError, PageError};
use crate::files::{FileError, FileStore, KeptFile};
use crate::routes::api::SessionApi;
use crate::store::{ConversationId, NewFile, Store, StoredFile};

impl From<FileError> for ApiError {
    fn from(error: FileError) -> Self {
        let text = error.to_string();
        match error {
            FileError::Empty | FileError::Interrupted(_) => ApiError::BadRequest(text),
            FileError::TooLarge { .. } => ApiError::PayloadTooLarge(text),
            FileError::Refused { .. } => ApiError::UnsupportedMediaType(text),
            FileError::Infected(_) => ApiError::Unprocessable(text),
            FileError::ScanUnavailable(_) => ApiError::Unavailable(text),
            FileError::Late => ApiError::RequestTimeout(text),
            FileError::Io(error) => ApiError::Unexpected(error.into()),
        }
    }
}

impl From<FileError> for PageError {
    fn from(error: FileError) -> Self {
        let status = match &error {
            FileError::Empty | FileError::Interrupted(_) => StatusCode::BAD_REQUEST,
            FileError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            FileError::Refused { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FileError::Infected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            FileError::ScanUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            FileError::Late => StatusCode::REQUEST_TIMEOUT,
            FileError::Io(_) => return PageError::Unexpected(anyhow::anyhow!(error)),
        };
        PageError::File {
            status,
            message: sentence(&error.to_string()),
        }
    }
}

/// `text` as a sentence: capitalised, with a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    format!("{first}{}.", chars.as_str().trim_end_matches('.'))
}

/// A request body as the file store reads it: a late body is told from a broken one.
fn body_of(
    payload: web::Payload,
) -> impl futures_util::Stream<Item = Result<web::Bytes, FileError>> + Unpin {
    payload.map_err(|error: PayloadError| {
        if crate::deadline::is_late(&error) {
            FileError::Late
        } else {
            FileError::Interrupted(error.to_string())
        }
    })
}

/// What the database records of a kept file named `name`.
pub(crate) fn new_file(name: &str, kept: KeptFile) -> NewFile {
    NewFile {
        name: files::safe_name(name, kept.kind),
        content_type: kept.kind.mime.to_owned(),
        size: kept.size,
        sha256: kept.sha256,
        picture: kept
            .picture
            .map(|picture| (picture.width, picture.height, picture.animated)),
    }
}

/// `POST /api/chat/attachments?conversationId=…&id=…&name=…&sender=…[&role=system]`: a customer's
/// file, the body its bytes. Refused before the body is read when the conversation is unknown or
/// ended, or the declared length is too large.
pub async fn upload(
    request: HttpRequest,
    payload: web::Payload,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
    files: web::Data<FileStore>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    let query: UploadQuery = serde_urlencoded::from_str(request.query_string())
        .map_err(|error| ApiError::BadRequest(format!("the query is not valid: {error}")))?;
    let role = query.role.unwrap_or(Role::Customer);
    if role == Role::Agent {
        return Err(ApiError::BadRequest(
            "role must be customer or system; agents send files from the agent pages".into(),
        ));
    }
    let conversation_id = ConversationId::parse(&query.conversation_id)
        .ok_or_else(|| ApiError::BadRequest("conversationId is required".into()))?;
    let client_id = caller_key(query.id.as_deref(), "id").map_err(ApiError::BadRequest)?;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let limit = files.limits().max_file_bytes;
    if declared.is_some_and(|length| length > limit) {
        return Err(FileError::TooLarge { limit }.into());
    }
    match store.conversation(&conversation_id).await? {
        None => {
            return Err(ApiError::NotFound(format!(
                "no conversation has the id '{conversation_id}'"
            )))
        }
        // A repeat of a file stored before is answered by the write, even after the end.
        Some(conversation)
            if conversation.summary.state == livechat_contract::api::ConversationState::Ended
                && client_id.is_none() =>
        {
            return Err(ApiError::Conflict(format!(
                "the conversation '{conversation_id}' has ended; nothing more can be sent to it"
            )))
        }
        Some(_) => {}
    }
    let incoming = files.receive(body_of(payload)).await?;
    let name = query.name.clone().unwrap_or_default();
    let kept = files.keep(incoming).await?;
    let sender = query
        .sender
        .as_deref()
        .map(str::trim)
        .filter(|sender| !sender.is_empty());
    let added = store
        .add_customer_file(
            &conversation_id,
            role,
            sender,
            client_id.as_deref(),
            new_file(&name, kept),
        )
        .await
        .map_err(super::api::add_error)?;
    let entry = added.value;
    let attachment = entry.attachments.first().cloned().ok_or_else(|| {
        ApiError::Conflict("an entry without a file already has this id in the conversation".into())
    })?;
    if added.created {
        tracing::info!(conversation_id = %conversation_id, message_id = %entry.id, size = attachment.size, content_type = %attachment.content_type, "file received");
    } else {
        tracing::info!(conversation_id = %conversation_id, message_id = %entry.id, "repeated file id; answering the file stored first");
    }
    Ok(HttpResponse::Ok().json(UploadAnswer {
        id: entry.id,
        attachment,
    }))
}

/// The id in a file's path.
#[derive(Deserialize)]
pub struct FilePath {
    id: String,
}

/// `GET /api/chat/files/{id}`: a stored file's bytes, for the skill (with the API key).
pub async fn download(
    request: HttpRequest,
    path: web::Path<FilePath>,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
    files: web::Data<FileStore>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    let file = store
        .file(&path.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("there is no file with that id".into()))?;
    if file.removed {
        return Err(ApiError::Gone(
            "the file was removed after its conversation ended".into(),
        ));
    }
    serve(&request, &files, &file, false)
        .await
        .map_err(|error| ApiError::Unexpected(error.into()))
}

/// `GET /agent/files/{id}`: a stored file for a signed-in agent: pictures inline, the rest as
/// downloads.
pub async fn agent_download(
    _current: CurrentAgent,
    request: HttpRequest,
    path: web::Path<FilePath>,
    store: web::Data<Store>,
    files: web::Data<FileStore>,
) -> Result<HttpResponse, PageError> {
    let file = store
        .file(&path.id)
        .await?
        .ok_or_else(|| PageError::NotFound("There is no such file.".into()))?;
    if file.removed {
        return Err(PageError::File {
            status: StatusCode::GONE,
            message: "This file was removed after its conversation ended.".into(),
        });
    }
    serve(&request, &files, &file, true)
        .await
        .map_err(|error| PageError::Unexpected(error.into()))
}

/// The file's bytes (ranges, validators) with its kind, name and the security headers.
async fn serve(
    request: &HttpRequest,
    files: &FileStore,
    file: &StoredFile,
    on_a_page: bool,
) -> std::io::Result<HttpResponse> {
    let named = NamedFile::open_async(files.path_of(&file.sha256)).await?;
    let inline = on_a_page && INLINE_PICTURES.contains(&file.content_type.as_str());
    let mime = file
        .content_type
        .parse::<actix_web::mime::Mime>()
        .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
    let mut response = named
        .set_content_type(mime)
        .use_last_modified(true)
        .into_response(request);
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_DISPOSITION,
            files::content_disposition(inline, &file.name),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            files::SERVED_FILE_POLICY.to_owned(),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}
