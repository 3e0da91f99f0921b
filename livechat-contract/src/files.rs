//! Files in the contract: the attachments of transcript entries and of agents' messages, the upload
//! of a customer's file (`POST /api/chat/attachments`) and the download of a stored one
//! (`GET /api/chat/files/{id}`). Which kinds of file both ends take, and what a file may be called,
//! are `service_support::files`: the same rules, but no part of the wire.
//!
//! The upload's body is the file itself, streamed (any `Content-Type`; the live chat looks at the
//! bytes); what it is for goes in the query ([`crate::api::UploadQuery`]). It answers
//! [`crate::api::UploadAnswer`], or an [`crate::api::ErrorAnswer`]: 400 malformed or empty, 401 bad key, 404 unknown conversation, 409
//! ended conversation, 413 larger than the live chat takes, 415 a kind of file it does not take,
//! 422 refused by its malware scan, 503 the scan could not be made now, 507 its storage is full.
//! An upload with an `id` seen before in that conversation answers the entry stored then and
//! stores nothing.
//!
//! A download needs the session API's key, like every `/api/chat/*` call: an attachment's `url` is
//! never a public link.

use serde::{Deserialize, Serialize};

/// `POST`: a customer's (or the skill's) file, which becomes a transcript entry of its own.
pub const ATTACHMENTS_PATH: &str = "/api/chat/attachments";
/// `GET {FILES_PATH}/{id}`: a stored file's bytes.
pub const FILES_PATH: &str = "/api/chat/files";

/// Where a stored file is fetched, relative to the live chat's base URL.
pub fn file_path(id: &str) -> String {
    let encoded: String = url_segment(id);
    format!("{FILES_PATH}/{encoded}")
}

/// A file attached to a transcript entry or an agent's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The live chat's id of the stored file.
    pub id: String,
    /// The file's name as shown, already made safe (`service_support::files::safe_name`).
    pub name: String,
    /// The kind of file its bytes say it is (a media type), never what the sender claimed.
    pub content_type: String,
    /// In bytes.
    pub size: u64,
    /// The SHA-256 of the bytes, in lowercase hex.
    pub sha256: String,
    /// Where the bytes are fetched, relative to the live chat's base URL (`/api/chat/files/{id}`),
    /// with the session API's key.
    pub url: String,
    /// A picture's size in pixels, when the live chat could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A picture of more than one frame (an animated GIF).
    #[serde(default, skip_serializing_if = "is_false")]
    pub animated: bool,
    /// The bytes were deleted (the live chat's retention of ended conversations): only the name
    /// and size are left, and `url` answers 410.
    #[serde(default, skip_serializing_if = "is_false")]
    pub removed: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `text` percent-encoded for a path segment: unreserved characters stay.
fn url_segment(text: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_paths_encode_the_id() {
        assert_eq!(file_path("0190-ab"), "/api/chat/files/0190-ab");
        assert_eq!(file_path("a/b"), "/api/chat/files/a%2Fb");
    }

    #[test]
    fn attachments_round_trip_leaving_out_what_is_unknown() {
        let attachment = Attachment {
            id: "f1".into(),
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            size: 10,
            sha256: "00".into(),
            url: file_path("f1"),
            width: None,
            height: None,
            animated: false,
            removed: false,
        };
        let wire = serde_json::to_value(&attachment).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"id": "f1", "name": "a.pdf", "contentType": "application/pdf", "size": 10, "sha256": "00", "url": "/api/chat/files/f1"})
        );
        assert_eq!(
            serde_json::from_value::<Attachment>(wire).unwrap(),
            attachment
        );
    }
}
