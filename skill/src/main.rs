//! Starts the handover skill: telemetry, settings, then the application until Ctrl+C or SIGTERM.

use skill::configuration::Settings;
use skill::startup::Application;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_support::telemetry::init("info,sqlx=warn")?;
    let settings = Settings::load()?;
    let application = Application::build(settings).await?;
    application.run_until_stopped().await
}
