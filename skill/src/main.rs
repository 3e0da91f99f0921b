//! Starts the handover skill: telemetry, settings, then the application until Ctrl+C or SIGTERM.

use skill::configuration::Settings;
use skill::startup::Application;
use skill::telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init("info,sqlx=warn")?;
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!("configuration error: {error:#}");
            return Err(error);
        }
    };
    let application = Application::build(settings).await?;
    application.run_until_stopped().await
}
