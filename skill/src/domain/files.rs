//! Files in the handover, both ways: what a customer sent besides words (a file the skill fetches
//! and hands to the agent, something it cannot forward and why, a card or a sticker told as a
//! note), and a file an agent sent, shared with the customer by an unguessable link.

use std::fmt;

/// Where a customer's file is fetched from: the conversation decides which credential goes with it
/// (`protocol/` classified it as the activity arrived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// A resource of the conversation's Bot Connector (a Teams picture pasted into the message):
    /// fetched with the Copilot Studio agent's token.
    Connector(String),
    /// A pre-authenticated link (a Teams file's `downloadUrl`): fetched with no token, at once
    /// (it expires within minutes).
    Link(String),
}

/// A customer's file the skill fetches and hands to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFile {
    /// The name the customer's client gave it; made safe before the agent sees it.
    pub name: Option<String>,
    pub source: FileSource,
}

impl CustomerFile {
    /// How the file is named in words to the agent and the customer ([`display_name`]).
    pub fn shown_name(&self) -> String {
        display_name(shown(&self.name))
    }
}

/// The longest file name said in a notice or a note, in characters.
const MAX_SHOWN_NAME_CHARS: usize = 80;

/// A name the customer's client gave a file, as the skill says it to the agent and the customer:
/// no control, disguising or Markdown characters (a notice is read as Markdown by Teams, so
/// `[click](https://…)` must not become a link), at most 80 characters.
pub fn display_name(name: &str) -> String {
    let kept: String = name
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
                && !"[]()*_`<>#|~\\!/".contains(*c)
        })
        .collect();
    let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = kept.chars().take(MAX_SHOWN_NAME_CHARS).collect();
    if kept.chars().count() > MAX_SHOWN_NAME_CHARS {
        shown.push('…');
    }
    if shown.is_empty() {
        "a file".to_owned()
    } else {
        shown
    }
}

fn shown(name: &Option<String>) -> &str {
    name.as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or("a file")
}

/// Why something the customer sent does not reach the agent as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotForwarded {
    /// A Copilot Studio file reference: Copilot Studio keeps the file, and nothing gives it to a
    /// skill.
    CopilotReference,
    /// More files in one message than the skill takes.
    OverTheLimit { limit: usize },
    /// A kind of content that is not a file (audio, a card of another kind).
    NotAFile { kind: String },
    /// The live chat behind takes no files from customers.
    HubTakesNoFiles,
}

/// Something the customer sent that the agent is told of instead of receiving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unforwarded {
    pub name: Option<String>,
    pub why: NotForwarded,
}

impl Unforwarded {
    pub fn shown_name(&self) -> String {
        display_name(shown(&self.name))
    }
}

/// Something the customer did besides writing, told to the agent as a readable line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentNote {
    /// An Adaptive Card's submit: each input's name and value.
    CardSubmit(Vec<(String, String)>),
    /// A Teams sticker, by its description when it has one.
    Sticker(Option<String>),
    /// Content that is not a file (a card, a recording): what kind, and its name if it has one.
    Other { kind: String, name: Option<String> },
    /// More such content than one message's notes name: how many more.
    More(usize),
}

/// The most notes one message brings the agent; the rest are counted in a last one.
pub const MAX_NOTES: usize = 10;

/// Why a customer's file could not be fetched (or taken): in words for the agent and the customer,
/// never naming the link (which may carry a credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchRefusal {
    /// The link's host is not among those files are fetched from.
    HostNotAllowed(String),
    /// Beyond loopback only https is fetched.
    NotHttps,
    /// The host names a private, loopback or link-local address.
    PrivateAddress,
    /// The link answered with a redirect, which is never followed.
    Redirected,
    /// Larger than the skill takes.
    TooLarge {
        limit: u64,
    },
    /// A kind of file the skill does not take, as its first bytes say ("HTML web page").
    KindRefused(String),
    Empty,
    /// The link answered a refusal (expired, removed, not allowed).
    LinkRefused {
        status: u16,
    },
    /// The file did not arrive within the time allowed.
    TooSlow,
    /// The link is not a URL.
    Unusable,
    /// The file could not be kept while it was fetched.
    NotKept(String),
}

