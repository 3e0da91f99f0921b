//! Contoso Live Chat's file benchmark: the real `contoso-livechat` binary as a child process, many
//! customers' files uploaded at once (as the skill uploads them), then read back at once (as the
//! skill fetches agents' files), while customers' words keep arriving in other conversations.
//! Prints figures; asserts nothing.
//!
//! ```text
//! cargo run --release -p contoso-livechat --example livechat-files -- --transfers 50 --size-mb 8
//! ```
//!
//! Each upload is a different file (so each is kept: storage is by content), streamed from memory
//! in 64 KiB chunks. It prints the bytes moved, the time, the live chat's peak resident memory
//! during each phase (sampled every 20 ms) against its idle memory, and the latency of the words'
//! answers (each answered after its commit).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "File transfers into and out of Contoso Live Chat on loopback")]
struct Arguments {
    /// Files moved at once, each way.
    #[arg(long, default_value_t = 50)]
    transfers: usize,
    /// Each file's size, in MiB.
    #[arg(long, default_value_t = 8)]
    size_mb: u64,
    /// Customers' messages in words a second into other conversations, during the transfers.
    #[arg(long, default_value_t = 40)]
    text_rate: u64,
    /// The binary; by default `target/release/contoso-livechat`, built if missing.
    #[arg(long)]
    livechat: Option<PathBuf>,
}

/// Customers' words at `rate` a second into `conversations` until stopped; each answer's latency
/// in milliseconds.
fn send_words(
    client: reqwest::Client,
    base: String,
    conversations: Vec<String>,
    rate: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<f64>> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut latencies = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let at = started + Duration::from_secs_f64(n as f64 / rate as f64);
            tokio::time::sleep_until(at.into()).await;
            let conversation = &conversations[n as usize % conversations.len()];
            let answered = client
                .post(format!("{base}/api/chat/receive"))
                .json(&json!({"conversationId": conversation, "message": format!("words {n}"), "sender": "Bench"}))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if answered {
                latencies.push(at.elapsed().as_secs_f64() * 1000.0);
            }
            n += 1;
        }
        latencies
    })
}

fn percentiles(values: Vec<f64>) -> String {
    let answered = values.len();
    match test_support::quantiles(values, &[0.5, 0.99, 1.0]).as_deref() {
        Some(&[p50, p99, max]) => {
            format!("{answered} answered, p50 {p50:.1} ms  p99 {p99:.1} ms  max {max:.1} ms")
        }
        _ => "none answered".to_owned(),
    }
}

