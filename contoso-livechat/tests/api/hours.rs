//! Business hours: outside them the availability says the centre is closed and when it opens,
//! by the clock the app goes by (stopped here on a known weekday).

use std::time::Duration;

use serde_json::json;
use service_support::clock::Clock;

use crate::helpers::*;

fn office_hours(clock: Clock) -> Options {
    Options {
        clock: Some(clock),
        ..Options::default()
    }
    .with_settings(|settings| {
        let weekday = Some(vec!["09:00-17:30".to_owned()]);
        settings.hours.time_zone = Some("Europe/London".into());
        settings.hours.monday = weekday.clone();
        settings.hours.tuesday = weekday.clone();
        settings.hours.wednesday = weekday.clone();
        settings.hours.thursday = weekday.clone();
        settings.hours.friday = Some(vec!["09:00-12:00".into(), "13:00-17:00".into()]);
        settings.hours.holidays = vec!["2026-12-25".into()];
    })
}

fn at(text: &str) -> Clock {
    Clock::paused_at(chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc())
}

#[tokio::test]
async fn outside_business_hours_the_centre_is_closed_until_it_next_opens() {
    // Friday 11 December 2026, 12:30 in London (UTC in winter): lunch.
    let clock = at("2026-12-11T12:30:00Z");
    let app = spawn_app_with(office_hours(clock.clone())).await;
    let closed = app.availability().await;
    assert_eq!(closed["open"], false);
    assert_eq!(closed["nextOpening"], "2026-12-11T13:00:00+00:00");
    assert_eq!(closed["timeZone"], "Europe/London");

    // Half an hour later it is open, and says nothing of openings.
    clock.advance(Duration::from_secs(30 * 60));
    let open = app.availability().await;
    assert_eq!(open["open"], true);
    assert!(open.get("nextOpening").is_none(), "{open}");

    // Friday evening: Monday morning. A conversation still opens (a left message is one).
    clock.advance(Duration::from_secs(5 * 3600));
    assert_eq!(
        app.availability().await["nextOpening"],
        "2026-12-14T09:00:00+00:00"
    );
    let conversation = app.start_with(&json!({"customerName": "Megan"})).await;
    assert_eq!(
        app.customer_says(&conversation, "call me back")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_holiday_is_closed_all_day_and_no_schedule_is_always_open() {
    // Christmas Day is a Friday: next opening is Monday the 28th.
    let app = spawn_app_with(office_hours(at("2026-12-25T10:00:00Z"))).await;
    let closed = app.availability().await;
    assert_eq!(closed["open"], false);
    assert_eq!(closed["nextOpening"], "2026-12-28T09:00:00+00:00");
    // Without [hours]: 24/7, on a Sunday night as well.
    let always = spawn_app_with(Options {
        clock: Some(at("2026-12-13T23:30:00Z")),
        ..Options::default()
    })
    .await;
    assert_eq!(always.availability().await["open"], true);
}

#[tokio::test]
async fn overlapping_or_invalid_hours_stop_the_start_naming_the_day() {
    let refused = |change: fn(&mut contoso_livechat::configuration::Settings)| {
        let mut settings = contoso_livechat::configuration::Settings::default();
        change(&mut settings);
        settings.business_hours().unwrap_err().to_string()
    };
    let overlap = refused(|settings| {
        settings.hours.tuesday = Some(vec!["09:00-13:00".into(), "12:00-17:00".into()]);
    });
    assert!(
        overlap.contains("hours.tuesday: two opening times overlap"),
        "{overlap}"
    );
    let invalid = refused(|settings| settings.hours.monday = Some(vec!["9am-5pm".into()]));
    assert!(invalid.contains("hours.monday: '9am-5pm'"), "{invalid}");
    let zone = refused(|settings| settings.hours.time_zone = Some("London".into()));
    assert!(zone.contains("hours.time_zone"), "{zone}");
}
