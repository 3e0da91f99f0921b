//! `copilot-solution pack | check | emulate`: packs the importable solution, checks its source, or
//! runs the local stand-in for Copilot Studio and Teams.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use copilot_solution::solution::{default_source_dir, AppId, SkillEndpoint, Solution};

#[derive(Parser)]
#[command(version, about = "The Copilot Studio side of the handover")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes an importable solution zip with the skill's endpoint and app id filled in.
    Pack {
        /// The skill's public URL: the dev tunnel's base URL, or its full /api/messages URL (https).
        #[arg(long)]
        endpoint: String,
        /// The skill's app registration id (a GUID).
        #[arg(long = "app-id")]
        app_id: String,
        /// Where to write the zip.
        #[arg(long, default_value = "ContosoHandover.zip")]
        out: PathBuf,
        /// The solution source folder.
        #[arg(long, default_value_os_t = default_source_dir())]
        source: PathBuf,
    },
    /// Checks the solution source without packing it.
    Check {
        #[arg(long, default_value_os_t = default_source_dir())]
        source: PathBuf,
    },
    /// Runs the local stand-in for Copilot Studio and Teams (EMULATOR_BIND, default 127.0.0.1:5002).
    Emulate {
        #[arg(long, default_value_os_t = default_source_dir())]
        source: PathBuf,
    },
}

fn pack(endpoint: &str, app_id: &str, out: &Path, source: &Path) -> anyhow::Result<()> {
    let endpoint = SkillEndpoint::parse(endpoint).map_err(anyhow::Error::msg)?;
    let app_id = AppId::parse(app_id).map_err(anyhow::Error::msg)?;
    Solution::load(source)?
        .with_skill(&endpoint, &app_id)?
        .write_zip(out)?;
    eprintln!(
        "Wrote {} (skill endpoint {}, app id {}).",
        out.display(),
        endpoint.as_str(),
        app_id.as_str()
    );
    eprintln!("Import it in Copilot Studio or make.powerapps.com: Solutions > Import solution.");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pack {
            endpoint,
            app_id,
            out,
            source,
        } => pack(&endpoint, &app_id, &out, &source),
        Command::Check { source } => Solution::load(&source)
            .and_then(|solution| solution.check())
            .map(|()| eprintln!("{}: all checks pass.", source.display())),
        Command::Emulate { source } => copilot_solution::emulator::run(source).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