/// File `n`'s bytes: a PDF's signature, `n` itself, then filler.
fn file(n: usize, size: u64) -> reqwest::Body {
    const CHUNK: usize = 64 * 1024;
    let chunks = size.div_ceil(CHUNK as u64);
    let stream = futures_util::stream::iter(0..chunks).map(move |index| {
        let start = index * CHUNK as u64;
        let length = (size - start).min(CHUNK as u64) as usize;
        let mut chunk = vec![b' '; length];
        if index == 0 {
            let head = format!("%PDF-1.7\n% file {n}\n");
            chunk[..head.len()].copy_from_slice(head.as_bytes());
        }
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::Body::wrap_stream(stream)
}

struct LiveChat {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for LiveChat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main]
async fn main() {
    let arguments = Arguments::parse();
    let size = arguments.size_mb * 1024 * 1024;
    let binary = arguments
        .livechat
        .clone()
        .unwrap_or_else(|| test_support::release_binary("contoso-livechat", "contoso-livechat"));
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("livechat.toml");
    std::fs::write(
        &config,
        format!(
            "[files]\nmax_file_bytes = {}\nmax_total_bytes = {}\n",
            size + 1024 * 1024,
            (arguments.transfers as u64 + 1) * (size + 1024 * 1024) + 1024 * 1024 * 1024
        ),
    )
    .unwrap();
    let port = test_support::free_port();
    let live_chat = LiveChat {
        child: Command::new(&binary)
            .env("LIVECHAT_CONFIG", &config)
            .env("LIVECHAT_BIND", format!("127.0.0.1:{port}"))
            .env("LIVECHAT_DATA_DIR", data.path().join("data"))
            // Nobody listens there: the benchmark reads nothing back through the webhook.
            .env(
                "LIVECHAT_WEBHOOK_URL",
                format!("http://127.0.0.1:{}/webhook", test_support::free_port()),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        _data: data,
    };
    let client = reqwest::Client::new();
    test_support::wait_until_ready(&live_chat.base, "the live chat").await;
    let pid = live_chat.child.id();
    let mut conversations = Vec::new();
    for n in 0..arguments.transfers + 10 {
        let answer: Value = client
            .post(format!("{}/api/chat/start", live_chat.base))
            .json(&json!({"customerName": format!("Customer {n}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        conversations.push(answer["conversationId"].as_str().unwrap().to_owned());
    }
    let (uploading, talking) = conversations.split_at(arguments.transfers);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = test_support::rss_mb_of(pid);
    let total_mb = (arguments.transfers as u64 * size) as f64 / (1024.0 * 1024.0);
    println!(
        "{} files of {} MiB each way, words at {}/s meanwhile; live chat idle at {idle:.1} MB",
        arguments.transfers, arguments.size_mb, arguments.text_rate
    );

    // Uploads, all at once.
    let stop = Arc::new(AtomicBool::new(false));
    let memory = test_support::sample_peak_rss(pid, stop.clone());
    let words = send_words(
        client.clone(),
        live_chat.base.clone(),
        talking.to_vec(),
        arguments.text_rate,
        stop.clone(),
    );
    let started = Instant::now();
    let uploads: Vec<_> = uploading
        .iter()
        .enumerate()
        .map(|(n, conversation)| {
            let (client, base, conversation) =
                (client.clone(), live_chat.base.clone(), conversation.clone());
            tokio::spawn(async move {
                let answer: Value = client
                    .post(format!("{base}/api/chat/attachments"))
                    .query(&[
                        ("conversationId", conversation.as_str()),
                        ("name", "scan.pdf"),
                        ("id", &format!("bench-{n}")),
                    ])
                    .header("content-length", size)
                    .body(file(n, size))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                answer["attachment"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .collect();
    let mut urls = Vec::new();
    for upload in uploads {
        urls.push(upload.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep_until((started + Duration::from_secs(5)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let peak = memory.await.unwrap();
    println!(
        "uploads: {total_mb:.0} MiB received, checked and kept in {elapsed:.1} s ({:.0} MiB/s; {} of {} kept); peak RSS {peak:.1} MB ({:+.1} MB over idle)",
        total_mb / elapsed,
        urls.iter().filter(|url| !url.is_empty()).count(),
        arguments.transfers,
        peak - idle
    );
    println!(
        "  customers' words meanwhile: {}",
        percentiles(words.await.unwrap())
    );

    // Downloads, all at once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = test_support::rss_mb_of(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let memory = test_support::sample_peak_rss(pid, stop.clone());
    let words = send_words(
        client.clone(),
        live_chat.base.clone(),
        talking.to_vec(),
        arguments.text_rate,
        stop.clone(),
    );
    let started = Instant::now();
    let downloads: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let (client, base) = (client.clone(), live_chat.base.clone());
            tokio::spawn(async move {
                let mut response = client.get(format!("{base}{url}")).send().await.unwrap();
                let mut bytes = 0u64;
                while let Some(chunk) = response.chunk().await.unwrap() {
                    bytes += chunk.len() as u64;
                }
                bytes
            })
        })
        .collect();
    let mut whole = 0;
    for download in downloads {
        whole += usize::from(download.await.unwrap() == size);
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep_until((started + Duration::from_secs(5)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let peak = memory.await.unwrap();
    println!(
        "downloads: {total_mb:.0} MiB served in {elapsed:.1} s ({:.0} MiB/s; {whole} of {} whole); peak RSS {peak:.1} MB ({:+.1} MB over idle)",
        total_mb / elapsed,
        arguments.transfers,
        peak - idle
    );
    println!(
        "  customers' words meanwhile: {}",
        percentiles(words.await.unwrap())
    );
}
