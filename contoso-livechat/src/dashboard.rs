//! The supervisor's dashboard, computed from the conversations of a period (today, or the last 7
//! days): conversations per hour, the queue now, waiting, handling and first-response times
//! (median and 90th percentile, and the share within the target), ratings (average and
//! distribution) and dispositions. Charts are drawn as SVG on the server (bars with numbers, no
//! script), and the same figures make the CSV download. No I/O: the route reads the store.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, Timelike, Utc};

use crate::store::Counted;

/// Which period the dashboard shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Period {
    #[default]
    #[serde(rename = "today")]
    Today,
    #[serde(rename = "7d")]
    Week,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Today => "today",
            Period::Week => "7d",
        }
    }

    /// The period's first moment: the last midnight (in the centre's time zone, given as
    /// `midnight`), or 7 days before it for the week.
    pub fn start(self, midnight: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Period::Today => midnight,
            Period::Week => midnight - Span::days(6),
        }
    }
}

/// A median and a 90th percentile, in seconds (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spread {
    pub count: usize,
    pub median: Option<u64>,
    pub p90: Option<u64>,
}

impl Spread {
    fn of(mut seconds: Vec<u64>) -> Self {
        seconds.sort_unstable();
        let rank = |share: f64| -> Option<u64> {
            if seconds.is_empty() {
                return None;
            }
            let index = ((share * seconds.len() as f64).ceil() as usize).clamp(1, seconds.len());
            Some(seconds[index - 1])
        };
        Self {
            count: seconds.len(),
            median: rank(0.5),
            p90: rank(0.9),
        }
    }
}

/// Every figure the dashboard shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figures {
    /// Conversations started in each hour of the period, oldest first (hour start, count).
    pub per_hour: Vec<(DateTime<Utc>, u32)>,
    pub started: usize,
    pub waiting_now: usize,
    pub waiting: Spread,
    pub handling: Spread,
    pub first_response: Spread,
    /// First responses within the target, of those given.
    pub within_target: usize,
    pub ratings: [u32; 5],
    pub rating_average: Option<f64>,
    /// Disposition code and count, most first.
    pub dispositions: Vec<(String, u32)>,
}

fn at(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.to_utc())
}

fn seconds_between(from: Option<&str>, to: Option<&str>) -> Option<u64> {
    let (from, to) = (at(from?)?, at(to?)?);
    u64::try_from((to - from).num_seconds()).ok()
}

/// The figures of `conversations` started in `[start, now]`, with `queue` waiting now.
pub fn figures(
    conversations: &[Counted],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    queue: usize,
    target: Duration,
) -> Figures {
    let first_hour = start
        .with_minute(0)
        .and_then(|hour| hour.with_second(0))
        .and_then(|hour| hour.with_nanosecond(0))
        .unwrap_or(start);
    let mut hours: BTreeMap<DateTime<Utc>, u32> = BTreeMap::new();
    let mut hour = first_hour;
    while hour <= now {
        hours.insert(hour, 0);
        hour += Span::hours(1);
    }
    let mut waiting = Vec::new();
    let mut handling = Vec::new();
    let mut first_response = Vec::new();
    let mut ratings = [0u32; 5];
    let mut dispositions: BTreeMap<String, u32> = BTreeMap::new();
    for conversation in conversations {
        if let Some(created) = at(&conversation.created_at) {
            let bucket = created
                .with_minute(0)
                .and_then(|hour| hour.with_second(0))
                .and_then(|hour| hour.with_nanosecond(0));
            if let Some(count) = bucket.and_then(|bucket| hours.get_mut(&bucket)) {
                *count += 1;
            }
        }
        let queued = conversation
            .queued_at
            .as_deref()
            .or(Some(conversation.created_at.as_str()));
        waiting.extend(seconds_between(queued, conversation.accepted_at.as_deref()));
        handling.extend(seconds_between(
            conversation.accepted_at.as_deref(),
            conversation.ended_at.as_deref(),
        ));
        first_response.extend(seconds_between(
            Some(&conversation.created_at),
            conversation.first_reply_at.as_deref(),
        ));
        if let Some(rating) = conversation
            .rating
            .filter(|rating| (1..=5).contains(rating))
        {
            ratings[usize::from(rating - 1)] += 1;
        }
        if let Some(code) = &conversation.disposition {
            *dispositions.entry(code.clone()).or_default() += 1;
        }
    }
    let within_target = first_response
        .iter()
        .filter(|&&seconds| seconds <= target.as_secs())
        .count();
    let rated: u32 = ratings.iter().sum();
    let rating_average = (rated > 0).then(|| {
        ratings
            .iter()
            .enumerate()
            .map(|(index, count)| (index as f64 + 1.0) * f64::from(*count))
            .sum::<f64>()
            / f64::from(rated)
    });
    let mut dispositions: Vec<(String, u32)> = dispositions.into_iter().collect();
    dispositions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Figures {
        per_hour: hours.into_iter().collect(),
        started: conversations.len(),
        waiting_now: queue,
        waiting: Spread::of(waiting),
        handling: Spread::of(handling),
        first_response: Spread::of(first_response),
        within_target,
        ratings,
        rating_average,
        dispositions,
    }
}

