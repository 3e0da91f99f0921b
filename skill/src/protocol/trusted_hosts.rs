//! Which hosts may receive a bearer token.
//!
//! A token minted for the skill or the agent is a key to the customer's Teams: it only ever goes to
//! Microsoft's Bot Framework, Teams and Copilot Studio hosts, over https, plus whatever the operator
//! lists in `SKILL_TRUSTED_HOSTS`. A loopback host listed there may be plain http, so that tests and
//! the local stand-in can receive replies with tokens.

use url::Url;

use crate::http::is_loopback_url;

/// Microsoft's hosts that legitimately receive the skill's replies and proactive messages.
const DEFAULT_PATTERNS: &[&str] = &[
    // Teams' Bot Connector (SMBA), global, regional and government clouds.
    "smba.trafficmanager.net",
    "*.teams.microsoft.com",
    "*.teams.microsoft.us",
    // Azure Bot Service.
    "*.botframework.com",
    "*.botframework.us",
    "*.botframework.azure.us",
    // Copilot Studio's runtime (`pvaruntime.{geo}-il{island}.gateway.prod.island.powerapps.com`).
    "*.gateway.prod.island.powerapps.com",
];

/// Host patterns: an exact host, or `*.suffix` for any host under that suffix.
#[derive(Debug, Clone)]
pub struct TrustedHosts {
    patterns: Vec<String>,
}

impl TrustedHosts {
    /// Microsoft's defaults plus the operator's extra patterns.
    pub fn new(extra: &[String]) -> Self {
        Self::of(DEFAULT_PATTERNS, extra)
    }

    /// `defaults` plus the operator's extra patterns (the same matching serves other lists of
    /// hosts, such as those files are fetched from).
    pub fn of(defaults: &[&str], extra: &[String]) -> Self {
        let patterns = defaults
            .iter()
            .map(|p| p.to_string())
            .chain(extra.iter().map(|p| p.to_ascii_lowercase()))
            .collect();
        Self { patterns }
    }

    /// True when `host` is listed, exactly or under a `*.suffix`.
    pub fn host_matches(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.patterns
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len()
                        && host.ends_with(suffix)
                        && host[..host.len() - suffix.len()].ends_with('.')
                }
                None => host == *pattern,
            })
    }

    /// True when a token may be sent to `url`: https to a trusted host, or http to a trusted loopback host.
    pub fn may_receive_token(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match url.scheme() {
            "https" => self.host_matches(host),
            "http" => is_loopback_url(url) && self.host_matches(host),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn microsoft_hosts_are_trusted_over_https_only() {
        let hosts = TrustedHosts::new(&[]);
        assert!(hosts.may_receive_token(&url("https://smba.trafficmanager.net/teams/")));
        assert!(hosts.may_receive_token(&url(
            "https://pvaruntime.us-il102.gateway.prod.island.powerapps.com/api/"
        )));
        assert!(hosts.may_receive_token(&url("https://smba.infra.gcc.teams.microsoft.com/teams")));
        assert!(!hosts.may_receive_token(&url("http://smba.trafficmanager.net/teams/")));
    }

    #[test]
    fn look_alike_hosts_are_not_trusted() {
        let hosts = TrustedHosts::new(&[]);
        for bad in [
            "https://smba.attacker.example/",
            "https://smba.trafficmanager.net.attacker.example/",
            "https://evilbotframework.com/",
            "https://botframework.com.evil/",
            "https://127.0.0.1/",
        ] {
            assert!(!hosts.may_receive_token(&url(bad)), "{bad}");
        }
    }

    #[test]
    fn listed_loopback_hosts_may_be_plain_http() {
        let hosts = TrustedHosts::new(&["127.0.0.1".into(), "*.corp.example".into()]);
        assert!(hosts.may_receive_token(&url("http://127.0.0.1:4567/x")));
        assert!(
            !hosts.may_receive_token(&url("http://localhost:4567/x")),
            "only the listed host"
        );
        assert!(hosts.may_receive_token(&url("https://bot.corp.example/")));
        assert!(
            !hosts.may_receive_token(&url("http://bot.corp.example/")),
            "http only for loopback"
        );
    }
}
