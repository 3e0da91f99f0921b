//! Helpers for the tests of every crate (a dev-dependency only; nothing here ships): bounded
//! polling instead of sleeps, free loopback ports, and a headless Chromium driven over WebDriver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub mod files;
pub mod postgres;
pub mod teams_limits;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Any JSON value, nested a few levels, whose objects use `keys` (and short random names) and whose
/// strings include `words`: the shapes a parser under test meets from a hostile caller.
pub fn json_shapes(
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let key = prop_oneof![
        proptest::sample::select(keys).prop_map(str::to_owned),
        "[a-zA-Z]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|n| serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        proptest::sample::select(words).prop_map(|word| Value::String(word.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// The page at `url`, as `client` sees it (its cookies).
pub async fn page(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("the page answers")
        .text()
        .await
        .expect("the page's text")
}

/// Shows the services' logs in a test's output when `TEST_LOG` is set (once per test binary).
pub fn init_test_logs() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info,sqlx=warn")
                .with_test_writer()
                .try_init();
        }
    });
}

/// Polls `check` every 25 ms until it yields a value; fails the test after `limit`.
pub async fn eventually_within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// [`eventually_within`] ten seconds.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(Duration::from_secs(10), what, check).await
}

/// The `quantiles` (0.5 for the median, 1.0 for the largest) of `values`, nearest-rank; `None`
/// when there are none.
pub fn quantiles(mut values: Vec<f64>, quantiles: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let last = (values.len() - 1) as f64;
    Some(
        quantiles
            .iter()
            .map(|q| values[(last * q).round() as usize])
            .collect(),
    )
}

/// Waits (at most 30 s: a release binary starting from cold) until the service at `base` answers
/// `GET {base}/readyz` with a success.
pub async fn wait_until_ready(base: &str, what: &str) {
    let client = reqwest::Client::new();
    eventually_within(
        Duration::from_secs(30),
        &format!("{what} to start"),
        || async {
            let answer = client.get(format!("{base}/readyz")).send().await.ok()?;
            answer.status().is_success().then_some(())
        },
    )
    .await
}

/// Sends `request_line` (e.g. `POST /api/x`) with headers promising a 100-byte body of
/// `content_type`, sends 10 bytes of it, then waits for the server's answer (bounded by 30 s) and
/// returns it: a server that cuts slow clients off answers and closes.
pub async fn trickle_body(address: &str, request_line: &str, content_type: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            format!("{request_line} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n0123456789")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept waiting for the body");
    String::from_utf8_lossy(&answer).into_owned()
}

/// `bin` of `package`, built (release) next to the running example, for the benchmarks.
pub fn release_binary(package: &str, bin: &str) -> PathBuf {
    let examples = std::env::current_exe().unwrap();
    let profile = examples.parent().and_then(Path::parent).unwrap();
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--quiet", "-p", package, "--bin", bin])
            .status()
            .unwrap();
    assert!(status.success(), "cannot build {package}");
    profile.join(bin)
}

/// A service's process: `environment` and `RUST_LOG` at info and nothing else from this
/// process's environment, its output appended to `log`, killed when dropped.
pub fn service_command(
    program: &Path,
    log: &Path,
    environment: &[(&str, String)],
) -> tokio::process::Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = tokio::process::Command::new(program);
    command
        .env_clear()
        .env("RUST_LOG", "info,sqlx=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true);
    for (key, value) in environment {
        command.env(key, value);
    }
    command
}

/// User and system CPU seconds a process has used so far (Linux `/proc`).
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// How fast this machine is at the moment, by three fixed pieces of work: printed beside benchmark
/// figures, which compare with each other only where it held. On a shared host (a virtual machine
/// of 2 cores) a loop in Python was seen to take from 2.1 to 3.6 s within an hour, and PostgreSQL's
/// throughput to fall from 2,900 to 900 messages a second, while steal time stayed at 1-2 % and
/// arithmetic alone did not slow: what slowed was memory and waking threads.
#[derive(Debug, Clone, Copy)]
pub struct Yardstick {
    /// Arithmetic on one thread: 50 million dependent steps, in milliseconds.
    pub compute_ms: f64,
    /// One read from memory that misses every cache (a walk around a shuffled 32 MB ring),
    /// in nanoseconds.
    pub memory_ns: f64,
    /// One thread handing a value to another and getting it back, in microseconds.
    pub handoff_us: f64,
}

