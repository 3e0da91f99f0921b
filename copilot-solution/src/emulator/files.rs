//! Files in the stand-in: what the user attaches, kept in memory and sent to the skill in the
//! shapes Teams and Copilot Studio use (`shared/docs/attachments-facts.md`), and what the agent's
//! replies carry, read the way Teams shows it (a picture, or an Adaptive Card's words and buttons).
//!
//! The three ways to send a file:
//! - as a picture pasted in Teams: an `image/*` attachment whose `contentUrl` is on the stand-in's
//!   own Bot Connector (`/connector/v3/attachments/{id}/views/original`), beside the message as
//!   HTML holding an `AMSImage` `<img>`;
//! - as a file sent in a personal chat: `application/vnd.microsoft.teams.file.download.info`
//!   whose `downloadUrl` is pre-authenticated (`/downloads/{id}?tempauth=…`) and expires after
//!   five minutes;
//! - as the Copilot Studio file reference a skill was seen to receive: a `FileDataValue` holding a
//!   `ConversationFileReference`, which nothing can fetch.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Files kept at once: the oldest go first.
const KEPT: usize = 20;
/// The largest file the page may attach (Teams' own limits are far larger; the skill's is 10 MiB).
pub const MAX_BYTES: usize = 25 * 1024 * 1024;
/// How long a download link works, as Teams' pre-authenticated links do.
const DOWNLOAD_LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// A file the user attached.
pub struct Upload {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Bytes,
    /// The pre-authenticated link's credential.
    secret: String,
    at: Instant,
}

/// The attached files, newest last.
#[derive(Default)]
pub struct Uploads {
    kept: VecDeque<Upload>,
}

impl Uploads {
    /// Keeps a file; answers its id.
    pub fn keep(&mut self, name: &str, content_type: &str, bytes: Bytes) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        if self.kept.len() >= KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(Upload {
            id: id.clone(),
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            bytes,
            secret: uuid::Uuid::new_v4().simple().to_string(),
            at: Instant::now(),
        });
        id
    }

    pub fn get(&self, id: &str) -> Option<&Upload> {
        self.kept.iter().find(|upload| upload.id == id)
    }

    /// The file a download link names, if its credential is right and it has not expired.
    pub fn by_download_link(&self, id: &str, tempauth: &str) -> Option<&Upload> {
        self.get(id).filter(|upload| {
            upload.secret == tempauth && upload.at.elapsed() < DOWNLOAD_LINK_LIFETIME
        })
    }
}

/// How the user sends a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SentAs {
    /// A picture pasted into a Teams message.
    Picture,
    /// A file sent in a Teams personal chat.
    File,
    /// What Copilot Studio forwards in a file's place.
    Reference,
}

/// The activity's attachments for `upload` sent `as`, with the message's `text`, from the stand-in
/// at `base`.
pub fn teams_attachments(upload: &Upload, sent_as: SentAs, text: &str, base: &str) -> Vec<Value> {
    match sent_as {
        SentAs::Picture => vec![
            json!({
                "contentType": upload.content_type,
                "contentUrl": format!("{base}/connector/v3/attachments/{}/views/original", upload.id),
            }),
            json!({
                "contentType": "text/html",
                "content": format!(
                    "<p>{}<img itemtype=\"http://schema.skype.com/AMSImage\" alt=\"image\" src=\"https://us-api.asm.skype.com/v1/objects/{}/views/imgo\" width=\"250\"></p>",
                    escape(text),
                    upload.id
                ),
            }),
        ],
        SentAs::File => vec![json!({
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": upload.name,
            "contentUrl": format!("https://contoso-my.sharepoint.com/personal/megan/Documents/Microsoft Teams Chat Files/{}", upload.name),
            "content": {
                "downloadUrl": format!("{base}/downloads/{}?tempauth={}", upload.id, upload.secret),
                "uniqueId": upload.id,
                "fileType": upload.name.rsplit_once('.').map(|(_, extension)| extension).unwrap_or_default(),
            },
        })],
        SentAs::Reference => vec![json!({
            "contentType": upload.content_type,
            "name": upload.name,
            "content": {"$kind": "FileDataValue", "value": {"$kind": "ConversationFileReference", "value": upload.id}},
        })],
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What a line shows besides its words.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Shown {
    /// A picture, from its URL (the skill's link, or the stand-in's own copy of the user's).
    Picture { url: String, name: String },
    /// An Adaptive Card: its words, and its buttons that open links.
    Card {
        texts: Vec<String>,
        actions: Vec<CardAction>,
    },
    /// A file the user attached, by name, and how it went.
    File { name: String, note: String },
}

/// A card's button that opens a link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CardAction {
    pub title: String,
    pub url: String,
}

/// What an activity from the skill shows besides its words: pictures and cards.
pub fn shown_of(activity: &Value) -> Vec<Shown> {
    let Some(attachments) = activity["attachments"].as_array() else {
        return Vec::new();
    };
    attachments
        .iter()
        .filter_map(|attachment| {
            let kind = attachment["contentType"].as_str().unwrap_or_default();
            if kind == "application/vnd.microsoft.card.adaptive" {
                return Some(card_of(&attachment["content"]));
            }
            let url = web_link(attachment["contentUrl"].as_str()?)?;
            kind.starts_with("image/").then(|| Shown::Picture {
                url,
                name: attachment["name"].as_str().unwrap_or("picture").to_owned(),
            })
        })
        .collect()
}

/// An http(s) link, or nothing: a card's `javascript:` link is not shown as one.
fn web_link(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| url.to_owned())
}

