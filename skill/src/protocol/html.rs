//! Teams' HTML as the plain text the customer wrote: paragraphs and line breaks as line breaks,
//! list items on lines of their own, emoji from their `alt`, mentions as the names they show,
//! entities decoded, and nothing added that the customer did not write (no tags, no Markdown).
//! The picture Teams pastes into a message (`AMSImage`) is left out of the words: it is one of the
//! message's files. Stickers are reported apart, so that the agent is told of them.
//!
//! The markup is tokenised by `html5gum` (a WHATWG tokenizer: entities, bad nesting and stray
//! characters are its to handle); what each token means for the text is decided here.

use html5gum::{DefaultEmitter, Token, Tokenizer};

/// The words of some HTML, and the stickers in it (each by its description, when it has one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flattened {
    pub text: String,
    pub stickers: Vec<Option<String>>,
}

/// Elements that begin and end a line of their own.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "hr",
];

/// Elements whose contents are not words.
const SILENT: &[&str] = &["script", "style", "head", "title", "template", "noscript"];

/// The text being written: whitespace collapsed as a browser does, line breaks where the markup
/// puts them.
#[derive(Default)]
struct Writer {
    out: String,
    /// A line break is due before the next words.
    break_due: bool,
    /// A space is due before the next words.
    space_due: bool,
}

impl Writer {
    fn words(&mut self, text: &str) {
        for character in text.chars() {
            // A no-break space is a space to the reader.
            let character = if character == '\u{a0}' {
                ' '
            } else {
                character
            };
            if character.is_whitespace() {
                self.space_due = true;
                continue;
            }
            if character.is_control() {
                continue;
            }
            if self.break_due {
                if !self.out.is_empty() && !self.out.ends_with('\n') {
                    self.out.push('\n');
                }
                self.break_due = false;
                self.space_due = false;
            }
            if self.space_due && !self.out.is_empty() && !self.out.ends_with('\n') {
                self.out.push(' ');
            }
            self.space_due = false;
            self.out.push(character);
        }
    }

    /// `<br>`: a line break, even an empty line when there are two.
    fn line_break(&mut self) {
        self.out.push('\n');
        self.break_due = false;
        self.space_due = false;
    }

    /// A block's edge: the next words start a new line.
    fn block(&mut self) {
        self.break_due = true;
    }

    fn finish(self) -> String {
        let mut text = String::with_capacity(self.out.len());
        let mut blank_lines = 0;
        for line in self.out.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                blank_lines += 1;
                if blank_lines > 1 {
                    continue;
                }
            } else {
                blank_lines = 0;
            }
            text.push_str(line);
            text.push('\n');
        }
        text.trim().to_owned()
    }
}

fn attribute(tag: &html5gum::StartTag<()>, name: &str) -> Option<String> {
    tag.attributes
        .get(name.as_bytes())
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// What an `<img>` is in a Teams message.
enum Picture {
    /// An emoji, written as its `alt`.
    Emoji(String),
    /// The pasted picture itself: a file of the message, not words.
    Pasted,
    Sticker(Option<String>),
    /// Any other picture: its `alt`, if it has one.
    Other(Option<String>),
}

fn picture_of(tag: &html5gum::StartTag<()>) -> Picture {
    let itemtype = attribute(tag, "itemtype")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let source = attribute(tag, "src")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let alt = attribute(tag, "alt")
        .map(|alt| alt.trim().to_owned())
        .filter(|alt| !alt.is_empty());
    if itemtype.contains("emoji") {
        return match alt {
            Some(alt) => Picture::Emoji(alt),
            None => Picture::Other(None),
        };
    }
    if itemtype.contains("amsimage") {
        return Picture::Pasted;
    }
    if itemtype.contains("sticker") || source.contains("stickerassets") {
        return Picture::Sticker(alt);
    }
    Picture::Other(alt)
}

/// The words of `html` and its stickers.
pub fn flatten(html: &str) -> Flattened {
    let mut writer = Writer::default();
    let mut stickers = Vec::new();
    // Inside an element whose contents are not words, how deep.
    let mut silent = 0usize;
    let mut links: Vec<Option<String>> = Vec::new();
    // Raw text (a script's, a style's) is read as the browser reads it, not as markup.
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if SILENT.contains(&name.as_str()) {
                    if !tag.self_closing {
                        silent += 1;
                    }
                    continue;
                }
                if silent > 0 {
                    continue;
                }
                match name.as_str() {
                    "br" => writer.line_break(),
                    "img" => match picture_of(&tag) {
                        Picture::Emoji(alt) => writer.words(&alt),
                        Picture::Pasted => {}
                        Picture::Sticker(alt) => stickers.push(alt),
                        Picture::Other(alt) => {
                            if let Some(alt) = alt {
                                writer.words(&alt);
                            }
                        }
                    },
                    "a" => links.push(attribute(&tag, "href")),
                    block if BLOCKS.contains(&block) => writer.block(),
                    _ => {}
                }
                if name == "li" {
                    writer.words("•");
                    writer.space_due = true;
                }
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if SILENT.contains(&name.as_str()) {
                    silent = silent.saturating_sub(1);
                    continue;
                }
                if silent > 0 {
                    continue;
                }
                if name == "a" {
                    // A link whose words are not its address keeps the address, in brackets.
                    if let Some(Some(href)) = links.pop() {
                        let href = href.trim();
                        let web = href.starts_with("https://") || href.starts_with("http://");
                        if web && !writer.out.ends_with(href) {
                            writer.words(&format!(" ({href})"));
                        }
                    }
                } else if BLOCKS.contains(&name.as_str()) {
                    writer.block();
                }
            }
            Token::String(text) if silent == 0 => writer.words(&String::from_utf8_lossy(&text)),
            _ => {}
        }
    }
    Flattened {
        text: writer.finish(),
        stickers,
    }
}

