//! Arbitrary bytes and arbitrary JSON shapes into the contract's parsers: an error, never a panic.
#![allow(clippy::unwrap_used)]

use livechat_contract::api::{EndRequest, ReceiveRequest, SendRequest, StartRequest};
use livechat_contract::{signature, webhook::WebhookEvent};
use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value, nested a few levels, with the contract's field names among the keys.
fn json() -> impl Strategy<Value = Value> {
    test_support::json_shapes(
        &[
            "type",
            "conversationId",
            "message",
            "sender",
            "role",
            "id",
            "timestamp",
        ],
        &["message", "conversationEnded", "system", "customer"],
    )
}

fn parse_everything(body: &[u8]) {
    let _ = WebhookEvent::parse(body);
    let _ = serde_json::from_slice::<StartRequest>(body);
    if let Ok(receive) = serde_json::from_slice::<ReceiveRequest>(body) {
        let _ = receive.effective_role();
    }
    let _ = serde_json::from_slice::<SendRequest>(body);
    let _ = serde_json::from_slice::<EndRequest>(body);
    let _ = signature::verify(
        b"secret",
        Some("1700000000"),
        Some("sha256=00"),
        body,
        1_700_000_000,
        300,
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&body);
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(value in json()) {
        parse_everything(value.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_signature_headers_never_panic(timestamp in prop_oneof![".{0,24}", any::<i64>().prop_map(|n| n.to_string())], signature in ".{0,80}", now in any::<i64>(), window in any::<u64>()) {
        let _ = signature::verify(b"secret", Some(&timestamp), Some(&signature), b"{}", now, window);
    }
}
