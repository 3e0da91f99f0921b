//! Starts the handover skill: telemetry, settings, then the application until Ctrl+C or SIGTERM.
//! With `healthcheck`, asks the running skill's `/healthz` instead (the container's health check);
//! with `export-user ID` and `erase-user ID`, prints or erases one Teams user's sessions and
//! deliveries (exit code 2 when there are none; 3 for an erasure while their live chat is open).

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
    if std::env::args().nth(1).as_deref() == Some("export-user") {
        let user = std::env::args().nth(2).unwrap_or_default();
        let export = skill::erase::export_user(&settings, &user).await?;
        telemetry.shutdown();
        #[allow(clippy::print_stdout)] // The command's answer: the user's data, as JSON.
        match export {
            Some(json) => println!("{json}"),
            None => {
                eprintln!("the skill holds no session of this user");
                std::process::exit(2);
            }
        }
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("erase-user") {
        let user = std::env::args().nth(2).unwrap_or_default();
        let erasure = skill::erase::erase_user(&settings, &user).await?;
        telemetry.shutdown();
        #[allow(clippy::print_stdout)]
        // The command's answer: the counts, for a script or a record.
        match erasure {
            skill::erase::Erasure::Erased(counts) => {
                println!("{}", serde_json::to_string(&counts)?);
            }
            skill::erase::Erasure::Unknown => {
                eprintln!("the skill holds no session of this user");
                std::process::exit(2);
            }
            skill::erase::Erasure::Live => {
                eprintln!("this user's live chat is still open; end it first (erasing the customer in the live chat ends it), then erase here");
                std::process::exit(3);
            }
        }
        return Ok(());
    }
    let application = Application::build(settings).await?;
    let ran = application.run_until_stopped().await;
    telemetry.shutdown();
    ran
}
