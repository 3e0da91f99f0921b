//! The supervisor's dashboard (`GET /supervisor/dashboard?period=today|7d`, charts drawn on the
//! server, redrawn live while open) and its figures as CSV (`GET /supervisor/dashboard.csv`).
//! Supervisors only (`403` for agents).

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use service_support::clock::Clock;

use super::notes::require_supervisor;
use super::pages::AgentBar;
use crate::auth::{Agents, CurrentAgent};
use crate::configuration::{RoutingSettings, WrapUpSettings};
use crate::dashboard::{chart, csv, duration_words, figures, Chart, Figures, Period};
use crate::error::PageError;
use crate::hours::BusinessHours;
use crate::store::Store;

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    pub period: Period,
}

#[derive(Template)]
#[template(path = "supervisor/dashboard.html")]
pub struct DashboardPage {
    pub bar: AgentBar,
    pub csrf: String,
    pub last_event_id: i64,
    pub period: &'static str,
    pub period_label: &'static str,
    pub started: usize,
    pub waiting_now: usize,
    pub waiting_median: String,
    pub waiting_p90: String,
    pub handling_median: String,
    pub handling_p90: String,
    pub first_median: String,
    pub first_p90: String,
    pub within_target: String,
    pub target: String,
    pub rating_average: String,
    pub charts: Vec<Chart>,
}

/// What both forms need: the period's figures.
struct Computed {
    figures: Figures,
    target: std::time::Duration,
}

async fn compute(
    period: Period,
    store: &Store,
    hours: &BusinessHours,
    routing: &RoutingSettings,
    clock: &Clock,
) -> Result<Computed, PageError> {
    let now = clock.now();
    let start = period.start(hours.midnight_before(now));
    let since = start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let counted = store.counted_since(&since).await?;
    let queue = store.availability().await?.queue_length as usize;
    let target = std::time::Duration::from_secs(routing.first_response_target_secs);
    Ok(Computed {
        figures: figures(&counted, start, now, queue, target),
        target,
    })
}

/// `GET /supervisor/dashboard`.
#[allow(clippy::too_many_arguments)] // Each is an extractor actix hands the page.
pub async fn page(
    current: CurrentAgent,
    query: web::Query<PeriodQuery>,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
    hours: web::Data<BusinessHours>,
    routing: web::Data<RoutingSettings>,
    wrap_up: web::Data<WrapUpSettings>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, PageError> {
    require_supervisor(&current, &agents)?;
    let last_event_id = store.last_event_seq();
    let Computed { figures, target } =
        compute(query.period, &store, &hours, &routing, &clock).await?;
    let week = query.period == Period::Week;
    let hourly: Vec<(String, String, u32)> = figures
        .per_hour
        .iter()
        .map(|(hour, count)| {
            let local = hour.with_timezone(&hours.zone());
            let label = if week {
                local.format("%a %H:00").to_string()
            } else {
                local.format("%H:00").to_string()
            };
            (label.clone(), format!("{label}: {count}"), *count)
        })
        .collect();
    let ratings: Vec<(String, String, u32)> = figures
        .ratings
        .iter()
        .enumerate()
        .map(|(index, count)| {
            let stars = format!("{} ★", index + 1);
            (stars.clone(), format!("{stars}: {count}"), *count)
        })
        .collect();
    let dispositions: Vec<(String, String, u32)> = figures
        .dispositions
        .iter()
        .map(|(code, count)| {
            let label = wrap_up.label_of(code).unwrap_or_else(|| code.clone());
            (label.clone(), format!("{label}: {count}"), *count)
        })
        .collect();
    let charts = vec![
        chart(
            "chart-hours",
            "Conversations per hour",
            &hourly,
            if week { 24 } else { 3 },
        ),
        chart("chart-ratings", "Ratings", &ratings, 1),
        chart("chart-dispositions", "Dispositions", &dispositions, 1),
    ];
    let states = store.agents().await?;
    let page = DashboardPage {
        bar: AgentBar::of(&current, &states, &agents),
        csrf: crate::auth::csrf_token(&current.session),
        last_event_id,
        period: query.period.as_str(),
        period_label: if week { "the last 7 days" } else { "today" },
        started: figures.started,
        waiting_now: figures.waiting_now,
        waiting_median: duration_words(figures.waiting.median),
        waiting_p90: duration_words(figures.waiting.p90),
        handling_median: duration_words(figures.handling.median),
        handling_p90: duration_words(figures.handling.p90),
        first_median: duration_words(figures.first_response.median),
        first_p90: duration_words(figures.first_response.p90),
        within_target: format!(
            "{} of {}",
            figures.within_target, figures.first_response.count
        ),
        target: duration_words(Some(target.as_secs())),
        rating_average: figures
            .rating_average
            .map(|average| {
                let rated: u32 = figures.ratings.iter().sum();
                format!("{average:.1} of 5 ({rated} rated)")
            })
            .unwrap_or_else(|| "no ratings yet".into()),
        charts,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(page.render()?))
}

/// `GET /supervisor/dashboard.csv`.
pub async fn download(
    current: CurrentAgent,
    query: web::Query<PeriodQuery>,
    store: web::Data<Store>,
    agents: web::Data<Agents>,
    hours: web::Data<BusinessHours>,
    routing: web::Data<RoutingSettings>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, PageError> {
    require_supervisor(&current, &agents)?;
    let Computed { figures, target } =
        compute(query.period, &store, &hours, &routing, &clock).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"dashboard-{}.csv\"",
                query.period.as_str()
            ),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(csv(&figures, query.period, target)))
}
