//! Fetching customers' files, safely, into local staging ([`AttachmentFetcher`], the handover's
//! [`FileFetcher`]).
//!
//! Before any connection: the link must be http(s) with a host on the allow-list (Microsoft's Bot
//! Framework, Teams and SharePoint hosts, plus `files.allowed_hosts`; in anonymous local mode any
//! loopback host), https beyond loopback, and no private, loopback or link-local address: an
//! address in the link is checked at once, a name is resolved by [`GuardedResolver`], which refuses
//! such addresses before the connection is attempted (and connects to the very addresses it
//! checked, so a name cannot re-resolve elsewhere in between). A redirect is never followed. The
//! Copilot Studio agent's token goes only with a picture on the conversation's Bot Connector (and
//! only to a host trusted with tokens), never with a download link.
//!
//! The body is streamed into `files/staging/{delivery}.part` (memory stays bounded whatever the
//! size): refused as soon as it passes `files.max_file_bytes` (or says it will), or once its first
//! bytes show a kind not in `files.allowed_types`; the whole transfer has
//! `files.transfer_timeout_secs`. A complete file is renamed to `files/staging/{delivery}`, where a
//! later attempt of the same delivery in this process finds it instead of fetching again.
//!
//! Staging is a cache, not a store: it is never synced to disk (syncing megabytes would hold up
//! the database's commits, which share the disk), and a new process starts with it empty, so that
//! a file a crash may have left half-written is fetched again, never posted.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use service_support::files::{self, FileKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use super::connector::OutboundCredential;
use super::credentials::TokenClient;
use super::trusted_hosts::TrustedHosts;
use crate::domain::{CustomerFile, DeliveryId, FetchError, FetchRefusal, FileSource};
use crate::handover::{FileFetcher, StagedFile};
use crate::http::is_loopback_url;

/// Microsoft's hosts customers' files are fetched from: Teams' Bot Connector and its attachments,
/// the Bot Framework, and SharePoint / OneDrive, where Teams keeps files sent in chats.
pub const FILE_HOSTS: &[&str] = &[
    "smba.trafficmanager.net",
    "*.teams.microsoft.com",
    "*.teams.microsoft.us",
    "*.botframework.com",
    "*.botframework.us",
    "botapi.skype.com",
    "*.botapi.skype.com",
    "*.sharepoint.com",
    "*.sharepoint.us",
    "*.sharepoint-df.com",
    "*.svc.ms",
];

/// What the fetcher takes, and where it keeps what it fetched.
#[derive(Debug, Clone)]
pub struct FetchRules {
    /// Hosts files are fetched from (Microsoft's and the operator's).
    pub hosts: TrustedHosts,
    /// Anonymous local mode: loopback hosts are fetched from too, plain http allowed there.
    pub local: bool,
    pub max_file_bytes: u64,
    pub allowed_types: HashSet<String>,
    /// The whole transfer, headers to the last byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// `{data_dir}/files/staging`.
    pub staging: PathBuf,
}

/// Fetches customers' files: the handover's [`FileFetcher`].
pub struct AttachmentFetcher {
    http: reqwest::Client,
    rules: FetchRules,
    tokens: Arc<TokenClient>,
    /// The Copilot Studio agent's credential, for pictures on the conversation's Bot Connector.
    credential: OutboundCredential,
    /// Hosts trusted with that credential's token.
    trusted: TrustedHosts,
}

impl AttachmentFetcher {
    pub fn new(
        rules: FetchRules,
        tokens: Arc<TokenClient>,
        credential: OutboundCredential,
        trusted: TrustedHosts,
        user_agent: &'static str,
    ) -> anyhow::Result<Self> {
        // What an earlier process left may be half-written: its deliveries fetch again.
        let _ = std::fs::remove_dir_all(&rules.staging);
        std::fs::create_dir_all(&rules.staging).map_err(|error| {
            anyhow::anyhow!(
                "cannot create the staging folder {}: {error}",
                rules.staging.display()
            )
        })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(rules.connect_timeout)
            .user_agent(user_agent)
            .dns_resolver(Arc::new(GuardedResolver {
                loopback_allowed: rules.local,
            }))
            .build()?;
        Ok(Self {
            http,
            rules,
            tokens,
            credential,
            trusted,
        })
    }

