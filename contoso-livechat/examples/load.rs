//! Contoso Live Chat's benchmark: the real `contoso-livechat` binary as a child process, a fake
//! skill webhook in this process answering at once, agent pages connected to the live updates
//! (`/agent/events`), and closed-loop senders. Prints figures; asserts nothing.
//!
//! ```text
//! cargo run --release -p contoso-livechat --example livechat-load -- --pages 50 --concurrency 64 --duration 20
//! ```
//!
//! Two phases: customers' messages into `POST /api/chat/receive` (each must reach every page as
//! a live event), then agents' replies into `POST /api/chat/send` (each must reach the webhook
//! once: the live chat's outbox). For each it prints accepted messages a second, answer latency
//! p50/p99, what was delivered in the window and after it (lost and duplicated ids), and the live
//! chat's CPU and peak resident memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use clap::Parser;
use futures_util::StreamExt;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Load run of Contoso Live Chat against a fake skill on loopback")]
struct Arguments {
    /// Agent pages connected to the live updates.
    #[arg(long, default_value_t = 50)]
    pages: usize,
    /// Concurrent senders of the closed loop.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open conversations the messages are spread over.
    #[arg(long, default_value_t = 200)]
    conversations: usize,
    /// Seconds of load per phase.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds to wait after a phase for what is still on its way.
    #[arg(long, default_value_t = 60)]
    drain: u64,
    /// The binary; by default `target/release/contoso-livechat`, built if missing.
    #[arg(long)]
    livechat: Option<PathBuf>,
}

/// Agents the pages are shared among (each may hold eight streams).
const AGENTS: usize = 8;
const PASSWORD: &str = "benchmark-password";

/// Ids the fake webhook received, with how often.
#[derive(Default)]
struct Webhook {
    ids: Mutex<HashMap<String, u32>>,
}

async fn webhook(body: web::Bytes, received: web::Data<Webhook>) -> HttpResponse {
    if let Ok(event) = serde_json::from_slice::<Value>(&body) {
        if let Some(id) = event["id"].as_str() {
            *received
                .ids
                .lock()
                .unwrap()
                .entry(id.to_owned())
                .or_default() += 1;
        }
    }
    HttpResponse::Ok().json(json!({ "status": "accepted" }))
}

fn binary(arguments: &Arguments) -> PathBuf {
    match &arguments.livechat {
        Some(path) => path.clone(),
        None => test_support::release_binary("contoso-livechat", "contoso-livechat"),
    }
}

/// p50 and p99 of latencies in milliseconds.
fn percentiles(values: Vec<f64>) -> (f64, f64) {
    match test_support::quantiles(values, &[0.5, 0.99]).as_deref() {
        Some(&[p50, p99]) => (p50, p99),
        _ => (0.0, 0.0),
    }
}

/// Signs `client` in as agent `n`.
async fn sign_in(client: &reqwest::Client, base: &str, n: usize) {
    test_support::sign_in(client, base, &format!("agent{n}"), PASSWORD).await;
}

