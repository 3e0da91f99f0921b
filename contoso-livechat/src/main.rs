//! Starts Contoso Live Chat, or with `hash-password` prints an argon2 hash for `[[agents]]`, or
//! with `healthcheck` asks the running one's `/healthz` (the container's health check), or with
//! `erase-customer ID` erases one customer's data (exit code 2 when there is none).

use std::io::BufRead;

use contoso_livechat::configuration::Settings;
use contoso_livechat::password;
use contoso_livechat::startup::Application;

// Many short-lived strings per message (rows, events, JSON): mimalloc frees them faster than
// glibc's allocator under two busy cores.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("hash-password") {
        eprintln!("Type the password and press Enter:");
        let mut password = String::new();
        std::io::stdin().lock().read_line(&mut password)?;
        let hash = password::hash_password(password.trim_end_matches(['\r', '\n']))?;
        #[allow(clippy::print_stdout)] // The command's whole point is to print the hash.
        {
            println!("{hash}");
        }
        return Ok(());
    }
    let telemetry = service_support::telemetry::init("info,sqlx=warn", "contoso-livechat")?;
    let settings = Settings::load()?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let bind = settings.application.bind;
        return service_support::health::probe(bind, std::time::Duration::from_secs(3))
            .map_err(|reason| anyhow::anyhow!("unhealthy: {reason}"));
    }
    if std::env::args().nth(1).as_deref() == Some("erase-customer") {
        let customer = std::env::args().nth(2).unwrap_or_default();
        let erased = contoso_livechat::erase::erase_customer(&settings, &customer).await?;
        telemetry.shutdown();
        #[allow(clippy::print_stdout)]
        // The command's answer: the counts, for a script or a record.
        match erased {
            Some(counts) => println!("{counts}"),
            None => {
                eprintln!("the live chat holds no conversation of this customer");
                std::process::exit(2);
            }
        }
        return Ok(());
    }
    let ran = Application::build(settings)
        .await?
        .run_until_stopped()
        .await;
    telemetry.shutdown();
    ran
}