    fn staged_path(&self, delivery: DeliveryId) -> PathBuf {
        self.rules.staging.join(delivery.0.to_string())
    }

    /// The token a fetch of `url` carries: only for a picture on the conversation's Bot Connector,
    /// to a host trusted with the agent's token.
    async fn token_for(
        &self,
        source: &FileSource,
        url: &Url,
    ) -> Result<Option<String>, FetchError> {
        let FileSource::Connector(_) = source else {
            return Ok(None);
        };
        match &self.credential {
            OutboundCredential::App { credentials, scope }
                if self.trusted.may_receive_token(url) =>
            {
                let token = self
                    .tokens
                    .token(credentials, scope)
                    .await
                    .map_err(|error| FetchError::Transient(format!("no token: {error}")))?;
                Ok(Some(token.expose_secret().to_owned()))
            }
            _ => Ok(None),
        }
    }

    /// Streams the file at `url` into `part`; its kind once known.
    async fn download(
        &self,
        url: Url,
        token: Option<String>,
        part: &Path,
    ) -> Result<(FileKind, u64), FetchError> {
        let mut request = self.http.get(url).timeout(self.rules.timeout);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|error| {
            if is_refused_address(&error) {
                FetchError::Refused(FetchRefusal::PrivateAddress)
            } else if error.is_timeout() {
                FetchError::Transient("its host did not answer in time".into())
            } else {
                FetchError::Transient(error.without_url().to_string())
            }
        })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Refused(FetchRefusal::Redirected));
        }
        if !status.is_success() {
            let code = status.as_u16();
            return Err(if code == 408 || code == 429 || code >= 500 {
                FetchError::Transient(format!("its host answered {code}"))
            } else {
                FetchError::Refused(FetchRefusal::LinkRefused { status: code })
            });
        }
        let limit = self.rules.max_file_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(FetchError::Refused(FetchRefusal::TooLarge { limit }));
        }
        let kept =
            |error: std::io::Error| FetchError::Refused(FetchRefusal::NotKept(error.to_string()));
        let mut out = tokio::io::BufWriter::with_capacity(
            64 * 1024,
            tokio::fs::File::create(part).await.map_err(kept)?,
        );
        let mut prefix = files::Prefix::default();
        let mut kind: Option<FileKind> = None;
        let mut size: u64 = 0;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| {
                if error.is_timeout() {
                    FetchError::Refused(FetchRefusal::TooSlow)
                } else {
                    FetchError::Transient(error.without_url().to_string())
                }
            })?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(FetchError::Refused(FetchRefusal::TooLarge { limit }));
            }
            if kind.is_none() && prefix.push(&chunk) {
                kind = Some(self.allowed(prefix.kind(false))?);
            }
            out.write_all(&chunk).await.map_err(kept)?;
        }
        if size == 0 {
            return Err(FetchError::Refused(FetchRefusal::Empty));
        }
        let kind = match kind {
            Some(kind) => kind,
            None => self.allowed(prefix.kind(true))?,
        };
        out.flush().await.map_err(kept)?;
        Ok((kind, size))
    }

    fn allowed(&self, kind: FileKind) -> Result<FileKind, FetchError> {
        if self.rules.allowed_types.contains(kind.mime) {
            Ok(kind)
        } else {
            Err(FetchError::Refused(FetchRefusal::KindRefused(kind.label())))
        }
    }

    /// A file an earlier attempt of the delivery staged, if any.
    async fn staged(&self, delivery: DeliveryId, name: Option<&str>) -> Option<StagedFile> {
        let path = self.staged_path(delivery);
        let mut file = tokio::fs::File::open(&path).await.ok()?;
        let size = file.metadata().await.ok()?.len();
        let mut prefix = vec![0u8; files::SNIFF_BYTES.min(size as usize)];
        file.read_exact(&mut prefix).await.ok()?;
        let kind = files::sniff(&prefix, size as usize <= prefix.len());
        Some(StagedFile {
            path,
            name: name_of(name, kind),
            content_type: kind.mime.to_owned(),
            size,
        })
    }
}

