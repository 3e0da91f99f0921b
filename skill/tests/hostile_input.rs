//! Arbitrary bytes and JSON shapes into the skill's parsers, and extreme retry settings: an error
//! or a capped value, never a panic or an overflow.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;
use skill::handover::outbox::RetryPolicy;
use skill::livechat::LinkBackoff;
use skill::protocol::activity::Activity;
use skill::protocol::connector::{conversation_url, parse_retry_after, service_url};
use skill::protocol::content::ContentRules;
use skill::protocol::html::flatten;
use skill::protocol::inbound::request_of;

fn content_rules() -> ContentRules {
    ContentRules {
        target: Default::default(),
        max_files: 5,
    }
}

/// `text` as a browser shows it: whitespace runs as one space, no-break spaces as spaces, trimmed.
fn collapsed(text: &str) -> String {
    text.replace('\u{a0}', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` with HTML's special characters escaped.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Any JSON value, with the activity's field names among the keys.
fn json() -> impl Strategy<Value = Value> {
    test_support::json_shapes(
        &[
            "type",
            "name",
            "serviceUrl",
            "channelId",
            "conversation",
            "id",
            "from",
            "value",
            "text",
            "relatesTo",
            "deliveryMode",
            "attachments",
            "contentType",
            "contentUrl",
            "content",
            "downloadUrl",
            "channelData",
            "textFormat",
            "$kind",
        ],
        &[
            "message",
            "event",
            "startConversation",
            "endConversation",
            "expectReplies",
            "http://127.0.0.1:1/?q#f",
            "text/html",
            "image/png",
            "xml",
            "application/vnd.microsoft.teams.file.download.info",
            "FileDataValue",
            "<p>hi<img itemtype='http://schema.skype.com/Emoji' alt='😀'></p>",
        ],
    )
}

fn parse_activity(body: &[u8]) {
    if let Ok(activity) = serde_json::from_slice::<Activity>(body) {
        let _ = activity.check_shape();
        let _ = activity.kind_label();
        let _ = request_of(&activity, &content_rules());
        if let Some(url) = &activity.service_url {
            let _ = service_url(url);
            let _ = conversation_url(url, activity.conversation_id(), Some("x"));
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_activity(&body);
    }

    #[test]
    fn arbitrary_activity_shapes_never_panic(value in json()) {
        parse_activity(value.to_string().as_bytes());
    }

    #[test]
    fn any_retry_after_and_backoff_setting_is_capped(
        header in prop_oneof![".{0,40}", any::<u64>().prop_map(|n| n.to_string())],
        base in any::<u64>(),
        max in any::<u64>(),
        attempts in any::<u32>(),
        retry_for in any::<u64>(),
        created in any::<i64>(),
        now in any::<i64>(),
    ) {
        let cap = Duration::from_millis(max.max(base.max(1)));
        let policy = RetryPolicy {
            max_attempts: attempts,
            retry_for: Some(Duration::from_secs(retry_for)),
            backoff: Arc::new(LinkBackoff::new(Duration::from_millis(base.max(1)), cap)),
        };
        let wish = parse_retry_after(&header);
        let delay = policy.delay(attempts, wish);
        prop_assert!(delay <= cap);
        // Any clock, any age, any limit: an answer, never an overflow.
        let _ = policy.may_retry(attempts, created, now);
    }

    /// Any HTML flattens to tidy plain text: no control characters but line breaks, no line
    /// starting or ending with spaces.
    #[test]
    fn any_html_flattens_to_tidy_text(html in ".{0,400}") {
        let text = flatten(&html).text;
        prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        prop_assert_eq!(text.trim(), text.as_str());
        for line in text.lines() {
            prop_assert_eq!(line.trim_end(), line, "{:?}", text);
        }
    }

    /// Text without markup comes out as written, whitespace collapsed as a browser does.
    #[test]
    fn plain_text_is_kept(text in "[a-zA-Z0-9 ,.!?'\"()*_#é😀\u{a0}\t\n-]{0,200}") {
        prop_assert_eq!(flatten(&text).text, collapsed(&text));
    }

    /// Escaped paragraphs come back as lines of the words the customer wrote, entities decoded,
    /// nothing added.
    #[test]
    fn escaped_paragraphs_come_back_as_lines(paragraphs in prop::collection::vec("[a-z<>&\"*_ ]{0,30}", 0..6)) {
        let html: String = paragraphs.iter().map(|p| format!("<p>{}</p>", escaped(p))).collect();
        let expected: Vec<String> = paragraphs.iter().map(|p| collapsed(p)).filter(|p| !p.is_empty()).collect();
        prop_assert_eq!(flatten(&html).text, expected.join("\n"));
    }

    /// Markup never leaks into the text: whatever tags are mixed into words, no tag comes out.
    #[test]
    fn no_tag_comes_out(parts in prop::collection::vec(prop_oneof![
        Just("<b>".to_owned()), Just("</b>".to_owned()), Just("<br>".to_owned()),
        Just("<div class=\"x\">".to_owned()), Just("</div>".to_owned()),
        Just("<script>alert(1)</script>".to_owned()), Just("<style>p{color:red}</style>".to_owned()),
        Just("<img src=x onerror=alert(1)>".to_owned()), Just("<a href=\"javascript:x\">".to_owned()),
        Just("</a>".to_owned()), Just("<!-- note -->".to_owned()), Just("<at>Ann</at>".to_owned()),
        "[a-z ]{1,8}",
    ], 0..20)) {
        let text = flatten(&parts.concat()).text;
        prop_assert!(!text.contains('<') && !text.contains('>'), "{text:?}");
        prop_assert!(!text.contains("alert"), "{text:?}");
    }
}
