//! Structured logs with `tracing`: `RUST_LOG` overrides the service's default filter, and
//! `LOG_FORMAT=json` switches to JSON lines (with the current span) for log shippers.
//!
//! Message text, passwords, keys and tokens are never logged at info level or above; ids, counts
//! and status codes are.

use std::io::IsTerminal;

use tracing::subscriber::set_global_default;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber; call once, at start-up.
pub fn init(default_filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    if std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json")) {
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