impl fmt::Display for FetchRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchRefusal::HostNotAllowed(host) => {
                write!(formatter, "files are not fetched from {host}")
            }
            FetchRefusal::NotHttps => formatter.write_str("its link is not https"),
            FetchRefusal::PrivateAddress => {
                formatter.write_str("its link points into a private network")
            }
            FetchRefusal::Redirected => formatter.write_str("its link redirected elsewhere"),
            FetchRefusal::TooLarge { limit } => write!(
                formatter,
                "it is larger than {}, the most that can be passed on",
                livechat_size(*limit)
            ),
            FetchRefusal::KindRefused(kind) => {
                write!(formatter, "files of this kind ({kind}) are not accepted")
            }
            FetchRefusal::Empty => formatter.write_str("it is empty"),
            FetchRefusal::LinkRefused { status } => {
                write!(formatter, "its link had expired or was refused ({status})")
            }
            FetchRefusal::TooSlow => formatter.write_str("it took too long to arrive"),
            FetchRefusal::Unusable => formatter.write_str("its link could not be read"),
            FetchRefusal::NotKept(why) => write!(formatter, "it could not be kept ({why})"),
        }
    }
}

/// `bytes` as people say it.
fn livechat_size(bytes: u64) -> String {
    service_support::files::describe_size(bytes)
}

/// A fetch that did not succeed: worth another attempt (the link's host was down), or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Transient(String),
    Refused(FetchRefusal),
}

impl fmt::Display for FetchError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Transient(why) => write!(formatter, "it could not be fetched ({why})"),
            FetchError::Refused(refusal) => refusal.fmt(formatter),
        }
    }
}

/// A picture's size, as the live chat measured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureSize {
    pub width: u32,
    pub height: u32,
    /// More than one frame (an animated GIF).
    pub animated: bool,
}

/// A file an agent sent, as the live chat describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFile {
    /// The live chat's reference to fetch it by (its path on the live chat).
    pub reference: String,
    /// Safe to show (the live chat made it so; the skill checks again).
    pub name: String,
    /// The kind its bytes are, as a media type.
    pub content_type: String,
    pub size: u64,
    pub picture: Option<PictureSize>,
}

/// The secret part of a file's link: whoever has it may download the file until the link expires.
#[derive(Clone, PartialEq, Eq)]
pub struct FileLinkToken(String);

impl FileLinkToken {
    /// A new unguessable token (256 random bits).
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// A token as it arrived in a link; `None` when it cannot be one (so it is never looked up).
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()))
            .then(|| Self(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FileLinkToken {
    /// Never printed: a token in a log is a download link for anyone who reads it.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("FileLinkToken(…)")
    }
}

/// An agent's file shared with the customer: the link's token, until when it works, and what the
/// customer is shown of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    pub token: FileLinkToken,
    pub expires_at_ms: i64,
    pub file: AgentFile,
}

/// A shared file as its link finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLink {
    pub file: AgentFile,
    pub expires_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unguessable_hex_and_never_printed() {
        let token = FileLinkToken::generate();
        assert_eq!(token.as_str().len(), 64);
        assert_ne!(token, FileLinkToken::generate());
        assert_eq!(FileLinkToken::parse(token.as_str()), Some(token.clone()));
        assert_eq!(format!("{token:?}"), "FileLinkToken(…)");
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
            assert_eq!(FileLinkToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_said_without_markup_controls_or_length() {
        assert_eq!(
            display_name("[click](https://evil.example) *now*.png"),
            "clickhttps:evil.example now.png"
        );
        assert_eq!(display_name("a\u{202e}gnp.exe\nline"), "agnp.exe line");
        assert_eq!(display_name(""), "a file");
        assert_eq!(display_name(&"x".repeat(200)).chars().count(), 81);
    }

    #[test]
    fn refusals_read_as_sentences_without_the_link() {
        let said = FetchRefusal::LinkRefused { status: 403 }.to_string();
        assert_eq!(said, "its link had expired or was refused (403)");
        assert_eq!(
            FetchRefusal::TooLarge { limit: 10_485_760 }.to_string(),
            "it is larger than 10 MB, the most that can be passed on"
        );
    }
}
