//! Structured logs with `tracing`; `RUST_LOG` overrides the filter, `LOG_FORMAT=json` gives JSON lines.
//! Message text, passwords and keys are never logged.

use std::io::IsTerminal;

use tracing::subscriber::set_global_default;
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(default_filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    if std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json")) {
        set_global_default(fmt().with_env_filter(filter).json().finish())?;
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
