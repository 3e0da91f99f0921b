//! The webhook signature: HMAC-SHA256 over `{timestamp}.{body}` with the shared `WEBHOOK_SECRET`.
//!
//! Headers: `X-Handover-Timestamp` (Unix seconds) and `X-Handover-Signature` (`sha256=` followed by
//! the lower-case hex digest). A timestamp more than the replay window (five minutes by default) away
//! from the skill's clock is refused, so a captured request cannot be replayed later; within the
//! window a replay is harmless because messages are idempotent on their id.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "X-Handover-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Handover-Signature";

type HmacSha256 = Hmac<Sha256>;

/// The `X-Handover-Signature` value for a body sent at `timestamp`.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default();
    format!("sha256={digest}")
}

/// HMAC accepts keys of any length, so this is `None` only in theory.
fn mac(secret: &SecretString, timestamp: i64, body: &[u8]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// Checks a signature in constant time and the timestamp against the replay window.
pub fn verify(
    secret: &SecretString,
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: i64,
    replay_window_secs: u64,
) -> Result<(), String> {
    let timestamp_text =
        timestamp_header.ok_or(format!("the webhook has no {TIMESTAMP_HEADER} header"))?;
    let timestamp: i64 = timestamp_text
        .trim()
        .parse()
        .map_err(|_| format!("{TIMESTAMP_HEADER} is not Unix seconds"))?;
    if now.abs_diff(timestamp) > replay_window_secs {
        return Err(format!(
            "{TIMESTAMP_HEADER} is outside the {replay_window_secs} s replay window"
        ));
    }
    let signature =
        signature_header.ok_or(format!("the webhook has no {SIGNATURE_HEADER} header"))?;
    let hex_digest = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or(format!("{SIGNATURE_HEADER} must start with sha256="))?;
    let digest =
        hex::decode(hex_digest).map_err(|_| format!("{SIGNATURE_HEADER} is not hexadecimal"))?;
    // verify_slice compares in constant time.
    let mac = mac(secret, timestamp, body).ok_or("the webhook secret is unusable")?;
    mac.verify_slice(&digest)
        .map_err(|_| "the webhook signature does not match".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let secret = SecretString::from("s3cret");
        let signature = sign(&secret, 1_000, b"{\"a\":1}");
        assert!(verify(
            &secret,
            Some("1000"),
            Some(&signature),
            b"{\"a\":1}",
            1_010,
            300
        )
        .is_ok());
        assert!(
            verify(
                &secret,
                Some("1000"),
                Some(&signature),
                b"{\"a\":2}",
                1_010,
                300
            )
            .is_err(),
            "body changed"
        );
        assert!(
            verify(
                &secret,
                Some("1001"),
                Some(&signature),
                b"{\"a\":1}",
                1_010,
                300
            )
            .is_err(),
            "timestamp changed"
        );
        assert!(verify(
            &SecretString::from("other"),
            Some("1000"),
            Some(&signature),
            b"{\"a\":1}",
            1_010,
            300
        )
        .is_err());
        assert!(
            verify(
                &secret,
                Some("1000"),
                Some(&signature),
                b"{\"a\":1}",
                1_400,
                300
            )
            .is_err(),
            "too old"
        );
        assert!(
            verify(
                &secret,
                Some("1000"),
                Some(&signature),
                b"{\"a\":1}",
                600,
                300
            )
            .is_err(),
            "too far ahead"
        );
        assert!(verify(&secret, None, Some(&signature), b"", 1_000, 300).is_err());
        assert!(verify(&secret, Some("1000"), None, b"", 1_000, 300).is_err());
        assert!(verify(&secret, Some("1000"), Some("md5=00"), b"", 1_000, 300).is_err());
    }
}
