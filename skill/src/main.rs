//! Starts the handover skill: telemetry, settings, then the application until Ctrl+C or SIGTERM.
//! With `healthcheck`, asks the running skill's `/healthz` instead (the container's health check).

use skill::configuration::Settings;
use skill::startup::Application;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = service_support::telemetry::init("info,sqlx=warn", "handover-skill")?;
    let settings = Settings::load()?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let bind = settings.application.bind;
        return service_support::health::probe(bind, std::time::Duration::from_secs(3))
            .map_err(|reason| anyhow::anyhow!("unhealthy: {reason}"));
    }
    let application = Application::build(settings).await?;
    let ran = application.run_until_stopped().await;
    telemetry.shutdown();
    ran
}
