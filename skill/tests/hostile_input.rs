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
use skill::protocol::inbound::request_of;

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
        ],
        &[
            "message",
            "event",
            "startConversation",
            "endConversation",
            "expectReplies",
            "http://127.0.0.1:1/?q#f",
        ],
    )
}

fn parse_activity(body: &[u8]) {
    if let Ok(activity) = serde_json::from_slice::<Activity>(body) {
        let _ = activity.check_shape();
        let _ = activity.kind_label();
        let _ = request_of(&activity);
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
}
