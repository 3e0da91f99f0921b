//! Structured logs with `tracing`. `RUST_LOG` overrides the default filter; `LOG_FORMAT=json`
//! switches to JSON lines for log shippers.
//!
//! Message text and tokens are never logged at info level or above; ids, counts and status codes are.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::subscriber::set_global_default;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber; call once, at start-up.
pub fn init(default_filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    if json {
        set_global_default(
            fmt()
                .with_env_filter(filter)
                .json()
                .with_current_span(true)
                .finish(),
        )?;
    } else {
        set_global_default(
            fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::stdout().is_terminal())
                .finish(),
        )?;
    }
    Ok(())
}

/// The span of one HTTP request: method, route, a request number (for finding one request's lines)
/// and, once answered, the status. At debug level: every message makes one, and at info the
/// handlers' own spans (the conversation's id) and the metrics say what matters.
pub fn request_span(method: &actix_web::http::Method, route: &str) -> tracing::Span {
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    let request = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::debug_span!(
        "request",
        method = %method,
        route,
        request,
        status = tracing::field::Empty
    )
}