impl Yardstick {
    /// Measures now (about a second).
    pub fn measure() -> Yardstick {
        Yardstick {
            compute_ms: compute_ms(),
            memory_ns: memory_ns(),
            handoff_us: handoff_us(),
        }
    }
}

impl std::fmt::Display for Yardstick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "compute {:.0} ms, memory {:.0} ns a miss, hand-off {:.1} µs",
            self.compute_ms, self.memory_ns, self.handoff_us
        )
    }
}

/// A xorshift step: each needs the last, so a chain of them cannot be folded or spread.
fn xorshift(mut state: u64) -> u64 {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    state
}

fn compute_ms() -> f64 {
    let started = std::time::Instant::now();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..50_000_000u32 {
        state = xorshift(state);
    }
    std::hint::black_box(state);
    started.elapsed().as_secs_f64() * 1_000.0
}

fn memory_ns() -> f64 {
    const SLOTS: usize = 8 * 1024 * 1024;
    const READS: u32 = 2_000_000;
    let next = ring(SLOTS);
    let started = std::time::Instant::now();
    let mut at = 0u32;
    for _ in 0..READS {
        at = next[at as usize];
    }
    std::hint::black_box(at);
    started.elapsed().as_secs_f64() * 1e9 / f64::from(READS)
}

/// One ring through every slot in a shuffled order (Sattolo's shuffle, which never leaves a
/// shorter cycle: a walk caught in one would read from cache): slot `i` holds the next slot to
/// read, so each read's address is the last read's value, and no prefetcher guesses it.
fn ring(slots: usize) -> Vec<u32> {
    let mut next: Vec<u32> = (0..slots as u32).collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..slots).rev() {
        state = xorshift(state);
        next.swap(i, (state % i as u64) as usize);
    }
    next
}

fn handoff_us() -> f64 {
    const ROUNDS: u32 = 20_000;
    let (to_echo, echo_in) = std::sync::mpsc::channel::<u32>();
    let (echo_out, back) = std::sync::mpsc::channel::<u32>();
    let echo = std::thread::spawn(move || {
        for value in echo_in {
            if echo_out.send(value).is_err() {
                break;
            }
        }
    });
    let started = std::time::Instant::now();
    for round in 0..ROUNDS {
        // The echo runs until `to_echo` is dropped below, so neither end can be gone here.
        to_echo.send(round).expect("the echo thread is running");
        back.recv().expect("the echo thread is running");
    }
    let elapsed = started.elapsed();
    drop(to_echo);
    let _ = echo.join();
    elapsed.as_secs_f64() * 1e6 / f64::from(ROUNDS)
}

/// The machine's CPU time so far, as (stolen, all) ticks from the first line of `/proc/stat`.
/// "Stolen" is time the virtual machine's host ran something else while this machine had work:
/// benchmark figures taken under a large share of it say more about the host than the code.
pub fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
    let all = fields.iter().take(8).sum();
    (fields.get(7).copied().unwrap_or(0), all)
}

/// The share of the machine's CPU time stolen by the host since `before` (from [`cpu_ticks`]).
pub fn steal_since(before: (u64, u64)) -> f64 {
    let (stolen, all) = cpu_ticks();
    let all = all.saturating_sub(before.1);
    if all == 0 {
        return 0.0;
    }
    stolen.saturating_sub(before.0) as f64 / all as f64
}

/// A process's peak resident memory so far, in MB (Linux `/proc`).
pub fn peak_rss_mb_of(pid: u32) -> f64 {
    status_mb(pid, "VmHWM:")
}

/// A process's resident memory now, in MB (Linux `/proc`).
pub fn rss_mb_of(pid: u32) -> f64 {
    status_mb(pid, "VmRSS:")
}