/// Runs `concurrency` closed-loop senders for `duration`; message `n` goes to conversation
/// `n % len` with the fields `body(n)`. Returns (accepted, latencies in ms).
async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    concurrency: usize,
    duration: Duration,
    conversations: Arc<Vec<String>>,
    fields: fn(u64) -> Value,
) -> (u64, Vec<f64>) {
    let body = move |n: u64| {
        let mut body = fields(n);
        body["conversationId"] = json!(conversations[n as usize % conversations.len()]);
        body
    };
    let next = Arc::new(AtomicU64::new(0));
    let body = Arc::new(body);
    let end = Instant::now() + duration;
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        let (http, url, next, body) = (http.clone(), url.to_owned(), next.clone(), body.clone());
        senders.push(tokio::spawn(async move {
            let (mut accepted, mut latencies) = (0u64, Vec::new());
            while Instant::now() < end {
                let sequence = next.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let answer = http.post(&url).json(&body(sequence)).send().await;
                if answer.is_ok_and(|answer| answer.status().is_success()) {
                    accepted += 1;
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            (accepted, latencies)
        }));
    }
    let (mut accepted, mut latencies) = (0, Vec::new());
    for sender in senders {
        let (count, mut times) = sender.await.unwrap();
        accepted += count;
        latencies.append(&mut times);
    }
    (accepted, latencies)
}

#[actix_web::main]
async fn main() {
    let arguments = Arguments::parse();
    let binary = binary(&arguments);
    let data = tempfile::tempdir().unwrap();

    let received = web::Data::new(Webhook::default());
    let server = {
        let received = received.clone();
        HttpServer::new(move || {
            App::new()
                .app_data(received.clone())
                .route("/api/livechat/messages", web::post().to(webhook))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap()
    };
    let webhook_port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());

    let hash = contoso_livechat::password::hash_password(PASSWORD).unwrap();
    let mut config = String::new();
    for n in 0..AGENTS {
        config.push_str(&format!(
            "[[agents]]\nusername = \"agent{n}\"\ndisplay_name = \"Agent {n}\"\npassword_hash = \"{hash}\"\n"
        ));
    }
    let config_path = data.path().join("livechat.toml");
    std::fs::write(&config_path, config).unwrap();
    let port = test_support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child: Child = Command::new(&binary)
        .env("LIVECHAT_CONFIG", &config_path)
        .env("LIVECHAT_BIND", format!("127.0.0.1:{port}"))
        .env("LIVECHAT_DATA_DIR", data.path().join("data"))
        .env(
            "LIVECHAT_WEBHOOK_URL",
            format!("http://127.0.0.1:{webhook_port}/api/livechat/messages"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(arguments.concurrency)
        .build()
        .unwrap();
    test_support::eventually_within(Duration::from_secs(30), "the live chat up", || async {
        let answer = http.get(format!("{base}/healthz")).send().await.ok()?;
        answer.status().is_success().then_some(())
    })
    .await;

    let mut conversations = Vec::new();
    for n in 0..arguments.conversations {
        let answer: Value = http
            .post(format!("{base}/api/chat/start"))
            .json(&json!({ "customerName": format!("Customer {n}"), "botConversationId": format!("bench-{n}") }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        conversations.push(answer["conversationId"].as_str().unwrap().to_owned());
    }
    let conversations = Arc::new(conversations);

    // The pages: each counts the message events it is sent.
    let seen: Arc<Vec<AtomicU64>> =
        Arc::new((0..arguments.pages).map(|_| AtomicU64::new(0)).collect());
    let mut agents = Vec::new();
    for n in 0..AGENTS.min(arguments.pages.max(1)) {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        sign_in(&client, &base, n).await;
        agents.push(client);
    }
    for page in 0..arguments.pages {
        let client = agents[page % agents.len()].clone();
        let stream = client
            .get(format!("{base}/agent/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200, "page {page}");
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut body = stream.bytes_stream();
            let mut carry = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                carry.push_str(&String::from_utf8_lossy(&chunk));
                let complete = carry.rfind('\n').map_or(0, |at| at + 1);
                let events = carry[..complete].matches("event: message\n").count();
                seen[page].fetch_add(events as u64, Ordering::Relaxed);
                carry.drain(..complete);
            }
        });
    }

    let duration = Duration::from_secs(arguments.duration);
    println!(
        "Contoso Live Chat: {} pages live, {} conversations, {} senders, {} s per phase",
        arguments.pages, arguments.conversations, arguments.concurrency, arguments.duration
    );

    // Phase 1: customers' messages, each to every page.
    let cpu_before = test_support::cpu_seconds_of(pid);
    let ticks_before = test_support::cpu_ticks();
    let started = Instant::now();
    let (accepted, latencies) = closed_loop(
        &http,
        &format!("{base}/api/chat/receive"),
        arguments.concurrency,
        duration,
        conversations.clone(),
        |n| json!({ "message": format!("customer message {n}"), "id": format!("c-{n}") }),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let in_window: Vec<u64> = seen
        .iter()
        .map(|count| count.load(Ordering::Relaxed))
        .collect();
    let cpu = (test_support::cpu_seconds_of(pid) - cpu_before) / elapsed;
    let steal = test_support::steal_since(ticks_before) * 100.0;
    let drain_until = Instant::now() + Duration::from_secs(arguments.drain);
    while Instant::now() < drain_until
        && seen
            .iter()
            .any(|count| count.load(Ordering::Relaxed) < accepted)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (p50, p99) = percentiles(latencies);
    let slowest_page_in_window = in_window.iter().min().copied().unwrap_or(0);
    let fewest = seen
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    println!(
        "customer -> pages: accepted {:.0} msg/s (answer p50 {p50:.1} ms, p99 {p99:.1} ms); slowest page saw {:.0} msg/s in the window, {fewest} of {accepted} after the drain; live chat CPU {cpu:.2} cores; host steal {steal:.0}%",
        accepted as f64 / elapsed,
        slowest_page_in_window as f64 / elapsed,
    );

    // Phase 2: agents' replies through the webhook outbox.
    let before: usize = received.ids.lock().unwrap().len();
    let cpu_before = test_support::cpu_seconds_of(pid);
    let ticks_before = test_support::cpu_ticks();
    let started = Instant::now();
    let (accepted, latencies) = closed_loop(
        &http,
        &format!("{base}/api/chat/send"),
        arguments.concurrency,
        duration,
        conversations.clone(),
        |n| json!({ "message": format!("agent reply {n}"), "sender": "Agent" }),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let delivered_in_window = received.ids.lock().unwrap().len() - before;
    let cpu = (test_support::cpu_seconds_of(pid) - cpu_before) / elapsed;
    let steal = test_support::steal_since(ticks_before) * 100.0;
    let drain_until = Instant::now() + Duration::from_secs(arguments.drain);
    while Instant::now() < drain_until
        && ((received.ids.lock().unwrap().len() - before) as u64) < accepted
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (delivered, duplicated) = {
        let ids = received.ids.lock().unwrap();
        (
            ids.len() - before,
            ids.values()
                .map(|count| count.saturating_sub(1) as u64)
                .sum::<u64>(),
        )
    };
    let (p50, p99) = percentiles(latencies);
    println!(
        "agent -> webhook: accepted {:.0} msg/s (answer p50 {p50:.1} ms, p99 {p99:.1} ms); delivered {:.0} msg/s in the window, {delivered} of {accepted} after the drain (lost {}, duplicated {duplicated}); live chat CPU {cpu:.2} cores; host steal {steal:.0}%",
        accepted as f64 / elapsed,
        delivered_in_window as f64 / elapsed,
        accepted.saturating_sub(delivered as u64),
    );
    println!(
        "live chat peak RSS {:.1} MB",
        test_support::peak_rss_mb_of(pid)
    );
    let _ = child.kill();
    let _ = child.wait();
}