#[async_trait]
impl FileFetcher for AttachmentFetcher {
    async fn fetch(
        &self,
        delivery: DeliveryId,
        file: &CustomerFile,
    ) -> Result<StagedFile, FetchError> {
        if let Some(staged) = self.staged(delivery, file.name.as_deref()).await {
            tracing::info!(
                delivery_id = delivery.0,
                "the file was fetched by an earlier attempt"
            );
            return Ok(staged);
        }
        let link = match &file.source {
            FileSource::Connector(link) | FileSource::Link(link) => link,
        };
        let url = check_link(&self.rules, link).map_err(FetchError::Refused)?;
        let token = self.token_for(&file.source, &url).await?;
        let part = self.rules.staging.join(format!("{}.part", delivery.0));
        let downloaded = self.download(url, token, &part).await;
        let (kind, size) = match downloaded {
            Ok(done) => done,
            Err(error) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(error);
            }
        };
        let path = self.staged_path(delivery);
        tokio::fs::rename(&part, &path)
            .await
            .map_err(|error| FetchError::Refused(FetchRefusal::NotKept(error.to_string())))?;
        tracing::info!(
            delivery_id = delivery.0,
            size,
            content_type = kind.mime,
            "customer's file fetched"
        );
        Ok(StagedFile {
            path,
            name: name_of(file.name.as_deref(), kind),
            content_type: kind.mime.to_owned(),
            size,
        })
    }

    async fn discard(&self, delivery: DeliveryId) {
        for path in [
            self.staged_path(delivery),
            self.rules.staging.join(format!("{}.part", delivery.0)),
        ] {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

/// A safe name for a customer's file: theirs, or (a picture pasted in Teams has none) one for
/// its kind.
fn name_of(name: Option<&str>, kind: FileKind) -> String {
    match name.map(str::trim).filter(|name| !name.is_empty()) {
        Some(name) => files::safe_name(name, kind),
        None if kind.mime.starts_with("image/") => files::safe_name("picture", kind),
        None => files::safe_name("file", kind),
    }
}

/// The link, if it may be fetched at all under `rules`: its scheme, host and address (a name's
/// addresses are checked as it is resolved, by [`GuardedResolver`]).
pub fn check_link(rules: &FetchRules, link: &str) -> Result<Url, FetchRefusal> {
    let url = Url::parse(link.trim()).map_err(|_| FetchRefusal::Unusable)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    if host.is_empty() || !url.username().is_empty() || url.password().is_some() {
        return Err(FetchRefusal::Unusable);
    }
    let loopback = is_loopback_url(&url);
    let listed = rules.hosts.host_matches(&host);
    match url.scheme() {
        "https" => {}
        "http" if loopback && (rules.local || listed) => {}
        "http" => return Err(FetchRefusal::NotHttps),
        _ => return Err(FetchRefusal::Unusable),
    }
    if !(listed || (rules.local && loopback)) {
        return Err(FetchRefusal::HostNotAllowed(host));
    }
    // An address written in the link is never resolved, so it is checked here.
    if let Some(address) = literal_address(&url) {
        let loopback_allowed = rules.local || listed;
        if !(is_public(address) || address.is_loopback() && loopback_allowed) {
            return Err(FetchRefusal::PrivateAddress);
        }
    }
    Ok(url)
}

/// Deletes staged files older than `age`: leftovers of deliveries given up or purged (a crash
/// between a delivery's end and its discard). Answers how many.
pub fn clear_stale_staging(staging: &Path, age: Duration) -> std::io::Result<usize> {
    let mut cleared = 0;
    let Ok(entries) = std::fs::read_dir(staging) else {
        return Ok(0);
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|elapsed| elapsed >= age);
        if old {
            std::fs::remove_file(entry.path())?;
            cleared += 1;
        }
    }
    Ok(cleared)
}

/// The address written in a link's host, if it is one.
fn literal_address(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(address) => Some(IpAddr::V4(address)),
        url::Host::Ipv6(address) => Some(IpAddr::V6(address)),
        url::Host::Domain(_) => None,
    }
}

