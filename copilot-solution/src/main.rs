//! The Copilot Studio solution, its packer and the local stand-in (issue 4). Not built yet: this
//! placeholder says so instead of pretending to work.

fn main() -> std::process::ExitCode {
    eprintln!("copilot-solution is not built yet. See README.md.");
    std::process::ExitCode::FAILURE
}
