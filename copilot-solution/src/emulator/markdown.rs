//! Teams Markdown as Teams shows it: what the skill sends with `textFormat: markdown` (an agent's
//! name in bold before their words, both escaped) becomes runs of text, each bold, italic, struck
//! through or code or none, which the page shows with `textContent` only. Nothing is undone or
//! guessed: a `**` the agent typed arrives escaped and is shown as typed, exactly as in Teams.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::Serialize;

/// A piece of text and how it is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strong: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub emphasis: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strikethrough: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub code: bool,
}

/// The runs `markdown` shows as; paragraphs and line breaks become `\n`.
pub fn runs(markdown: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let (mut strong, mut emphasis, mut strikethrough) = (0usize, 0usize, 0usize);
    let mut push =
        |text: &str, code: bool, strong: usize, emphasis: usize, strikethrough: usize| {
            let style = Run {
                text: String::new(),
                strong: strong > 0,
                emphasis: emphasis > 0,
                strikethrough: strikethrough > 0,
                code,
            };
            match runs.last_mut() {
                Some(last)
                    if Run {
                        text: String::new(),
                        ..last.clone()
                    } == style =>
                {
                    last.text.push_str(text)
                }
                _ => runs.push(Run {
                    text: text.to_owned(),
                    ..style
                }),
            }
        };
    let mut paragraphs = 0;
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::Strong) => strong += 1,
            Event::End(TagEnd::Strong) => strong = strong.saturating_sub(1),
            Event::Start(Tag::Emphasis) => emphasis += 1,
            Event::End(TagEnd::Emphasis) => emphasis = emphasis.saturating_sub(1),
            Event::Start(Tag::Strikethrough) => strikethrough += 1,
            Event::End(TagEnd::Strikethrough) => strikethrough = strikethrough.saturating_sub(1),
            Event::Start(Tag::Paragraph) => {
                if paragraphs > 0 {
                    push("\n", false, 0, 0, 0);
                }
                paragraphs += 1;
            }
            Event::Text(text) => push(&text, false, strong, emphasis, strikethrough),
            Event::Code(text) => push(&text, true, strong, emphasis, strikethrough),
            // Shown as written: the page never interprets HTML.
            Event::Html(text) | Event::InlineHtml(text) => {
                push(&text, false, strong, emphasis, strikethrough)
            }
            Event::SoftBreak | Event::HardBreak => push("\n", false, 0, 0, 0),
            _ => {}
        }
    }
    runs
}

/// The runs' text without their styles.
pub fn plain(runs: &[Run]) -> String {
    runs.iter().map(|run| run.text.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bold(text: &str) -> Run {
        Run {
            text: text.into(),
            strong: true,
            ..Run::default()
        }
    }

    fn text(text: &str) -> Run {
        Run {
            text: text.into(),
            ..Run::default()
        }
    }

    #[test]
    fn an_agents_name_is_bold_and_what_they_typed_is_shown_as_typed() {
        // What the skill sends for Ann *A* writing "try *this* <b> & `that`".
        assert_eq!(
            runs("**Ann \\*A\\***: try \\*this\\* &lt;b&gt; &amp; \\`that\\`"),
            vec![bold("Ann *A*"), text(": try *this* <b> & `that`")]
        );
        assert_eq!(plain(&runs("**Ann**: hi")), "Ann: hi");
    }

    #[test]
    fn teams_markdown_styles_are_kept_and_html_is_text() {
        assert_eq!(
            runs("a _b_ ~~c~~ `d` <i>e</i>"),
            vec![
                text("a "),
                Run {
                    text: "b".into(),
                    emphasis: true,
                    ..Run::default()
                },
                text(" "),
                Run {
                    text: "c".into(),
                    strikethrough: true,
                    ..Run::default()
                },
                text(" "),
                Run {
                    text: "d".into(),
                    code: true,
                    ..Run::default()
                },
                text(" <i>e</i>"),
            ]
        );
        assert_eq!(plain(&runs("one\ntwo\n\nthree")), "one\ntwo\nthree");
    }
}
