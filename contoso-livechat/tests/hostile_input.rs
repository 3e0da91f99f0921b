//! Any `Last-Event-ID` or `since` a client sends: a resume point or a reload, never a panic, an
//! overflow, or a stream that waits for an event that cannot come.
#![allow(clippy::unwrap_used)]

use contoso_livechat::routes::events::{resume_point, Resume};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_last_event_id_resumes_within_the_log_or_reloads(
        header in prop_oneof![
            Just(None),
            ".{0,30}".prop_map(Some),
            any::<i64>().prop_map(|n| Some(n.to_string())),
        ],
        since in any::<Option<i64>>(),
        last in 0i64..=i64::MAX,
    ) {
        match resume_point(header.as_deref(), since, last) {
            Resume::After(seq) => prop_assert!((0..=last).contains(&seq)),
            Resume::Reload => {}
        }
    }
}

#[test]
fn the_edges() {
    assert_eq!(resume_point(None, None, 7), Resume::After(7));
    assert_eq!(resume_point(Some(" 5 "), None, 7), Resume::After(5));
    assert_eq!(resume_point(None, Some(3), 7), Resume::After(3));
    assert_eq!(resume_point(Some("4"), Some(1), 7), Resume::After(4));
    for bad in [
        "-1",
        "8",
        "x",
        "",
        "9223372036854775807",
        "-9223372036854775808",
    ] {
        assert_eq!(resume_point(Some(bad), None, 7), Resume::Reload, "{bad}");
    }
    assert_eq!(
        resume_point(Some("0"), None, 5_000),
        Resume::Reload,
        "too far behind"
    );
    assert_eq!(resume_point(None, Some(i64::MIN), i64::MAX), Resume::Reload);
}