/// True when a message's text looks like markup (Teams sends `<at>` mentions in plain text too).
pub fn looks_like_markup(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "<p", "<div", "<br", "<at", "<span", "<img", "<b>", "<i>", "<a ", "&nbsp;", "&amp;", "&lt;",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        flatten(html).text
    }

    #[test]
    fn paragraphs_and_breaks_are_lines_and_entities_are_decoded() {
        assert_eq!(
            text("<p>Hello&nbsp;there</p><p>second &amp; last</p>"),
            "Hello there\nsecond & last"
        );
        assert_eq!(
            text("<div>one<br>two<br><br>four</div>"),
            "one\ntwo\n\nfour"
        );
        assert_eq!(text("  lots   of\n\n spaces  "), "lots of spaces");
        assert_eq!(
            text("<p>a &lt;b&gt; tag, *stars* and _under_</p>"),
            "a <b> tag, *stars* and _under_"
        );
        assert_eq!(
            text("<ul><li>milk</li><li>eggs</li></ul>after"),
            "• milk\n• eggs\nafter"
        );
    }

    #[test]
    fn emoji_come_from_alt_mentions_are_names_and_pasted_pictures_are_not_words() {
        let teams = r#"<p>Thanks <at id="0">Ann Agent</at> <img itemtype="http://schema.skype.com/Emoji" alt="😮" src="https://statics.teams.cdn.office.net/evergreen-assets/personal-expressions/v2/assets/emoticons/surprised/default/20_f.png"> see <img itemtype="http://schema.skype.com/AMSImage" alt="image" src="https://us-api.asm.skype.com/v1/objects/0-eus-d4/views/imgo"></p>"#;
        assert_eq!(text(teams), "Thanks Ann Agent 😮 see");
        let mention = r#"<span itemtype="http://schema.skype.com/Mention" itemscope itemid="0">Megan</span> hi"#;
        assert_eq!(text(mention), "Megan hi");
    }

    #[test]
    fn stickers_are_reported_and_scripts_are_not_words() {
        let flattened = flatten(
            r#"<p><img alt="Thumbs up" src="https://statics.teams.microsoft.com/evergreen-assets/stickerassets/x.png"></p><script>alert(1)</script><style>p{}</style>ok"#,
        );
        assert_eq!(flattened.text, "ok");
        assert_eq!(flattened.stickers, vec![Some("Thumbs up".to_owned())]);
    }

    #[test]
    fn links_keep_their_address_when_their_words_differ() {
        assert_eq!(
            text(r#"<a href="https://contoso.com/help">our help</a>"#),
            "our help (https://contoso.com/help)"
        );
        assert_eq!(
            text(r#"<a href="https://contoso.com">https://contoso.com</a>"#),
            "https://contoso.com"
        );
        assert_eq!(text(r#"<a href="javascript:alert(1)">x</a>"#), "x");
    }

    #[test]
    fn markup_is_recognised() {
        assert!(looks_like_markup("<p>hi</p>"));
        assert!(looks_like_markup("hey <at>Ann</at>"));
        assert!(!looks_like_markup("2 < 3 and 4 > 1"));
    }
}