/// Seconds as people read them: "45 s", "3 min 20 s", "—" for none.
pub fn duration_words(seconds: Option<u64>) -> String {
    match seconds {
        None => "—".to_owned(),
        Some(seconds) if seconds < 60 => format!("{seconds} s"),
        Some(seconds) if seconds < 3_600 => format!("{} min {} s", seconds / 60, seconds % 60),
        Some(seconds) => format!("{} h {} min", seconds / 3_600, (seconds % 3_600) / 60),
    }
}

/// One bar of a chart, laid out in the SVG's coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Its label under the axis ("" to leave it out), and what its tooltip says.
    pub label: String,
    pub title: String,
    pub value: u32,
}

/// A bar chart drawn on the server: the page shows it as SVG elements, escaped like any text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub width: f64,
    pub height: f64,
    /// Where the bars stand (the axis), and the highest value, said at the top.
    pub baseline: f64,
    pub max: u32,
    pub bars: Vec<Bar>,
}

/// Lays out bars of `values` (label, tooltip, value) in a chart `width` wide; every `label_every`th
/// label is shown.
pub fn chart(id: &str, title: &str, values: &[(String, String, u32)], label_every: usize) -> Chart {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 180.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 24.0;
    let max = values.iter().map(|(_, _, value)| *value).max().unwrap_or(0);
    let slot = WIDTH / values.len().max(1) as f64;
    let area = HEIGHT - TOP - BOTTOM;
    let bars = values
        .iter()
        .enumerate()
        .map(|(index, (label, title, value))| {
            let height = if max == 0 {
                0.0
            } else {
                area * f64::from(*value) / f64::from(max)
            };
            Bar {
                x: ((index as f64 * slot + slot * 0.1) * 10.0).round() / 10.0,
                y: ((HEIGHT - BOTTOM - height) * 10.0).round() / 10.0,
                width: ((slot * 0.8) * 10.0).round() / 10.0,
                height: (height * 10.0).round() / 10.0,
                label: if index % label_every.max(1) == 0 {
                    label.clone()
                } else {
                    String::new()
                },
                title: title.clone(),
                value: *value,
            }
        })
        .collect();
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        width: WIDTH,
        height: HEIGHT,
        baseline: HEIGHT - BOTTOM,
        max,
        bars,
    }
}

/// The figures as CSV rows of `section,key,value`, the header first.
pub fn csv(figures: &Figures, period: Period, target: Duration) -> String {
    let mut rows = vec!["section,key,value".to_owned()];
    let mut row = |section: &str, key: &str, value: String| {
        rows.push(format!("{section},{},{value}", csv_field(key)));
    };
    row("period", "name", period.as_str().to_owned());
    for (hour, count) in &figures.per_hour {
        row(
            "conversations_per_hour",
            &hour.format("%Y-%m-%dT%H:00Z").to_string(),
            count.to_string(),
        );
    }
    row("conversations", "started", figures.started.to_string());
    row("queue", "waiting_now", figures.waiting_now.to_string());
    for (name, spread) in [
        ("waiting_seconds", figures.waiting),
        ("handling_seconds", figures.handling),
        ("first_response_seconds", figures.first_response),
    ] {
        row(name, "count", spread.count.to_string());
        row(
            name,
            "median",
            spread.median.map(|s| s.to_string()).unwrap_or_default(),
        );
        row(
            name,
            "p90",
            spread.p90.map(|s| s.to_string()).unwrap_or_default(),
        );
    }
    row(
        "first_response_seconds",
        "target",
        target.as_secs().to_string(),
    );
    row(
        "first_response_seconds",
        "within_target",
        figures.within_target.to_string(),
    );
    for (index, count) in figures.ratings.iter().enumerate() {
        row("ratings", &(index + 1).to_string(), count.to_string());
    }
    row(
        "ratings",
        "average",
        figures
            .rating_average
            .map(|average| format!("{average:.2}"))
            .unwrap_or_default(),
    );
    for (code, count) in &figures.dispositions {
        row("dispositions", code, count.to_string());
    }
    rows.join("\r\n") + "\r\n"
}

