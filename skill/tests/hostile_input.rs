//! Arbitrary bytes and JSON shapes into the skill's parsers, and extreme retry settings: an error
//! or a capped value, never a panic or an overflow.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;
use skill::handover::outbox::RetryPolicy;
use skill::protocol::activity::Activity;
use skill::protocol::connector::{conversation_url, parse_retry_after, service_url};
use skill::protocol::inbound::request_of;

/// Any JSON value, with the activity's field names among the keys.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("name".to_owned()),
        Just("serviceUrl".to_owned()),
        Just("channelId".to_owned()),
        Just("conversation".to_owned()),
        Just("id".to_owned()),
        Just("from".to_owned()),
        Just("value".to_owned()),
        Just("text".to_owned()),
        Just("relatesTo".to_owned()),
        Just("deliveryMode".to_owned()),
        "[a-zA-Z]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("message"),
            Just("event"),
            Just("startConversation"),
            Just("endConversation"),
            Just("expectReplies"),
            Just("http://127.0.0.1:1/?q#f"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
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
        let policy = RetryPolicy {
            max_attempts: attempts,
            retry_for: Some(Duration::from_secs(retry_for)),
            base: Duration::from_millis(base.max(1)),
            max: Duration::from_millis(max.max(base.max(1))),
        };
        let wish = parse_retry_after(&header);
        let delay = policy.delay(attempts, wish);
        prop_assert!(delay <= policy.max);
        // Any clock, any age, any limit: an answer, never an overflow.
        let _ = policy.may_retry(attempts, created, now);
    }
}