/// An Adaptive Card's words (its text blocks and rich text runs) and its link buttons.
fn card_of(card: &Value) -> Shown {
    let texts = card["body"]
        .as_array()
        .map(|body| {
            body.iter()
                .filter_map(|element| match element["type"].as_str() {
                    Some("TextBlock") => element["text"].as_str().map(str::to_owned),
                    Some("RichTextBlock") => element["inlines"].as_array().map(|inlines| {
                        inlines
                            .iter()
                            .filter_map(|inline| inline["text"].as_str())
                            .collect::<String>()
                    }),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let actions = card["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .filter(|action| action["type"] == "Action.OpenUrl")
                .filter_map(|action| {
                    Some(CardAction {
                        title: action["title"].as_str().unwrap_or("Open").to_owned(),
                        url: web_link(action["url"].as_str()?)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Shown::Card { texts, actions }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sent_in_the_three_shapes() {
        let mut uploads = Uploads::default();
        let id = uploads.keep("photo.png", "image/png", Bytes::from_static(b"png"));
        let upload = uploads.get(&id).unwrap();
        let picture =
            teams_attachments(upload, SentAs::Picture, "look <here>", "http://127.0.0.1:9");
        assert!(picture[0]["contentUrl"]
            .as_str()
            .unwrap()
            .ends_with("/views/original"));
        assert!(picture[1]["content"]
            .as_str()
            .unwrap()
            .starts_with("<p>look &lt;here&gt;<img"));
        let file = teams_attachments(upload, SentAs::File, "", "http://127.0.0.1:9");
        let link = file[0]["content"]["downloadUrl"].as_str().unwrap();
        let secret = link.rsplit_once("tempauth=").unwrap().1;
        assert!(uploads.by_download_link(&id, secret).is_some());
        assert!(uploads.by_download_link(&id, "wrong").is_none());
        let reference = teams_attachments(upload, SentAs::Reference, "", "http://127.0.0.1:9");
        assert_eq!(
            reference[0]["content"]["value"]["$kind"],
            "ConversationFileReference"
        );
    }

    #[test]
    fn pictures_and_cards_are_read_and_only_web_links_kept() {
        let activity = json!({"attachments": [
            {"contentType": "image/png", "contentUrl": "http://127.0.0.1:5001/files/abc", "name": "where.png"},
            {"contentType": "image/png", "contentUrl": "javascript:alert(1)"},
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": {
                "body": [
                    {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "Ann"}, {"type": "TextRun", "text": " sent a file"}]},
                    {"type": "TextBlock", "text": "label.pdf"}
                ],
                "actions": [
                    {"type": "Action.OpenUrl", "title": "Download", "url": "http://127.0.0.1:5001/files/def"},
                    {"type": "Action.OpenUrl", "title": "Bad", "url": "javascript:alert(1)"}
                ]
            }}
        ]});
        let shown = shown_of(&activity);
        assert_eq!(shown.len(), 2);
        assert_eq!(
            shown[0],
            Shown::Picture {
                url: "http://127.0.0.1:5001/files/abc".into(),
                name: "where.png".into()
            }
        );
        let Shown::Card { texts, actions } = &shown[1] else {
            panic!("a card: {shown:?}")
        };
        assert_eq!(texts, &["Ann sent a file", "label.pdf"]);
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].title, "Download");
    }
}
