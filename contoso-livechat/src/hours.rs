//! Business hours: a weekly schedule in the contact centre's time zone, with holidays, from the
//! `[hours]` settings (24/7 when none is given). Outside them `GET /api/chat/availability` says the
//! centre is closed and when it next opens; the skill tells the customer and offers to leave a
//! message. Conversations still open (a left message is one), so nothing is refused.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// The days a schedule is looked at ahead for the next opening (a year and a week of holidays).
const LOOK_AHEAD_DAYS: i64 = 372;

/// The `[hours]` settings: each weekday's opening times as `"HH:MM-HH:MM"` (`"24:00"` ends a day),
/// holidays as `YYYY-MM-DD`. No day given means open around the clock (except on holidays); once
/// one is given, a day not given is closed.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HoursSettings {
    /// An IANA time zone such as `Europe/London`; UTC when unset.
    pub time_zone: Option<String>,
    pub monday: Option<Vec<String>>,
    pub tuesday: Option<Vec<String>>,
    pub wednesday: Option<Vec<String>>,
    pub thursday: Option<Vec<String>>,
    pub friday: Option<Vec<String>>,
    pub saturday: Option<Vec<String>>,
    pub sunday: Option<Vec<String>>,
    pub holidays: Vec<String>,
}

/// An opening time within one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    start: NaiveTime,
    /// `None`: until midnight.
    end: Option<NaiveTime>,
}

impl Slot {
    fn contains(&self, time: NaiveTime) -> bool {
        time >= self.start && self.end.is_none_or(|end| time < end)
    }
}

/// The schedule, checked.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    zone: Tz,
    /// Monday first; `None` is around the clock.
    week: Option<[Vec<Slot>; 7]>,
    holidays: BTreeSet<NaiveDate>,
}

/// Whether the centre is open, and if not, when it opens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    Open,
    /// Closed; `next` is `None` when it never opens in the coming year.
    Closed {
        next: Option<DateTime<Tz>>,
    },
}

impl BusinessHours {
    /// Around the clock, in UTC.
    pub fn always() -> Self {
        Self {
            zone: Tz::UTC,
            week: None,
            holidays: BTreeSet::new(),
        }
    }

    /// Checks the settings; the error names the key and what is wrong.
    pub fn new(settings: &HoursSettings) -> Result<Self, String> {
        let zone = match &settings.time_zone {
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("hours.time_zone: '{name}' is not an IANA time zone such as Europe/London")
            })?,
            None => Tz::UTC,
        };
        let days = [
            ("monday", &settings.monday),
            ("tuesday", &settings.tuesday),
            ("wednesday", &settings.wednesday),
            ("thursday", &settings.thursday),
            ("friday", &settings.friday),
            ("saturday", &settings.saturday),
            ("sunday", &settings.sunday),
        ];
        let week = if days.iter().all(|(_, slots)| slots.is_none()) {
            None
        } else {
            let mut week: [Vec<Slot>; 7] = Default::default();
            for (index, (name, slots)) in days.iter().enumerate() {
                week[index] = day_slots(name, slots.as_deref().unwrap_or_default())?;
            }
            if week.iter().all(Vec::is_empty) {
                return Err(
                    "hours: no day has an opening time; leave every day out for 24/7".into(),
                );
            }
            Some(week)
        };
        let mut holidays = BTreeSet::new();
        for text in &settings.holidays {
            let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                format!("hours.holidays: '{text}' is not a date such as 2026-12-25")
            })?;
            holidays.insert(date);
        }
        Ok(Self {
            zone,
            week,
            holidays,
        })
    }

    /// The last midnight at or before `now`, in the centre's time zone ("today" starts there).
    pub fn midnight_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let date = now.with_timezone(&self.zone).date_naive();
        self.local(date, NaiveTime::MIN)
            .map_or(now, |midnight| midnight.to_utc())
    }

    /// The centre's time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The time zone's IANA name.
    pub fn time_zone(&self) -> &str {
        self.zone.name()
    }

    /// Whether the centre is open at `now`, and if not, when it opens next.
    pub fn at(&self, now: DateTime<Utc>) -> Opening {
        let local = now.with_timezone(&self.zone);
        if self.open_on(local.date_naive(), local.time()) {
            return Opening::Open;
        }
        Opening::Closed {
            next: self.next_opening(now),
        }
    }

    fn slots_on(&self, date: NaiveDate) -> Option<&[Slot]> {
        if self.holidays.contains(&date) {
            return Some(&[]);
        }
        self.week
            .as_ref()
            .map(|week| week[date.weekday().num_days_from_monday() as usize].as_slice())
    }

    fn open_on(&self, date: NaiveDate, time: NaiveTime) -> bool {
        match self.slots_on(date) {
            None => true,
            Some(slots) => slots.iter().any(|slot| slot.contains(time)),
        }
    }

    /// The first moment after `now` the centre is open.
    fn next_opening(&self, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let today = now.with_timezone(&self.zone).date_naive();
        for offset in 0..LOOK_AHEAD_DAYS {
            let date = today + Duration::days(offset);
            let starts: Vec<NaiveTime> = match self.slots_on(date) {
                // Around the clock, and this is not a holiday: open from its midnight.
                None => vec![NaiveTime::MIN],
                Some(slots) => slots.iter().map(|slot| slot.start).collect(),
            };
            for start in starts {
                let Some(moment) = self.local(date, start) else {
                    continue;
                };
                if moment > now {
                    return Some(moment);
                }
            }
        }
        None
    }

    /// `date` at `time` in the zone; a time a clock change skips opens at the first valid minute.
    fn local(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Tz>> {
        let naive = date.and_time(time);
        (0..=120).find_map(|minutes| {
            self.zone
                .from_local_datetime(&(naive + Duration::minutes(minutes)))
                .earliest()
        })
    }
}

