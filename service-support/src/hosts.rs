//! Which `Host` a service answers for: loopback names, its public URL's host, the address it is
//! bound to, and an allow-list setting. Any other host gets `421 Misdirected Request`, so a web
//! page whose name re-resolves to 127.0.0.1 (DNS rebinding) cannot read or drive either service.

use std::net::{IpAddr, SocketAddr};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

/// The hosts a service answers for.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    /// Exact host names or IP literals, lower case, without port or brackets.
    exact: Vec<String>,
    /// `*.suffix` patterns, stored as `.suffix`.
    suffixes: Vec<String>,
    /// `*` was listed: every host (something in front checks them).
    any: bool,
}

impl AllowedHosts {
    /// Loopback names, the host of `public_url` (when given), `bind`'s address (when it is one
    /// address, not every interface), and `extra` (`host`, `*.suffix` or `*`).
    pub fn new(bind: SocketAddr, public_url: Option<&url::Url>, extra: &[String]) -> Self {
        let mut hosts = Self {
            exact: vec!["localhost".to_owned()],
            suffixes: Vec::new(),
            any: false,
        };
        if !bind.ip().is_unspecified() {
            hosts.exact.push(bind.ip().to_string());
        }
        if let Some(host) = public_url.and_then(|url| url.host_str()) {
            hosts.exact.push(strip_brackets(host).to_ascii_lowercase());
        }
        for pattern in extra {
            let pattern = pattern.trim().to_ascii_lowercase();
            if pattern == "*" {
                hosts.any = true;
            } else if let Some(suffix) = pattern.strip_prefix('*') {
                hosts.suffixes.push(suffix.to_owned());
            } else {
                hosts.exact.push(strip_brackets(&pattern).to_owned());
            }
        }
        hosts
    }

    /// Whether a request whose `Host` (or HTTP/2 authority) is `host` is answered; the port is
    /// not looked at (a rebinding page uses the service's own port).
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let name = host_name(host).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        if name
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
        {
            return true;
        }
        self.exact.contains(&name)
            || self
                .suffixes
                .iter()
                .any(|suffix| name.ends_with(suffix.as_str()) && name.len() > suffix.len())
    }
}

/// Checks a host pattern of the allow-list setting: a host name, an IP address, `*.suffix` or `*`.
pub fn check_pattern(setting: &str, pattern: &str) -> anyhow::Result<()> {
    let pattern = pattern.trim();
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    let valid = pattern == "*"
        || (!name.is_empty()
            && !name.contains("://")
            && !name.contains('/')
            && !name.contains('*')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')));
    if valid {
        Ok(())
    } else {
        anyhow::bail!("{setting}: '{pattern}' is not a host name, an IP address, '*.suffix' or '*'")
    }
}

/// `host[:port]` or `[v6]:port` to the bare host.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn strip_brackets(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A request for a host this service does not serve.
#[derive(Debug, thiserror::Error)]
#[error("this service does not answer for the host '{0}'; add it to the allowed hosts setting if it is yours")]
pub struct MisdirectedRequest(String);

impl ResponseError for MisdirectedRequest {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::MISDIRECTED_REQUEST
    }
    fn error_response(&self) -> HttpResponse<BoxBody> {
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

/// The middleware (`actix_web::middleware::from_fn`): answers 421 before anything else runs for a
/// host not in the [`AllowedHosts`] the app holds as `web::Data`.
pub async fn check_host(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    let allowed = request
        .app_data::<actix_web::web::Data<AllowedHosts>>()
        .is_some_and(|hosts| hosts.allows(&host));
    if !allowed {
        // The host is the caller's, not a secret; trimmed so a long one cannot flood the log.
        let shown: String = host.chars().take(100).collect();
        tracing::warn!(host = %shown, path = request.path(), "request for a host this service does not serve: 421");
        return Ok(request.error_response(MisdirectedRequest(shown)));
    }
    Ok(next.call(request).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bind: &str, public: Option<&str>, extra: &[&str]) -> AllowedHosts {
        let public = public.map(|url| url::Url::parse(url).unwrap());
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        AllowedHosts::new(bind.parse().unwrap(), public.as_ref(), &extra)
    }

    #[test]
    fn loopback_names_are_always_served() {
        let local = hosts("127.0.0.1:5000", None, &[]);
        for host in [
            "localhost",
            "LOCALHOST:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(local.allows(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:5000",
            "localhost.evil.example",
            "10.0.0.5:5000",
        ] {
            assert!(!local.allows(host), "{host}");
        }
    }

    #[test]
    fn the_public_host_the_bind_address_and_the_list_are_served() {
        let served = hosts(
            "10.0.0.5:5001",
            Some("https://Skill.Contoso.com/"),
            &["skill", "*.internal.example"],
        );
        for host in [
            "skill.contoso.com",
            "10.0.0.5:5001",
            "skill:5001",
            "a.internal.example",
        ] {
            assert!(served.allows(host), "{host}");
        }
        for host in ["internal.example", "contoso.com", "skill2"] {
            assert!(!served.allows(host), "{host}");
        }
        assert!(hosts("0.0.0.0:1", None, &["*"]).allows("anything"));
        assert!(!hosts("0.0.0.0:1", None, &[]).allows("0.0.0.0"));
    }

    #[test]
    fn patterns_are_checked() {
        for good in ["skill", "*.example.com", "*", "10.0.0.5", "[::1]"] {
            assert!(check_pattern("X", good).is_ok(), "{good}");
        }
        for bad in ["https://x.com", "x.com/", "*x", "a*b", ""] {
            assert!(check_pattern("X", bad).is_err(), "{bad}");
        }
    }
}