/// Samples a process's resident memory every 20 ms until `stop`; answers the peak in MB (the peak
/// of a phase, which `VmHWM`, the peak of the process's life, cannot give).
pub fn sample_peak_rss(
    pid: u32,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<f64> {
    tokio::spawn(async move {
        let mut peak = 0.0f64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(rss_mb_of(pid));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peak
    })
}

/// A `kB` field of `/proc/{pid}/status`, in MB.
fn status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A loopback port that was free a moment ago, for a process the test starts to bind.
///
/// Taken at random from below the kernel's ephemeral range, never from it: a port the kernel
/// handed out for `127.0.0.1:0` and that was let go could be handed out again, to a service
/// another test binds on port 0, before this test's process bound it (seen: "Address already in
/// use" in one CI run of four). Below the range only another test's `free_port` can pick it.
pub fn free_port() -> u16 {
    let (low, high) = picked_below(ephemeral_from());
    for _ in 0..1_000 {
        let port = low + (uuid::Uuid::new_v4().as_u128() % u128::from(high - low)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {low}..{high}");
}

/// The first port of the kernel's ephemeral range (Linux's default when it cannot be read).
fn ephemeral_from() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768)
}

/// The ports [`free_port`] picks from, below `ephemeral_from` and above the usual services' ports:
/// 20,000 of them, so that two tests starting at once rarely pick the same (a port in use is
/// passed over). A range starting below 30,000 leaves no such room; the picks then reach into it.
fn picked_below(ephemeral_from: u16) -> (u16, u16) {
    let high = ephemeral_from.max(30_000);
    (high - 20_000, high)
}

/// The browser and its driver: Debian's, unless `CHROMIUM_BIN` / `CHROMEDRIVER_BIN` say otherwise
/// (as `scripts/test.sh` lets them).
fn browser_binaries() -> (String, String) {
    let from_env = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    (
        from_env("CHROMIUM_BIN", "/usr/bin/chromium"),
        from_env("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"),
    )
}

/// Headless Chromium (Debian's `chromium` and `chromium-driver`) through chromedriver.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a browser window of `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let (chromium, chromedriver) = browser_binaries();
        assert!(
            Path::new(&chromedriver).exists() && Path::new(&chromium).exists(),
            "the browser tests need {chromium} and {chromedriver}: apt-get install -y chromium chromium-driver (scripts/test.sh does it where it can)"
        );
        let port = free_port();
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let webdriver = format!("http://127.0.0.1:{port}");
        eventually("chromedriver to answer", || async {
            reqwest::get(format!("{webdriver}/status"))
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                         format!("--window-size={width},{height}"), format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        // Both of rustls' crypto back-ends are compiled in (through different dependencies), so one
        // must be chosen; the WebDriver connection is plain http on loopback anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Waits until an element at `css` has text containing `expected`; returns its text.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> String {
        eventually(&format!("'{expected}' in {css}"), || async {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                let text = element.text().await.ok()?;
                if text.contains(expected) {
                    return Some(text);
                }
            }
            None
        })
        .await
    }

    /// Opens a new window on Contoso Live Chat at `base`, signs in there and stays in it; the
    /// window, to come back to.
    pub async fn sign_in_in_new_window(
        &self,
        base: &str,
        username: &str,
        password: &str,
    ) -> fantoccini::wd::WindowHandle {
        let window = self.client.new_window(false).await.unwrap();
        self.client
            .switch_to_window(window.handle.clone())
            .await
            .unwrap();
        self.client.goto(&format!("{base}/signin")).await.unwrap();
        self.sign_in(username, password).await;
        window.handle
    }

    /// Fills the sign-in form on the current page (Contoso Live Chat's `/signin`), submits it and
    /// waits for the signed-in header: a page opened sooner would race the sign-in's redirect.
    pub async fn sign_in(&self, username: &str, password: &str) {
        for (css, text) in [
            ("input[name=username]", username),
            ("input[name=password]", password),
        ] {
            self.client
                .find(Locator::Css(css))
                .await
                .unwrap()
                .send_keys(text)
                .await
                .unwrap();
        }
        self.client
            .find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.wait_for_text(".agent-name", "").await;
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css}: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {css}: {error}"));
    }

    /// Types `text` into the field at `css` and presses Enter.
    pub async fn type_and_enter(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.send_keys(text).await.unwrap();
        field.send_keys("\u{E007}").await.unwrap();
    }

    /// Saves a screenshot to `target/screenshots/{name}`, and to `docs/{name}` with `UPDATE_SCREENSHOTS=1`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::create_dir_all(root.join("target/screenshots")).unwrap();
        std::fs::write(root.join("target/screenshots").join(name), &png).unwrap();
        if std::env::var("UPDATE_SCREENSHOTS").is_ok() {
            std::fs::create_dir_all(root.join("docs")).unwrap();
            std::fs::write(root.join("docs").join(name), &png).unwrap();
        }
    }

    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

