//! What a customer's message carries besides its `text`, read from the activity as Teams and
//! Copilot Studio send it: the words as written (Teams' HTML flattened, `html.rs`), the files the
//! skill can fetch, what it cannot forward and why, and what becomes a note for the agent (a card's
//! submit, a sticker, content that is not a file).
//!
//! The shapes (`../shared/docs/attachments-facts.md`):
//! - a picture pasted in Teams: an `image/*` attachment whose `contentUrl` is on the
//!   conversation's Bot Connector (fetched with the Copilot Studio agent's token), beside a
//!   `text/html` attachment holding the message as HTML;
//! - a file sent in a personal chat: `application/vnd.microsoft.teams.file.download.info` whose
//!   `content.downloadUrl` is pre-authenticated (fetched with no token, at once);
//! - any other attachment with a `contentUrl`: a link, fetched with no token;
//! - a Copilot Studio file reference (`FileDataValue` / `ConversationFileReference`): what Copilot
//!   Studio forwards in place of the file; no API hands the file to a skill;
//! - cards and other inline content: not files.
//!
//! One report has Copilot Studio putting the original attachments in `channelData`; when the
//! activity's own attachments hold nothing fetchable, `channelData.attachments` is read the same
//! way.

use serde_json::Value;
use url::Url;

use super::activity::{Activity, Attachment};
use super::html;
use super::manifest::fields;
use super::teams::{proactive_service_url, TeamsTarget};
use crate::domain::files::{display_name, MAX_NOTES};
use crate::domain::{ContentNote, CustomerFile, FileSource, NotForwarded, Unforwarded};

/// A Teams file in a personal chat.
const TEAMS_FILE: &str = "application/vnd.microsoft.teams.file.download.info";
/// The message as HTML, beside its `text`.
const HTML: &str = "text/html";

/// How the skill reads what customers send.
#[derive(Debug, Clone)]
pub struct ContentRules {
    /// Where the conversation's Bot Connector is (`TEAMS_SERVICE_URL`, else derived).
    pub target: TeamsTarget,
    /// Files one message may carry; the rest are told, not fetched.
    pub max_files: usize,
}

/// A customer's message, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerContent {
    pub text: String,
    pub files: Vec<CustomerFile>,
    pub unforwarded: Vec<Unforwarded>,
    pub notes: Vec<ContentNote>,
}

/// Reads what `activity` carries.
pub fn content_of(activity: &Activity, rules: &ContentRules) -> CustomerContent {
    let own = activity.attachments.as_deref().unwrap_or_default();
    let html_version = own
        .iter()
        .find(|attachment| attachment.content_type.eq_ignore_ascii_case(HTML))
        .and_then(|attachment| attachment.content.as_ref())
        .and_then(Value::as_str);
    let plain = activity.text.clone().unwrap_or_default();
    let is_xml = activity
        .text_format
        .as_deref()
        .is_some_and(|format| format.eq_ignore_ascii_case("xml"));
    let flattened = match html_version {
        Some(html) => html::flatten(html),
        None if is_xml || html::looks_like_markup(&plain) => html::flatten(&plain),
        None => html::Flattened {
            text: plain.trim().to_owned(),
            stickers: Vec::new(),
        },
    };
    // The HTML can lose what `text` has (a bare sticker message): the plain text stands then.
    let text = if flattened.text.is_empty() && html_version.is_some() && !plain.trim().is_empty() {
        html::flatten(&plain).text
    } else {
        flattened.text
    };
    let mut content = CustomerContent {
        text,
        notes: flattened
            .stickers
            .into_iter()
            .map(ContentNote::Sticker)
            .collect(),
        ..CustomerContent::default()
    };
    let connector = connector_origin(activity, &rules.target);
    let mut sent = Vec::new();
    for attachment in own {
        sent.extend(read(attachment, connector.as_ref()));
    }
    let fetchable = sent.iter().any(|item| matches!(item, Sent::File(_)));
    if !fetchable {
        let forwarded = activity
            .channel_data
            .as_ref()
            .and_then(|data| data.get("attachments"))
            .and_then(|value| serde_json::from_value::<Vec<Attachment>>(value.clone()).ok())
            .unwrap_or_default();
        let originals: Vec<Sent> = forwarded
            .iter()
            .flat_map(|attachment| read(attachment, connector.as_ref()))
            .filter(|item| matches!(item, Sent::File(_)))
            .collect();
        if !originals.is_empty() {
            // The originals stand for the references Copilot Studio put in their place.
            sent.retain(|item| !matches!(item, Sent::Unforwarded(unforwarded) if unforwarded.why == NotForwarded::CopilotReference));
            sent.extend(originals);
        }
    }
    for item in sent {
        match item {
            Sent::File(file) if content.files.len() < rules.max_files => content.files.push(file),
            Sent::File(file) => content.unforwarded.push(Unforwarded {
                name: file.name,
                why: NotForwarded::OverTheLimit {
                    limit: rules.max_files,
                },
            }),
            Sent::Unforwarded(unforwarded) => content.unforwarded.push(unforwarded),
            Sent::Note(note) => content.notes.push(note),
        }
    }
    if let Some(fields) = card_submit(activity, &content) {
        content.notes.push(ContentNote::CardSubmit(fields));
    }
    if content.notes.len() > MAX_NOTES {
        let more = content.notes.len() - (MAX_NOTES - 1);
        content.notes.truncate(MAX_NOTES - 1);
        content.notes.push(ContentNote::More(more));
    }
    content
}