/// A CSV field, quoted when it must be (and never starting a formula in a spreadsheet).
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn counted(
        created: &str,
        accepted: Option<&str>,
        ended: Option<&str>,
        reply: Option<&str>,
    ) -> Counted {
        Counted {
            created_at: created.into(),
            accepted_at: accepted.map(Into::into),
            ended_at: ended.map(Into::into),
            first_reply_at: reply.map(Into::into),
            ..Counted::default()
        }
    }

    #[test]
    fn spreads_buckets_ratings_and_dispositions() {
        let start = at("2026-12-05T00:00:00Z").unwrap();
        let now = at("2026-12-05T03:30:00Z").unwrap();
        let mut rows = vec![
            counted(
                "2026-12-05T01:00:00Z",
                Some("2026-12-05T01:00:30Z"),
                Some("2026-12-05T01:10:30Z"),
                Some("2026-12-05T01:01:00Z"),
            ),
            counted(
                "2026-12-05T01:20:00Z",
                Some("2026-12-05T01:22:00Z"),
                None,
                Some("2026-12-05T01:25:00Z"),
            ),
            counted("2026-12-05T03:05:00Z", None, None, None),
        ];
        rows[0].rating = Some(5);
        rows[1].rating = Some(3);
        rows[0].disposition = Some("resolved".into());
        rows[1].disposition = Some("resolved".into());
        rows[2].disposition = Some("spam".into());
        let figures = figures(&rows, start, now, 1, Duration::from_secs(120));
        assert_eq!(figures.per_hour.len(), 4, "00:00 to 03:00");
        assert_eq!(
            figures.per_hour.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            vec![0, 2, 0, 1]
        );
        assert_eq!(
            figures.waiting,
            Spread {
                count: 2,
                median: Some(30),
                p90: Some(120)
            }
        );
        assert_eq!(
            figures.handling,
            Spread {
                count: 1,
                median: Some(600),
                p90: Some(600)
            }
        );
        assert_eq!(figures.first_response.median, Some(60));
        assert_eq!(
            figures.within_target, 1,
            "60 s is within 2 min, 5 min is not"
        );
        assert_eq!(figures.ratings, [0, 0, 1, 0, 1]);
        assert_eq!(figures.rating_average, Some(4.0));
        assert_eq!(
            figures.dispositions,
            vec![("resolved".into(), 2), ("spam".into(), 1)]
        );
        let csv = csv(&figures, Period::Today, Duration::from_secs(120));
        assert!(csv.starts_with("section,key,value\r\nperiod,name,today\r\n"));
        assert!(csv.contains("conversations_per_hour,2026-12-05T01:00Z,2\r\n"));
        assert!(csv.contains("waiting_seconds,median,30\r\n"));
        assert!(csv.contains("dispositions,resolved,2\r\n"));
    }

    #[test]
    fn charts_scale_to_the_highest_bar_and_csv_fields_are_safe() {
        let values = vec![
            ("a".to_owned(), "a: 1".to_owned(), 1),
            ("b".to_owned(), "b: 4".to_owned(), 4),
        ];
        let drawn = chart("c", "Chart", &values, 1);
        assert_eq!(drawn.max, 4);
        assert!(drawn.bars[1].height > drawn.bars[0].height * 3.9);
        assert_eq!(drawn.bars[1].y + drawn.bars[1].height, drawn.baseline);
        assert_eq!(csv_field("=cmd"), "'=cmd");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(duration_words(Some(200)), "3 min 20 s");
        assert_eq!(duration_words(None), "—");
    }
}
