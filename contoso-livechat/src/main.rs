//! Contoso Live Chat, the live agents' web app (issue 3). Not built yet: this placeholder says so
//! instead of pretending to serve.

fn main() -> std::process::ExitCode {
    eprintln!("contoso-livechat is not built yet; the skill's tests use a fake live-chat API. See README.md.");
    std::process::ExitCode::FAILURE
}
