//! The Bot Framework's `ErrorResponse`, `{"error": {"code": "...", "message": "..."}}`: the body of
//! every error the skill answers but the webhook's, which Microsoft's SDKs already know how to read.

use actix_web::http::StatusCode;
use serde_json::json;

/// The error code the Bot Framework's schema has for an HTTP status.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadArgument",
        401 => "Unauthorized",
        404 => "NotFound",
        408 => "RequestTimeout",
        410 => "ConversationEnded",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        501 => "NotImplemented",
        503 => "ServiceBusy",
        _ => "ServiceError",
    }
}

/// The body of an error answered with `status`, saying `message`.
pub fn error_body(status: StatusCode, message: &str) -> serde_json::Value {
    json!({ "error": { "code": code_of(status), "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_schema_codes() {
        assert_eq!(
            error_body(StatusCode::BAD_REQUEST, "no"),
            json!({"error": {"code": "BadArgument", "message": "no"}})
        );
        assert_eq!(
            error_body(StatusCode::SERVICE_UNAVAILABLE, "busy")["error"]["code"],
            "ServiceBusy"
        );
        assert_eq!(
            error_body(StatusCode::INTERNAL_SERVER_ERROR, "x")["error"]["code"],
            "ServiceError"
        );
    }
}
