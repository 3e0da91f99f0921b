//! The webhook signature: HMAC-SHA256 over `{timestamp}.{body}` with the shared `WEBHOOK_SECRET`.
//!
//! Headers: [`TIMESTAMP_HEADER`] (Unix seconds) and [`SIGNATURE_HEADER`] (`sha256=` followed by the
//! lower-case hex digest). A timestamp further than the replay window from the receiver's clock is
//! refused, so a captured request cannot be replayed later; within the window a replay is harmless
//! because every event is idempotent on its id.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "X-Handover-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Handover-Signature";
/// Set by the receiver on a refusal for the signature's time alone ([`STALE_TIMESTAMP`]): the
/// request is answered 503 with `Retry-After`, since only the clocks are wrong, and the sender
/// retries for its bounded time, saying loudly that the clocks differ.
pub const REFUSAL_HEADER: &str = "X-Handover-Refusal";
/// [`REFUSAL_HEADER`]'s value for a timestamp outside the replay window.
pub const STALE_TIMESTAMP: &str = "stale-timestamp";
/// How far a signed timestamp may be from the receiver's clock, by default.
pub const DEFAULT_REPLAY_WINDOW_SECS: u64 = 300;

const PREFIX: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook secret is empty")]
    EmptySecret,
    #[error("the webhook has no {TIMESTAMP_HEADER} header")]
    MissingTimestamp,
    #[error("{TIMESTAMP_HEADER} is not Unix seconds")]
    MalformedTimestamp,
    #[error("{TIMESTAMP_HEADER} is outside the {window_secs} s replay window")]
    OutsideReplayWindow { window_secs: u64 },
    #[error("the webhook has no {SIGNATURE_HEADER} header")]
    MissingSignature,
    #[error("{SIGNATURE_HEADER} must be sha256= and a hexadecimal digest")]
    MalformedSignature,
    #[error("the webhook signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<HmacSha256, SignatureError> {
    // HMAC takes keys of any length; an empty one would sign with no secret at all.
    if secret.is_empty() {
        return Err(SignatureError::EmptySecret);
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::EmptySecret)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The [`SIGNATURE_HEADER`] value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    let digest = mac(secret, timestamp, body)?.finalize().into_bytes();
    Ok(format!("{PREFIX}{}", hex::encode(digest)))
}

/// Both headers for `body` sent at `timestamp`, ready to add to a request.
pub fn signature_headers(
    secret: &[u8],
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 2], SignatureError> {
    Ok([
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, sign(secret, timestamp, body)?),
    ])
}

/// Checks the timestamp against the replay window, then the signature in constant time.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: i64,
    replay_window_secs: u64,
) -> Result<(), SignatureError> {
    verify_any(
        &[secret],
        timestamp_header,
        signature_header,
        body,
        now,
        replay_window_secs,
    )
}

/// [`verify`] against each of `secrets` (the current one and, while a rotation is under way,
/// the previous one): a signature made with any of them passes.
pub fn verify_any(
    secrets: &[&[u8]],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: i64,
    replay_window_secs: u64,
) -> Result<(), SignatureError> {
    let timestamp: i64 = timestamp_header
        .ok_or(SignatureError::MissingTimestamp)?
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    if now.abs_diff(timestamp) > replay_window_secs {
        return Err(SignatureError::OutsideReplayWindow {
            window_secs: replay_window_secs,
        });
    }
    let digest = signature_header
        .ok_or(SignatureError::MissingSignature)?
        .trim()
        .strip_prefix(PREFIX)
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(SignatureError::MalformedSignature)?;
    let mut outcome = Err(SignatureError::EmptySecret);
    for secret in secrets {
        outcome = mac(secret, timestamp, body)?
            .verify_slice(&digest)
            .map_err(|_| SignatureError::Mismatch);
        if outcome.is_ok() {
            break;
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &[u8] = b"s3cret";

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let signature = sign(SECRET, 1_000, b"{\"a\":1}").unwrap();
        let check = |secret: &[u8], timestamp: &str, body: &[u8], now: i64| {
            verify(secret, Some(timestamp), Some(&signature), body, now, 300)
        };
        assert_eq!(check(SECRET, "1000", b"{\"a\":1}", 1_010), Ok(()));
        let refusals = [
            (check(SECRET, "1000", b"{\"a\":2}", 1_010), "body changed"),
            (
                check(SECRET, "1001", b"{\"a\":1}", 1_010),
                "timestamp changed",
            ),
            (check(b"other", "1000", b"{\"a\":1}", 1_010), "other secret"),
        ];
        for (result, what) in refusals {
            assert_eq!(result, Err(SignatureError::Mismatch), "{what}");
        }
        for now in [1_400, 600] {
            assert_eq!(
                check(SECRET, "1000", b"{\"a\":1}", now),
                Err(SignatureError::OutsideReplayWindow { window_secs: 300 }),
                "now = {now}"
            );
        }
    }

    #[test]
    fn during_a_rotation_either_secret_verifies_and_no_other() {
        let old = sign(b"old", 1_000, b"x").unwrap();
        let new = sign(b"new", 1_000, b"x").unwrap();
        let other = sign(b"other", 1_000, b"x").unwrap();
        let both: [&[u8]; 2] = [b"new", b"old"];
        let check =
            |signature: &str| verify_any(&both, Some("1000"), Some(signature), b"x", 1_000, 300);
        assert_eq!(check(&old), Ok(()));
        assert_eq!(check(&new), Ok(()));
        assert_eq!(check(&other), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_any(&[], Some("1000"), Some(&new), b"x", 1_000, 300),
            Err(SignatureError::EmptySecret)
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_named() {
        let cases = [
            (None, Some("sha256=00"), SignatureError::MissingTimestamp),
            (
                Some("soon"),
                Some("sha256=00"),
                SignatureError::MalformedTimestamp,
            ),
            (Some("1000"), None, SignatureError::MissingSignature),
            (
                Some("1000"),
                Some("md5=00"),
                SignatureError::MalformedSignature,
            ),
            (
                Some("1000"),
                Some("sha256=zz"),
                SignatureError::MalformedSignature,
            ),
        ];
        for (timestamp, signature, expected) in cases {
            assert_eq!(
                verify(SECRET, timestamp, signature, b"", 1_000, 300),
                Err(expected.clone()),
                "{timestamp:?} {signature:?}"
            );
        }
    }

    #[test]
    fn an_empty_secret_is_an_error_never_an_empty_signature() {
        assert_eq!(sign(b"", 1, b"x"), Err(SignatureError::EmptySecret));
        let signature = sign(SECRET, 1, b"x").unwrap();
        assert_eq!(
            verify(b"", Some("1"), Some(&signature), b"x", 1, 300),
            Err(SignatureError::EmptySecret)
        );
    }

    #[test]
    fn the_headers_carry_the_timestamp_and_its_signature() {
        let [(timestamp_name, timestamp), (signature_name, signature)] =
            signature_headers(SECRET, 42, b"body").unwrap();
        assert_eq!(
            (timestamp_name, timestamp.as_str()),
            (TIMESTAMP_HEADER, "42")
        );
        assert_eq!(signature_name, SIGNATURE_HEADER);
        assert_eq!(
            verify(SECRET, Some("42"), Some(&signature), b"body", 42, 300),
            Ok(())
        );
    }
}
