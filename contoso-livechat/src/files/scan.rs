//! The optional malware scan: every received file is streamed to a ClamAV daemon (`clamd`, its
//! `INSTREAM` command, over TCP or a Unix socket) before anyone sees it. Off unless `files.clamd`
//! names a daemon; when one is named and cannot be reached, files are refused rather than taken
//! unscanned (fail closed).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `clamd` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clamd {
    /// `tcp://host:port`.
    Tcp(String),
    /// `unix:/path/to/clamd.ctl`.
    Unix(PathBuf),
}

impl Clamd {
    /// Reads `tcp://host:port` or `unix:/path`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(address) = text.strip_prefix("tcp://") {
            let address = address.trim_end_matches('/');
            if address
                .rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
            {
                return Err(format!("'{text}' must be tcp://host:port"));
            }
            return Ok(Clamd::Tcp(address.to_owned()));
        }
        if let Some(path) = text
            .strip_prefix("unix://")
            .or_else(|| text.strip_prefix("unix:"))
        {
            if !path.starts_with('/') {
                return Err(format!("'{text}' must name an absolute socket path"));
            }
            return Ok(Clamd::Unix(PathBuf::from(path)));
        }
        Err(format!(
            "'{text}' must be tcp://host:port or unix:/path/to/clamd.ctl"
        ))
    }
}

/// What the scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature's name, as `clamd` reported it.
    Infected(String),
}

/// The `clamd` client.
#[derive(Debug, Clone)]
pub struct Scanner {
    pub clamd: Clamd,
    /// How long one scan may take.
    pub timeout: Duration,
}

impl Scanner {
    /// Streams the file at `path` to `clamd`; an error says why no verdict was had.
    pub async fn scan(&self, path: &Path) -> Result<Verdict, String> {
        let scan = async {
            match &self.clamd {
                Clamd::Tcp(address) => {
                    let connection = clamav_client::tokio::Tcp {
                        host_address: address.as_str(),
                    };
                    clamav_client::tokio::scan_file(path, connection, None).await
                }
                Clamd::Unix(socket) => {
                    let connection = clamav_client::tokio::Socket {
                        socket_path: socket.as_path(),
                    };
                    clamav_client::tokio::scan_file(path, connection, None).await
                }
            }
        };
        let answer = tokio::time::timeout(self.timeout, scan)
            .await
            .map_err(|_| "clamd did not answer in time".to_owned())?
            .map_err(|error| format!("clamd could not be reached: {error}"))?;
        verdict_of(&answer)
    }
}

/// `stream: OK`, `stream: {signature} FOUND`, or an error `clamd` reported.
fn verdict_of(answer: &[u8]) -> Result<Verdict, String> {
    let text = String::from_utf8_lossy(answer);
    let text = text.trim_end_matches(['\0', '\n']).trim();
    let result = text.strip_prefix("stream:").unwrap_or(text).trim();
    if result == "OK" {
        return Ok(Verdict::Clean);
    }
    if let Some(signature) = result.strip_suffix("FOUND") {
        return Ok(Verdict::Infected(signature.trim().to_owned()));
    }
    Err(format!(
        "clamd answered '{}'",
        result.chars().take(200).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_tcp_or_unix() {
        assert_eq!(
            Clamd::parse("tcp://127.0.0.1:3310"),
            Ok(Clamd::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            Clamd::parse("unix:/run/clamav/clamd.ctl"),
            Ok(Clamd::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert_eq!(
            Clamd::parse("unix:///run/clamd.sock"),
            Ok(Clamd::Unix("/run/clamd.sock".into()))
        );
        for bad in [
            "127.0.0.1:3310",
            "tcp://host",
            "unix:relative",
            "http://x:1",
        ] {
            assert!(Clamd::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_become_verdicts() {
        assert_eq!(verdict_of(b"stream: OK\0"), Ok(Verdict::Clean));
        assert_eq!(
            verdict_of(b"stream: Eicar-Test-Signature FOUND\0"),
            Ok(Verdict::Infected("Eicar-Test-Signature".into()))
        );
        assert!(verdict_of(b"INSTREAM size limit exceeded. ERROR\0").is_err());
    }
}
