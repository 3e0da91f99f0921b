//! An agent's file as Teams shows it, each in an activity of its own after the words it came with
//! (Teams splits an activity of words and an attachment in two and loses its id): a picture Teams
//! can show (PNG, JPEG or a still GIF, at most 1 MB and 1024 x 1024 pixels) as an image attachment;
//! anything else as an Adaptive Card 1.4 with the file's name, kind and size and a Download button.
//! Both point at the skill's own link (`{SKILL_PUBLIC_URL}/files/{token}`), the only address the
//! customer's Teams can reach through a dev tunnel; a file-consent card cannot be used, since its
//! answer goes to Copilot Studio's bot, not to the skill.
//!
//! Names are the agent's and the file's: they go into the card as `TextRun`s, which Teams never
//! reads as Markdown, so a file called `[click](https://evil)` is shown as typed.

use serde_json::{json, Value};
use url::Url;

use super::activity::Attachment;
use crate::domain::{AgentFile, SharedFile, Speaker};

/// Where the skill serves the links to agents' files: `{FILE_LINK_PATH}/{token}`.
pub const FILE_LINK_PATH: &str = "/files";

/// The largest picture Teams shows inline, in bytes and pixels a side.
const TEAMS_PICTURE_BYTES: u64 = 1_000_000;
const TEAMS_PICTURE_SIDE: u32 = 1_024;
const TEAMS_PICTURES: &[&str] = &["image/png", "image/jpeg", "image/gif"];

/// The Adaptive Card version every Teams client shows (desktop, web and mobile).
pub const CARD_VERSION: &str = "1.4";

/// The skill's public base, where links to agents' files point.
#[derive(Debug, Clone)]
pub struct FileLinks {
    base: Url,
}

impl FileLinks {
    /// Links under `public_url` (`SKILL_PUBLIC_URL`).
    pub fn new(public_url: &Url) -> Self {
        let mut base = public_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Self { base }
    }

    /// The link to a shared file.
    pub fn url(&self, shared: &SharedFile) -> String {
        let path = format!(
            "{}/{}",
            FILE_LINK_PATH.trim_start_matches('/'),
            shared.token.as_str()
        );
        self.base
            .join(&path)
            .map(String::from)
            .unwrap_or_else(|_| format!("{}{path}", self.base))
    }
}

/// True for a picture Teams shows inline.
pub fn is_teams_picture(file: &AgentFile) -> bool {
    TEAMS_PICTURES.contains(&file.content_type.as_str())
        && file.size <= TEAMS_PICTURE_BYTES
        && file.picture.is_some_and(|picture| {
            picture.width <= TEAMS_PICTURE_SIDE
                && picture.height <= TEAMS_PICTURE_SIDE
                && !picture.animated
        })
}

/// The attachment that shows `shared` in Teams.
pub fn attachment(from: &Speaker, shared: &SharedFile, links: &FileLinks) -> Attachment {
    let url = links.url(shared);
    let file = &shared.file;
    if is_teams_picture(file) {
        return Attachment {
            content_type: file.content_type.clone(),
            content_url: Some(url),
            name: Some(file.name.clone()),
            ..Attachment::default()
        };
    }
    Attachment {
        content_type: "application/vnd.microsoft.card.adaptive".to_owned(),
        content: Some(card(from, shared, &url)),
        ..Attachment::default()
    }
}

/// The Adaptive Card of a file: who sent it, its name, its kind and size, until when the link
/// works, and a Download button.
fn card(from: &Speaker, shared: &SharedFile, url: &str) -> Value {
    let file = &shared.file;
    let who = match from {
        Speaker::Agent(name) => vec![
            json!({"type": "TextRun", "text": name, "weight": "Bolder"}),
            json!({"type": "TextRun", "text": " sent a file"}),
        ],
        Speaker::Skill => {
            vec![json!({"type": "TextRun", "text": "A file for you", "weight": "Bolder"})]
        }
    };
    let until = chrono::DateTime::from_timestamp_millis(shared.expires_at_ms)
        .map(|at| at.format("%-d %B %Y").to_string())
        .unwrap_or_default();
    let details = format!(
        "{} · {} · the link works until {until}",
        service_support::files::capitalised(&service_support::files::describe_type(
            &file.content_type
        )),
        service_support::files::describe_size(file.size),
    );
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": [
            {"type": "RichTextBlock", "inlines": who},
            {"type": "RichTextBlock", "inlines": [
                {"type": "TextRun", "text": file.name, "size": "Medium"}
            ]},
            {"type": "RichTextBlock", "spacing": "None", "inlines": [
                {"type": "TextRun", "text": details, "isSubtle": true, "size": "Small"}
            ]}
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Download", "url": url}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FileLinkToken, PictureSize};

    fn shared(content_type: &str, size: u64, picture: Option<PictureSize>) -> SharedFile {
        SharedFile {
            token: FileLinkToken::parse(&"ab".repeat(32)).unwrap(),
            expires_at_ms: 1_796_000_000_000,
            file: AgentFile {
                reference: "ref-1".into(),
                name: "[click](https://evil.example) label.png".into(),
                content_type: content_type.into(),
                size,
                picture,
            },
        }
    }

    fn still(width: u32, height: u32) -> Option<PictureSize> {
        Some(PictureSize {
            width,
            height,
            animated: false,
        })
    }

    #[test]
    fn links_are_under_the_public_url() {
        let links = FileLinks::new(&Url::parse("https://abc-5001.euw.devtunnels.ms").unwrap());
        let file = shared("application/pdf", 10, None);
        assert_eq!(
            links.url(&file),
            format!(
                "https://abc-5001.euw.devtunnels.ms/files/{}",
                "ab".repeat(32)
            )
        );
        let nested = FileLinks::new(&Url::parse("https://host/skill").unwrap());
        assert!(nested.url(&file).starts_with("https://host/skill/files/"));
    }

    #[test]
    fn pictures_within_teams_limits_are_shown_and_the_rest_are_cards() {
        let links = FileLinks::new(&Url::parse("https://skill.example.com/").unwrap());
        let agent = Speaker::Agent("Ann".into());
        let picture = attachment(
            &agent,
            &shared("image/png", 50_000, still(800, 600)),
            &links,
        );
        assert_eq!(picture.content_type, "image/png");
        assert!(picture.content_url.unwrap().ends_with(&"ab".repeat(32)));
        for (kind, size, dimensions) in [
            ("image/png", 1_500_000, still(800, 600)),
            ("image/png", 50_000, still(2000, 600)),
            ("image/webp", 50_000, still(80, 60)),
            (
                "image/gif",
                50_000,
                Some(PictureSize {
                    width: 80,
                    height: 60,
                    animated: true,
                }),
            ),
            ("image/jpeg", 50_000, None),
            ("application/pdf", 50_000, None),
        ] {
            let card = attachment(&agent, &shared(kind, size, dimensions), &links);
            assert_eq!(
                card.content_type, "application/vnd.microsoft.card.adaptive",
                "{kind} {size}"
            );
            let content = card.content.unwrap();
            assert_eq!(content["version"], "1.4");
            assert_eq!(content["actions"][0]["type"], "Action.OpenUrl");
            assert_eq!(
                content["body"][1]["inlines"][0]["text"], "[click](https://evil.example) label.png",
                "a TextRun: never Markdown"
            );
        }
    }
}