/// True for an address on the public internet: not private, loopback, link-local (cloud metadata
/// services live there), shared, multicast, reserved or unspecified.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064)
        }
    }
}

/// Why a resolution was refused, so that the fetch can say so.
#[derive(Debug)]
struct RefusedAddress;

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("the host resolves to a private, loopback or link-local address")
    }
}

impl std::error::Error for RefusedAddress {}

/// True when a request failed because [`GuardedResolver`] refused its host's addresses.
fn is_refused_address(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<RefusedAddress>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Resolves names as the system does, and refuses any name with an address that is not public
/// (loopback too, unless allowed): the refusal comes before any connection is attempted.
struct GuardedResolver {
    loopback_allowed: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let loopback_allowed = self.loopback_allowed;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let acceptable = |address: &SocketAddr| {
                is_public(address.ip()) || (loopback_allowed && address.ip().is_loopback())
            };
            if addresses.is_empty() || !addresses.iter().all(acceptable) {
                return Err(Box::new(RefusedAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(local: bool, extra: &[&str]) -> FetchRules {
        FetchRules {
            hosts: TrustedHosts::of(
                FILE_HOSTS,
                &extra
                    .iter()
                    .map(|host| host.to_string())
                    .collect::<Vec<_>>(),
            ),
            local,
            max_file_bytes: 1,
            allowed_types: HashSet::new(),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            staging: PathBuf::new(),
        }
    }

    #[test]
    fn hostile_links_are_refused_before_any_connection() {
        let strict = rules(false, &["10.1.2.3", "files.contoso.test"]);
        let cases = [
            ("file:///etc/passwd", FetchRefusal::Unusable),
            ("data:image/png;base64,iVBORw0KGgo=", FetchRefusal::Unusable),
            ("ftp://contoso.sharepoint.com/x", FetchRefusal::Unusable),
            ("javascript:alert(1)", FetchRefusal::Unusable),
            ("not a link", FetchRefusal::Unusable),
            (
                "https://user:secret@contoso.sharepoint.com/x",
                FetchRefusal::Unusable,
            ),
            ("http://contoso.sharepoint.com/x", FetchRefusal::NotHttps),
            (
                "https://evil.example/x",
                FetchRefusal::HostNotAllowed("evil.example".into()),
            ),
            (
                "https://contoso.sharepoint.com.evil.example/x",
                FetchRefusal::HostNotAllowed("contoso.sharepoint.com.evil.example".into()),
            ),
            (
                "https://127.0.0.1/x",
                FetchRefusal::HostNotAllowed("127.0.0.1".into()),
            ),
            (
                "https://2130706433/x",
                FetchRefusal::HostNotAllowed("127.0.0.1".into()),
            ),
            (
                "https://[::1]/x",
                FetchRefusal::HostNotAllowed("[::1]".into()),
            ),
            ("https://10.1.2.3/x", FetchRefusal::PrivateAddress),
        ];
        for (link, refusal) in cases {
            assert_eq!(check_link(&strict, link), Err(refusal), "{link}");
        }
        for fine in [
            "https://contoso.sharepoint.com/personal/x?tempauth=abc",
            "https://smba.trafficmanager.net/amer/v3/attachments/1/views/original",
            "https://files.contoso.test/x",
        ] {
            assert!(check_link(&strict, fine).is_ok(), "{fine}");
        }
        let local = rules(true, &[]);
        assert!(check_link(&local, "http://127.0.0.1:5002/downloads/x").is_ok());
        assert!(check_link(&local, "http://localhost:5002/x").is_ok());
        assert_eq!(
            check_link(&local, "http://192.168.1.5/x"),
            Err(FetchRefusal::NotHttps)
        );
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["52.114.128.1", "13.107.6.171", "2603:1030::1", "8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
