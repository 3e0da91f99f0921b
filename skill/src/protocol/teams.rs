//! Where proactive messages to a Teams conversation go.
//!
//! Inside a skill turn, `serviceUrl` is Copilot Studio's skill callback (`pvaruntime...`), which only
//! takes in-turn replies. To reach the Teams user later the skill talks to Teams' own Bot Connector
//! (SMBA) with the agent's registration, as Microsoft's sample does.

use url::Url;

/// Where the agents' replies go in Teams, and from which account.
#[derive(Debug, Clone, Default)]
pub struct TeamsTarget {
    /// `TEAMS_SERVICE_URL`.
    pub service_url_override: Option<String>,
    /// The Copilot Studio agent's app id; its Teams account is `28:{app id}`.
    pub bot_app_id: Option<String>,
}

/// Teams' global Bot Connector endpoint, used when nothing better is known.
pub const GLOBAL_TEAMS_SERVICE_URL: &str = "https://smba.trafficmanager.net/teams/";

/// The service URL for proactive messages into the conversation a session came from.
///
/// In order: the operator's `TEAMS_SERVICE_URL`; for a Teams conversation reached through Copilot
/// Studio's runtime, the tenant-aware SMBA base `https://smba.trafficmanager.net/{region}/{tenant}/`
/// (region guessed from the runtime's host) or, without a tenant, the global endpoint; otherwise the
/// stored service URL itself (a direct Teams or loopback URL).
pub fn proactive_service_url(
    stored_service_url: &str,
    channel_id: &str,
    tenant_id: Option<&str>,
    override_url: Option<&str>,
) -> String {
    if let Some(url) = override_url {
        return url.to_owned();
    }
    let channel = channel_id.split(':').next().unwrap_or_default();
    let host = Url::parse(stored_service_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    if !channel.eq_ignore_ascii_case("msteams") || !host.starts_with("pvaruntime") {
        return stored_service_url.to_owned();
    }
    match tenant_id.filter(|tenant| {
        !tenant.is_empty()
            && tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
    }) {
        Some(tenant) => format!(
            "https://smba.trafficmanager.net/{}/{tenant}/",
            region_of_runtime_host(&host)
        ),
        None => GLOBAL_TEAMS_SERVICE_URL.to_owned(),
    }
}

/// Guesses the SMBA region from a `pvaruntime.{geo}-il{island}...` host.
fn region_of_runtime_host(host: &str) -> &'static str {
    let geo = host.split('.').nth(1).unwrap_or_default();
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| geo.starts_with(p));
    if starts(&["eu", "uk", "fr", "de", "ch", "no", "se"]) {
        "emea"
    } else if starts(&["ap", "as", "jp", "au", "in", "kr", "sg"]) {
        "apac"
    } else {
        "amer"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNTIME_US: &str = "https://pvaruntime.us-il102.gateway.prod.island.powerapps.com/api/runtime/bots/b/skillsV2/";
    const RUNTIME_EU: &str = "https://pvaruntime.eu-il105.gateway.prod.island.powerapps.com/api/runtime/bots/b/skillsV2/";

    #[test]
    fn runtime_urls_on_teams_become_smba_urls() {
        assert_eq!(
            proactive_service_url(RUNTIME_US, "msteams", Some("t-1"), None),
            "https://smba.trafficmanager.net/amer/t-1/"
        );
        assert_eq!(
            proactive_service_url(RUNTIME_EU, "msteams", Some("t-1"), None),
            "https://smba.trafficmanager.net/emea/t-1/"
        );
        assert_eq!(
            proactive_service_url(RUNTIME_US, "msteams", None, None),
            GLOBAL_TEAMS_SERVICE_URL
        );
    }

    #[test]
    fn the_override_wins_and_other_urls_are_kept() {
        assert_eq!(
            proactive_service_url(
                RUNTIME_US,
                "msteams",
                Some("t"),
                Some("http://127.0.0.1:9/")
            ),
            "http://127.0.0.1:9/"
        );
        assert_eq!(
            proactive_service_url(
                "https://smba.trafficmanager.net/emea/",
                "msteams",
                None,
                None
            ),
            "https://smba.trafficmanager.net/emea/"
        );
        assert_eq!(
            proactive_service_url(RUNTIME_US, "pva-studio", Some("t"), None),
            RUNTIME_US
        );
    }
}
