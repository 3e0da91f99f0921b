//! One customer's data, for the operator, with the session API's key: `GET` exports every
//! conversation of the customer with its transcript (JSON), `DELETE` erases all of it in one
//! transaction (an open conversation is ended first, and the customer told). `404` when the live
//! chat holds nothing of the customer. The same erasure runs from the command line
//! (`contoso-livechat erase-customer ID`).

use actix_web::{web, HttpRequest, HttpResponse};

use super::api::{add_error, SessionApi};
use crate::error::ApiError;
use crate::files::FileStore;
use crate::store::Store;

/// Deletes the bytes of an erasure's files that no other conversation holds.
pub async fn forget_files(
    store: &Store,
    files: &FileStore,
    hashes: &[String],
) -> anyhow::Result<usize> {
    if hashes.is_empty() {
        return Ok(0);
    }
    let referenced = store.kept_hashes().await?;
    Ok(files.forget(hashes, &referenced)?)
}

/// The operator's paths, beside the session API: `{CUSTOMERS_PATH}/{customerId}`.
pub const CUSTOMERS_PATH: &str = "/api/privacy/customers";

/// Who the customer and the agent are told ended an erased conversation.
pub const ERASURE_SENDER: &str = "Contoso Live Chat";

/// The longest customer id taken.
const MAX_CUSTOMER_ID_CHARS: usize = 1_024;

fn customer_id(path: web::Path<String>) -> Result<String, ApiError> {
    let id = path.into_inner();
    let id = id.trim();
    if id.is_empty() || id.chars().count() > MAX_CUSTOMER_ID_CHARS {
        return Err(ApiError::BadRequest(format!(
            "the customer id must be 1 to {MAX_CUSTOMER_ID_CHARS} characters"
        )));
    }
    Ok(id.to_owned())
}

fn unknown() -> ApiError {
    ApiError::NotFound("the live chat holds no conversation of this customer".into())
}

/// `GET /api/privacy/customers/{customerId}`: everything of the customer, as JSON.
pub async fn export(
    request: HttpRequest,
    path: web::Path<String>,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    let customer = customer_id(path)?;
    let export = store
        .export_customer(&customer)
        .await?
        .ok_or_else(unknown)?;
    tracing::info!(
        conversations = export.conversations.len(),
        "a customer's data was exported"
    );
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"customer-export.json\"",
        ))
        .json(export))
}

/// `DELETE /api/privacy/customers/{customerId}`: erases the customer; answers the counts.
pub async fn erase(
    request: HttpRequest,
    path: web::Path<String>,
    api: web::Data<SessionApi>,
    store: web::Data<Store>,
    files: web::Data<FileStore>,
) -> Result<HttpResponse, ApiError> {
    api.authorize(&request)?;
    let customer = customer_id(path)?;
    let erased = store
        .erase_customer(&customer, ERASURE_SENDER)
        .await
        .map_err(add_error)?
        .ok_or_else(unknown)?;
    forget_files(&store, &files, &erased.hashes).await?;
    tracing::info!(
        conversations = erased.conversations,
        messages = erased.messages,
        files = erased.files,
        ended = erased.ended,
        "a customer's data was erased"
    );
    Ok(HttpResponse::Ok().json(erased))
}