/// One day's slots, sorted, refusing bad and overlapping times.
fn day_slots(day: &str, texts: &[String]) -> Result<Vec<Slot>, String> {
    let mut slots = Vec::with_capacity(texts.len());
    for text in texts {
        let invalid =
            || format!("hours.{day}: '{text}' is not an opening time such as 09:00-17:30");
        let (start, end) = text.trim().split_once('-').ok_or_else(invalid)?;
        let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").map_err(|_| invalid())?;
        let end = match end.trim() {
            "24:00" => None,
            end => Some(NaiveTime::parse_from_str(end, "%H:%M").map_err(|_| invalid())?),
        };
        if end.is_some_and(|end| end <= start) {
            return Err(format!(
                "hours.{day}: '{text}' ends before it starts (write 24:00 for midnight)"
            ));
        }
        slots.push(Slot { start, end });
    }
    slots.sort();
    for pair in slots.windows(2) {
        let overlaps = pair[0].end.is_none_or(|end| end > pair[1].start);
        if overlaps {
            return Err(format!("hours.{day}: two opening times overlap"));
        }
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn office() -> BusinessHours {
        BusinessHours::new(&HoursSettings {
            time_zone: Some("Europe/London".into()),
            monday: Some(vec!["09:00-12:00".into(), "13:00-17:30".into()]),
            tuesday: Some(vec!["09:00-17:30".into()]),
            wednesday: Some(vec!["09:00-17:30".into()]),
            thursday: Some(vec!["09:00-17:30".into()]),
            friday: Some(vec!["09:00-17:00".into()]),
            holidays: vec!["2026-12-25".into()],
            ..HoursSettings::default()
        })
        .unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn open_within_hours_and_closed_at_lunch_at_night_at_weekends_and_on_holidays() {
        let hours = office();
        // Monday 7 December 2026, winter: London is UTC.
        assert_eq!(hours.at(utc("2026-12-07T10:00:00Z")), Opening::Open);
        let lunch = hours.at(utc("2026-12-07T12:30:00Z"));
        assert_eq!(
            lunch,
            Opening::Closed {
                next: Some(
                    Tz::Europe__London
                        .with_ymd_and_hms(2026, 12, 7, 13, 0, 0)
                        .unwrap()
                )
            }
        );
        // Friday evening: Monday morning.
        let Opening::Closed { next: Some(next) } = hours.at(utc("2026-12-11T18:00:00Z")) else {
            panic!("closed on a Friday evening");
        };
        assert_eq!(next.to_rfc3339(), "2026-12-14T09:00:00+00:00");
        // Christmas is a Friday: next is Monday the 28th.
        let Opening::Closed { next: Some(next) } = hours.at(utc("2026-12-24T20:00:00Z")) else {
            panic!("closed on Christmas Eve's evening");
        };
        assert_eq!(next.to_rfc3339(), "2026-12-28T09:00:00+00:00");
        // Summer time: 09:00 in London is 08:00 UTC.
        assert_eq!(hours.at(utc("2026-07-06T08:30:00Z")), Opening::Open);
        assert!(matches!(
            hours.at(utc("2026-07-06T07:30:00Z")),
            Opening::Closed { .. }
        ));
    }

    #[test]
    fn no_schedule_is_always_open_but_holidays() {
        let hours = BusinessHours::new(&HoursSettings {
            holidays: vec!["2026-01-01".into()],
            ..HoursSettings::default()
        })
        .unwrap();
        assert_eq!(hours.at(utc("2026-12-31T23:59:00Z")), Opening::Open);
        let Opening::Closed { next: Some(next) } = hours.at(utc("2026-01-01T12:00:00Z")) else {
            panic!("closed on the holiday");
        };
        assert_eq!(next.to_rfc3339(), "2026-01-02T00:00:00+00:00");
        assert_eq!(BusinessHours::always().at(Utc::now()), Opening::Open);
    }

    #[test]
    fn bad_schedules_are_refused_naming_the_key() {
        let refused = |settings: HoursSettings| BusinessHours::new(&settings).unwrap_err();
        let day = |slots: &[&str]| HoursSettings {
            monday: Some(slots.iter().map(|slot| (*slot).to_owned()).collect()),
            ..HoursSettings::default()
        };
        assert!(refused(day(&["9-5"])).contains("hours.monday: '9-5'"));
        assert!(refused(day(&["17:00-09:00"])).contains("ends before it starts"));
        assert!(refused(day(&["09:00-13:00", "12:00-17:00"])).contains("overlap"));
        assert!(refused(day(&["09:00-24:00", "10:00-11:00"])).contains("overlap"));
        assert!(refused(day(&[])).contains("no day has an opening time"));
        assert!(refused(HoursSettings {
            time_zone: Some("Mars/Olympus".into()),
            ..HoursSettings::default()
        })
        .contains("hours.time_zone"));
        assert!(refused(HoursSettings {
            holidays: vec!["25/12/2026".into()],
            ..HoursSettings::default()
        })
        .contains("hours.holidays"));
        assert!(BusinessHours::new(&day(&["00:00-24:00"])).is_ok());
    }
}
