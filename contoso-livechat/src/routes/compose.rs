//! What an agent sends from a conversation page: an action's form ([`ConversationAction`]), and
//! a reply, a plain form (words only, the page's script without a file) or `multipart/form-data`
//! (the form without script, or with a file), read into [`ReplyInput`] once the CSRF token
//! matches; the file is received (streamed, checked) before the reply is stored, and kept under
//! its hash with it (`keep_reply_file`).

use actix_multipart::{Field, Multipart};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::files::new_file;
use crate::auth::{self, AgentForm, CurrentAgent};
use crate::deadline::is_multipart;
use crate::error::PageError;
use crate::files::{FileError, FileStore, Incoming};
use crate::store::{ConversationId, NewFile};

/// The longest reply an agent may send, in characters.
pub struct ReplyLimit(pub usize);

/// The reply form's fields.
#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    message: String,
}

/// An agent's reply from the conversation page: the signed-in agent, the conversation, the words
/// and at most one file, received and checked, once the CSRF token (the page script's header, or
/// the form's `csrf_token` field ahead of the file) matches. A plain form or a `multipart/form-data`
/// one (with a file) both arrive here.
pub struct ReplyInput {
    pub current: CurrentAgent,
    pub id: ConversationId,
    pub message: String,
    /// The name the agent's computer gave the file, and the file.
    pub file: Option<(String, Incoming)>,
}

impl FromRequest for ReplyInput {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_multipart(request.headers()) {
            let action = ConversationAction::<ReplyForm>::from_request(request, payload);
            return Box::pin(async move {
                let ConversationAction { current, id, form } = action.await?;
                Ok(ReplyInput {
                    current,
                    id,
                    message: form.message,
                    file: None,
                })
            });
        }
        let id = request
            .match_info()
            .get("id")
            .and_then(ConversationId::parse);
        let current = CurrentAgent::from_request(request, payload).into_inner();
        let header = auth::csrf_header(request);
        let files = request.app_data::<web::Data<FileStore>>().cloned();
        let limit = request
            .app_data::<web::Data<ReplyLimit>>()
            .map_or(livechat_contract::api::MAX_MESSAGE_CHARS, |limit| limit.0);
        let mut parts = Multipart::new(request.headers(), payload.take());
        Box::pin(async move {
            let current = current?;
            let id = id.ok_or_else(no_such_conversation)?;
            let files = files.ok_or_else(|| {
                PageError::Unexpected(anyhow::anyhow!("the file store is not configured"))
            })?;
            let mut checked = false;
            if let Some(token) = header {
                auth::check_csrf(&current.session, Some(&token))?;
                checked = true;
            }
            let mut message = String::new();
            let mut file = None;
            while let Some(field) = parts.next().await {
                let mut field = field.map_err(|error| {
                    PageError::BadRequest(format!("The form could not be read: {error}."))
                })?;
                let name = field.name().unwrap_or_default().to_owned();
                if name == "csrf_token" {
                    let token = read_text(&mut field, 256).await?;
                    if !checked {
                        auth::check_csrf(&current.session, Some(&token))?;
                        checked = true;
                    }
                    continue;
                }
                // Nothing else is read before the token is checked.
                if !checked {
                    return Err(PageError::Forbidden.into());
                }
                match name.as_str() {
                    // Characters take up to four bytes each; a form sends line breaks as CRLF.
                    "message" => {
                        message = read_text(&mut field, limit * 4)
                            .await?
                            .replace("\r\n", "\n")
                    }
                    "file" => {
                        let filename = field
                            .content_disposition()
                            .and_then(|disposition| disposition.get_filename())
                            .unwrap_or_default()
                            .to_owned();
                        if filename.is_empty() && file.is_none() {
                            // An empty file input still sends its part.
                            drain(&mut field).await?;
                            continue;
                        }
                        if file.is_some() {
                            return Err(
                                PageError::BadRequest("Attach one file at a time.".into()).into()
                            );
                        }
                        let body =
                            (&mut field).map_err(|error| FileError::Interrupted(error.to_string()));
                        let incoming = files.receive(body).await.map_err(PageError::from)?;
                        file = Some((filename, incoming));
                    }
                    _ => drain(&mut field).await?,
                }
            }
            if !checked {
                return Err(PageError::Forbidden.into());
            }
            Ok(ReplyInput {
                current,
                id,
                message,
                file,
            })
        })
    }
}

/// A text field of at most `limit` bytes.
async fn read_text(field: &mut Field, limit: usize) -> Result<String, PageError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|error| {
            PageError::BadRequest(format!("The form could not be read: {error}."))
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(PageError::BadRequest("The message is too long.".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| PageError::BadRequest("The form is not UTF-8.".into()))
}

/// Reads a field to its end, keeping nothing.
async fn drain(field: &mut Field) -> Result<(), PageError> {
    while let Some(chunk) = field.next().await {
        chunk.map_err(|error| {
            PageError::BadRequest(format!("The form could not be read: {error}."))
        })?;
    }
    Ok(())
}

/// Keeps a reply's file, named safely.
pub async fn keep_reply_file(
    files: &FileStore,
    file: Option<(String, Incoming)>,
) -> Result<Vec<NewFile>, PageError> {
    let Some((name, incoming)) = file else {
        return Ok(Vec::new());
    };
    let kept = files.keep(incoming).await?;
    Ok(vec![new_file(&name, kept)])
}

pub fn no_such_conversation() -> PageError {
    PageError::NotFound("There is no such conversation.".into())
}

/// An agent's action on the conversation its path names (`/agent/conversations/{id}/...`): the
/// agent, the conversation and the form, once [`AgentForm`] has checked the CSRF token.
pub struct ConversationAction<T> {
    pub current: CurrentAgent,
    pub id: ConversationId,
    pub form: T,
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for ConversationAction<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let id = request
            .match_info()
            .get("id")
            .and_then(ConversationId::parse);
        let action = AgentForm::<T>::from_request(request, payload);
        Box::pin(async move {
            let AgentForm { current, form } = action.await?;
            let id = id.ok_or_else(no_such_conversation)?;
            Ok(ConversationAction { current, id, form })
        })
    }
}
