//! Any name and any bytes a hostile sender may send: a safe name and a kind, never a panic.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use service_support::files::{self, FileKind};

proptest! {
    /// Any name a sender gives a file becomes one that is safe to show and to save under.
    #[test]
    fn any_file_name_becomes_a_safe_one(name in prop_oneof![".{0,300}", "[./\\\\ a-zA-Z\u{202e}\u{200b}:*?<>|\"\u{0}-\u{1f}]{0,40}"], bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let kind: FileKind = files::sniff(&bytes, true);
        let safe = files::safe_name(&name, kind);
        prop_assert!(!safe.is_empty());
        prop_assert!(safe.chars().count() <= files::MAX_NAME_CHARS, "{safe}");
        prop_assert!(!safe.contains(['/', '\\', '<', '>', ':', '"', '|', '?', '*']), "{safe}");
        prop_assert!(!safe.chars().any(|c| c.is_control()), "{safe:?}");
        prop_assert!(!safe.chars().any(|c| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')), "{safe:?}");
        prop_assert!(!safe.starts_with(['.', ' ']) && !safe.ends_with(['.', ' ']), "{safe:?}");
        let extension = safe.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
        prop_assert!(extension == kind.extension || kind.mime == "text/plain" || kind.mime == "image/jpeg", "{safe} for {}", kind.mime);
        let stem = safe.split('.').next().unwrap_or_default().to_ascii_lowercase();
        prop_assert!(!["con", "prn", "aux", "nul", "com1", "lpt1"].contains(&stem.as_str()), "{safe}");
        // Made safe once, a name stays as it is.
        prop_assert_eq!(files::safe_name(&safe, kind), safe.clone());
    }

    #[test]
    fn any_bytes_have_a_kind(bytes in prop::collection::vec(any::<u8>(), 0..2048), complete in any::<bool>()) {
        let kind = files::sniff(&bytes, complete);
        prop_assert!(!kind.mime.is_empty());
    }
}