/// A live-chat agent signed in with a page open (its live-update stream), so that Contoso Live
/// Chat counts them online; offline again once this is dropped (after the live chat's grace).
pub struct OnlineAgent {
    stream: tokio::task::JoinHandle<()>,
    client: reqwest::Client,
    base: String,
    csrf: String,
}

impl OnlineAgent {
    /// Submits a conversation page's form as the agent would (`accept`, `end`, ...); the status.
    pub async fn act(&self, conversation_id: &str, action: &str) -> reqwest::StatusCode {
        self.client
            .post(format!(
                "{}/agent/conversations/{conversation_id}/{action}",
                self.base
            ))
            .form(&[("csrf_token", self.csrf.as_str())])
            .send()
            .await
            .expect("the agent's action")
            .status()
    }
}

impl OnlineAgent {
    /// Sends a reply with a file from the conversation page's form (`multipart/form-data`, the
    /// CSRF token first, as the page sends it); the status.
    pub async fn reply_with_file(
        &self,
        conversation_id: &str,
        message: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> reqwest::StatusCode {
        let form = crate::files::reply_form(&self.csrf, message, name, bytes);
        self.client
            .post(format!(
                "{}/agent/conversations/{conversation_id}/messages",
                self.base
            ))
            .multipart(form)
            .send()
            .await
            .expect("the agent's reply")
            .status()
    }
}

impl Drop for OnlineAgent {
    fn drop(&mut self) {
        self.stream.abort();
    }
}

/// Signs `client` in to the live chat at `base` as `username`, the way the sign-in page does;
/// answers the CSRF token of the pages it then sees.
pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> String {
    let signin = page(client, &format!("{base}/signin")).await;
    let signed_in = client
        .post(format!("{base}/signin"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf_token", csrf_in(&signin).as_str()),
        ])
        .send()
        .await
        .expect("the sign-in");
    assert_eq!(signed_in.status(), 303, "the agent signs in");
    csrf_in(&page(client, &format!("{base}/agent")).await)
}

/// Signs `username` in to the live chat at `base` and keeps a page of theirs open.
pub async fn agent_online(base: &str, username: &str, password: &str) -> OnlineAgent {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let csrf = sign_in(&client, base, username, password).await;
    let events = format!("{base}/agent/events");
    let stream_client = client.clone();
    let stream = tokio::spawn(async move {
        let client = stream_client;
        // Reconnect as a browser would, should the live chat restart.
        loop {
            if let Ok(mut response) = client.get(&events).send().await {
                while let Ok(Some(_)) = response.chunk().await {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    OnlineAgent {
        stream,
        client,
        base: base.to_owned(),
        csrf,
    }
}

/// The CSRF token in a rendered live-chat page.
pub fn csrf_in(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let Some(start) = page.find(marker) else {
        panic!(
            "no CSRF field in the page: {}",
            page.chars().take(600).collect::<String>()
        );
    };
    let start = start + marker.len();
    page[start..start + 64].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yardstick_s_memory_walk_visits_every_slot_before_it_comes_back() {
        for slots in [2, 3, 17, 1_000, 65_536] {
            let next = ring(slots);
            let mut seen = vec![false; slots];
            let mut at = 0usize;
            for step in 0..slots {
                assert!(!seen[at], "{slots} slots: back at {at} after {step} reads");
                seen[at] = true;
                at = next[at] as usize;
            }
            assert_eq!(at, 0, "{slots} slots: the walk does not close");
        }
    }

    #[test]
    fn a_free_port_is_taken_from_below_the_ephemeral_range_and_can_be_bound() {
        assert_eq!(picked_below(32_768), (12_768, 32_768));
        assert_eq!(picked_below(1_024), (10_000, 30_000));
        let (low, high) = picked_below(ephemeral_from());
        for _ in 0..20 {
            let port = free_port();
            assert!(
                (low..high).contains(&port),
                "{port} is not in {low}..{high}"
            );
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
