//! The contract between the handover skill and Contoso Live Chat, written once and used by both.
//!
//! - [`api`]: the bodies of the session API the skill calls (`/api/chat/*`).
//! - [`webhook`]: the events the live chat posts to the skill's webhook, as one typed enum, and
//!   the skill's answer.
//! - [`signature`]: the webhook's HMAC signature and its header names.
//! - [`retry`]: which answers both ends retry, and the backoff between attempts.
//! - [`openapi`]: the contract as an OpenAPI 3.1 document, generated from these types.
//! - [`files`]: attachments, the upload and download of files, the kinds of file both ends take and
//!   safe file names.
//!
//! The wire format is the one the README's "live-chat contract" documents: JSON in camelCase,
//! unknown fields ignored, optional fields left out when empty. A field added later is optional,
//! so that a sender that does not know it keeps working.
//!
//! Invariant: nothing here knows HTTP clients or servers; the crate is paths, types, parsing,
//! signing and the retry rule.

pub mod api;
pub mod files;
pub mod openapi;
pub mod retry;
pub mod signature;
pub mod webhook;

/// The W3C trace-context header every session-API call and every webhook carries when the sender
/// exports traces: the receiver's span of the request continues the sender's trace.
pub const TRACE_HEADER: &str = "traceparent";

/// True when a `Content-Type` value names JSON (`application/json`, or `application/*+json`, with
/// any parameters). Both services answer a non-empty body of any other type (or of none) with 415,
/// so a web page elsewhere cannot post to them with a form or a plain-text fetch.
pub fn is_json_media_type(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes an absent or `null` string as empty, so that a receiver can answer "x is required"
/// for missing, null and blank values alike instead of a serde message about types.
fn text_or_empty<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// `as_str` and `parse` for an enum whose variants have fixed wire names (the same names serde
/// writes), for the places that store or compare them as text.
macro_rules! wire_names {
    ($type:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }

            /// The variant with this wire name.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($name => Some($type::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use wire_names;

#[cfg(test)]
mod tests {
    #[test]
    fn json_media_types_with_parameters_and_suffixes() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.x+json",
        ] {
            assert!(super::is_json_media_type(Some(yes)), "{yes}");
        }
        for no in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
            "",
        ] {
            assert!(!super::is_json_media_type(Some(no)), "{no}");
        }
        assert!(!super::is_json_media_type(None));
    }
}