/// One attachment, read.
enum Sent {
    File(CustomerFile),
    Unforwarded(Unforwarded),
    Note(ContentNote),
}

fn read(attachment: &Attachment, connector: Option<&Origin>) -> Option<Sent> {
    let kind = attachment.content_type.trim().to_ascii_lowercase();
    let name = attachment
        .name
        .clone()
        .filter(|name| !name.trim().is_empty());
    if kind == HTML {
        return None;
    }
    if attachment
        .content
        .as_ref()
        .is_some_and(is_copilot_reference)
    {
        return Some(Sent::Unforwarded(Unforwarded {
            name,
            why: NotForwarded::CopilotReference,
        }));
    }
    if kind == TEAMS_FILE {
        let link = attachment
            .content
            .as_ref()
            .and_then(|content| content.get("downloadUrl"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Some(match link {
            Some(url) => Sent::File(CustomerFile {
                name,
                source: FileSource::Link(url),
            }),
            None => Sent::Unforwarded(Unforwarded {
                name,
                why: NotForwarded::NotAFile {
                    kind: "file without a download link".into(),
                },
            }),
        });
    }
    if let Some(url) = attachment.content_url.clone() {
        if kind.starts_with("application/vnd.microsoft.card") {
            return Some(Sent::Note(ContentNote::Other {
                kind: display_name(&card_kind(&kind)),
                name,
            }));
        }
        let on_the_connector =
            kind.starts_with("image/") && connector.is_some_and(|origin| origin.holds(&url));
        return Some(Sent::File(CustomerFile {
            name,
            source: if on_the_connector {
                FileSource::Connector(url)
            } else {
                FileSource::Link(url)
            },
        }));
    }
    let described = if kind.starts_with("application/vnd.microsoft.card") {
        card_kind(&kind)
    } else if kind.is_empty() {
        "attachment".to_owned()
    } else {
        kind
    };
    Some(Sent::Note(ContentNote::Other {
        kind: display_name(&described),
        name,
    }))
}

/// "card" for Adaptive, hero and the other Bot Framework cards.
fn card_kind(kind: &str) -> String {
    match kind.rsplit('.').next() {
        Some("adaptive") => "Adaptive Card".to_owned(),
        Some(card) if !card.is_empty() => format!("{card} card"),
        _ => "card".to_owned(),
    }
}

/// True for Copilot Studio's stand-in for a file: a `FileDataValue` holding a
/// `ConversationFileReference`, however deep.
fn is_copilot_reference(content: &Value) -> bool {
    match content {
        Value::Object(object) => {
            object
                .get("$kind")
                .and_then(Value::as_str)
                .is_some_and(|kind| {
                    kind.eq_ignore_ascii_case("FileDataValue")
                        || kind.eq_ignore_ascii_case("ConversationFileReference")
                })
                || object.values().any(is_copilot_reference)
        }
        Value::String(text) => text.contains("ConversationFileReference"),
        _ => false,
    }
}

/// A scheme, host and port: where a Bot Connector's resources are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }

    fn holds(&self, url: &str) -> bool {
        Url::parse(url)
            .ok()
            .and_then(|url| Origin::of(&url))
            .is_some_and(|origin| origin == *self)
    }
}

/// The conversation's Bot Connector, where Teams keeps pasted pictures: the service URL proactive
/// messages go to.
fn connector_origin(activity: &Activity, target: &TeamsTarget) -> Option<Origin> {
    let service_url = proactive_service_url(
        activity.service_url.as_deref().unwrap_or_default(),
        activity.channel_id.as_deref().unwrap_or_default(),
        activity.tenant_id().as_deref(),
        target.service_url_override.as_deref(),
    );
    Url::parse(&service_url)
        .ok()
        .and_then(|url| Origin::of(&url))
}

/// A card's submit: a message with no words whose `value` holds inputs other than the skill's own.
fn card_submit(activity: &Activity, content: &CustomerContent) -> Option<Vec<(String, String)>> {
    if !content.text.is_empty() {
        return None;
    }
    let object = activity.value.as_ref()?.as_object()?;
    let ours = [
        fields::LIVE_CHAT_CONVERSATION_ID,
        fields::PROBLEM_DESCRIPTION,
    ];
    let submitted: Vec<(String, String)> = object
        .iter()
        .filter(|(name, _)| !ours.iter().any(|own| own.eq_ignore_ascii_case(name)))
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (name.clone(), value)
        })
        .collect();
    (!submitted.is_empty()).then_some(submitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> ContentRules {
        ContentRules {
            target: TeamsTarget::default(),
            max_files: 2,
        }
    }

    fn read(value: Value) -> CustomerContent {
        let mut activity = json!({
            "type": "message", "serviceUrl": "https://smba.trafficmanager.net/amer/",
            "channelId": "msteams", "conversation": {"id": "c"}, "from": {"id": "u"}
        });
        for (key, field) in value.as_object().unwrap() {
            activity[key] = field.clone();
        }
        content_of(&serde_json::from_value(activity).unwrap(), &rules())
    }

    #[test]
    fn a_pasted_picture_is_fetched_from_the_connector_and_the_html_gives_the_words() {
        let content = read(json!({
            "text": "Broken here image",
            "attachments": [
                {"contentType": "image/*", "contentUrl": "https://smba.trafficmanager.net/amer/v3/attachments/0-eus/views/original"},
                {"contentType": "text/html", "content": "<p>Broken&nbsp;<b>here</b> <img itemtype=\"http://schema.skype.com/AMSImage\" alt=\"image\" src=\"https://us-api.asm.skype.com/v1/objects/0-eus/views/imgo\"></p>"}
            ]
        }));
        assert_eq!(content.text, "Broken here");
        assert_eq!(
            content.files,
            vec![CustomerFile {
                name: None,
                source: FileSource::Connector(
                    "https://smba.trafficmanager.net/amer/v3/attachments/0-eus/views/original"
                        .into()
                )
            }]
        );
    }

    #[test]
    fn files_links_references_cards_and_the_limit() {
        let content = read(json!({
            "text": "",
            "attachments": [
                {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "report.pdf",
                 "contentUrl": "https://contoso.sharepoint.com/personal/report.pdf",
                 "content": {"downloadUrl": "https://contoso.sharepoint.com/download?tempauth=x", "uniqueId": "1", "fileType": "pdf"}},
                {"contentType": "image/png", "name": "elsewhere.png", "contentUrl": "https://evil.example/x.png"},
                {"contentType": "image/png", "name": "photo.png", "content": {"$kind": "FileDataValue", "value": {"$kind": "ConversationFileReference", "value": "8e2f"}}},
                {"contentType": "application/vnd.microsoft.card.hero", "content": {"title": "Hi"}},
                {"contentType": "application/pdf", "name": "third.pdf", "contentUrl": "https://contoso.sharepoint.com/third.pdf"}
            ]
        }));
        assert_eq!(content.files.len(), 2, "{content:?}");
        assert_eq!(
            content.files[0].source,
            FileSource::Link("https://contoso.sharepoint.com/download?tempauth=x".into())
        );
        assert_eq!(
            content.files[1].source,
            FileSource::Link("https://evil.example/x.png".into()),
            "another host's picture gets no token"
        );
        assert_eq!(
            content.unforwarded,
            vec![
                Unforwarded {
                    name: Some("photo.png".into()),
                    why: NotForwarded::CopilotReference
                },
                Unforwarded {
                    name: Some("third.pdf".into()),
                    why: NotForwarded::OverTheLimit { limit: 2 }
                },
            ]
        );
        assert_eq!(
            content.notes,
            vec![ContentNote::Other {
                kind: "hero card".into(),
                name: None
            }]
        );
    }

    #[test]
    fn originals_in_channel_data_stand_for_copilot_references() {
        let content = read(json!({
            "attachments": [{"contentType": "image/png", "name": "photo.png", "content": {"$kind": "FileDataValue"}}],
            "channelData": {"attachments": [{"contentType": "image/png", "name": "photo.png", "contentUrl": "https://smba.trafficmanager.net/amer/v3/attachments/9/views/original"}]}
        }));
        assert!(content.unforwarded.is_empty(), "{content:?}");
        assert!(matches!(content.files[0].source, FileSource::Connector(_)));
    }

    #[test]
    fn a_card_submit_and_a_sticker_become_notes() {
        let submit =
            read(json!({"value": {"LiveChatConversationId": "lc", "rating": 4, "reason": "fast"}}));
        assert_eq!(
            submit.notes,
            vec![ContentNote::CardSubmit(vec![
                ("rating".into(), "4".into()),
                ("reason".into(), "fast".into())
            ])]
        );
        let inputs_only = read(json!({"text": "hi", "value": {"LiveChatConversationId": "lc"}}));
        assert!(inputs_only.notes.is_empty());
        let sticker = read(json!({
            "text": "",
            "attachments": [{"contentType": "text/html", "content": "<img alt=\"Party\" src=\"https://statics.teams.microsoft.com/evergreen-assets/stickerassets/party.png\">"}]
        }));
        assert_eq!(
            sticker.notes,
            vec![ContentNote::Sticker(Some("Party".into()))]
        );
        assert_eq!(sticker.text, "");
    }

    #[test]
    fn xml_text_is_flattened_and_plain_text_kept() {
        assert_eq!(
            read(json!({"text": "<p>a</p><p>b</p>", "textFormat": "xml"})).text,
            "a\nb"
        );
        assert_eq!(
            read(json!({"text": "2 < 3 & *so* on"})).text,
            "2 < 3 & *so* on"
        );
        assert_eq!(
            read(json!({"text": "<at>Bot</at> hello"})).text,
            "Bot hello"
        );
    }
}
