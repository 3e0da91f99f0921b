//! The skill's file benchmark: the real `skill` binary as a child process, fake peers in this
//! process (a live chat that takes uploads and serves files, a host of customers' download links,
//! a Bot Connector), and many large transfers at once while words keep flowing in other
//! conversations. Prints figures; asserts nothing.
//!
//! ```text
//! cargo run --release -p skill --example files -- --transfers 50 --size-mb 8
//! ```
//!
//! Customer to agent: `--transfers` messages, each with one file of `--size-mb` behind a download
//! link, sent at once (the skill fetches each into staging and posts it to the live chat, up to
//! `--transfers` at a time). Agent to customer: as many agent messages with a file, then as many
//! downloads at once through the links the skill sent to Teams (the skill streams each from the
//! live chat). During both, `--text-rate` messages a second go each way in other conversations,
//! and their end-to-end latency is measured. For each phase it prints the bytes moved, the time,
//! the skill's peak resident memory during the phase (sampled every 20 ms) against its idle
//! memory, and the words' latency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::SizedStream;
use actix_web::{web, App, HttpResponse, HttpServer};
use clap::Parser;
use futures_util::StreamExt;
use serde_json::{json, Value};

#[derive(Parser, Debug, Clone)]
#[command(about = "File transfers through the handover skill against fake peers on loopback")]
struct Arguments {
    /// Files moved at once, each way.
    #[arg(long, default_value_t = 50)]
    transfers: usize,
    /// Each file's size, in MiB.
    #[arg(long, default_value_t = 8)]
    size_mb: u64,
    /// Messages in words a second, each way, in other conversations, during the transfers.
    #[arg(long, default_value_t = 40)]
    text_rate: u64,
    /// Conversations the words go to.
    #[arg(long, default_value_t = 10)]
    text_sessions: usize,
    /// Seconds the words go on at least, each way (longer while files are still moving).
    #[arg(long, default_value_t = 5)]
    words_secs: u64,
    /// Files transferred at once by the skill (`files.max_concurrent_transfers`); by default all.
    #[arg(long)]
    at_once: Option<usize>,
    /// How fast the fake hosts send each file, in MiB/s (as a download over the internet is paced);
    /// by default as fast as they can.
    #[arg(long)]
    paced_mb: Option<u64>,
    /// The skill binary; by default `target/release/skill`, built if missing.
    #[arg(long)]
    skill: Option<PathBuf>,
}

/// A file's bytes: a PDF's signature, then filler, `size` long, streamed in 64 KiB chunks, at
/// `paced` MiB/s if set.
fn file_body(size: u64, paced: Option<u64>) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    let chunks = size.div_ceil(CHUNK as u64);
    let pause =
        paced.map(|rate| Duration::from_secs_f64(CHUNK as f64 / (rate as f64 * 1024.0 * 1024.0)));
    let stream = futures_util::stream::iter(0..chunks).then(move |n| async move {
        if let Some(pause) = pause.filter(|_| n > 0) {
            tokio::time::sleep(pause).await;
        }
        let start = n * CHUNK as u64;
        let length = (size - start).min(CHUNK as u64) as usize;
        let mut chunk = vec![b' '; length];
        if n == 0 {
            chunk[..9].copy_from_slice(b"%PDF-1.7\n");
        }
        Ok::<_, std::io::Error>(web::Bytes::from(chunk))
    });
    HttpResponse::Ok()
        .content_type("application/pdf")
        .body(SizedStream::new(size, stream))
}

/// What the fake peers saw.
#[derive(Default)]
struct Peers {
    size: AtomicU64,
    /// MiB/s each file is sent at (0: as fast as possible).
    paced: AtomicU64,
    opened: AtomicU64,
    /// Uploads completed, with their bytes.
    uploads: Mutex<Vec<u64>>,
    /// Words that arrived: marker, when.
    words: Mutex<HashMap<String, Instant>>,
    /// Links to agents' files the Bot Connector received.
    links: Mutex<Vec<String>>,
}

impl Peers {
    fn arrived(&self, text: &str) {
        if let Some(marker) = text.split_whitespace().find(|word| word.starts_with("w-")) {
            self.words
                .lock()
                .unwrap()
                .insert(marker.trim_matches('*').to_owned(), Instant::now());
        }
    }
}

async fn start(peers: web::Data<Peers>) -> HttpResponse {
    let n = peers.opened.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({ "conversationId": format!("lc-{n}") }))
}

async fn receive(body: web::Json<Value>, peers: web::Data<Peers>) -> HttpResponse {
    peers.arrived(body["message"].as_str().unwrap_or_default());
    HttpResponse::Ok().json(json!({"id": "x"}))
}

/// Takes an upload as Contoso Live Chat does (read to the end), keeping only its length.
async fn upload(mut body: web::Payload, peers: web::Data<Peers>) -> HttpResponse {
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        bytes += chunk.map(|chunk| chunk.len() as u64).unwrap_or(0);
    }
    peers.uploads.lock().unwrap().push(bytes);
    HttpResponse::Ok().json(json!({"id": "m", "attachment": {"id": "f", "name": "f.pdf", "contentType": "application/pdf", "size": bytes, "sha256": "", "url": "/api/chat/files/f"}}))
}

async fn serve(peers: web::Data<Peers>) -> HttpResponse {
    let paced = peers.paced.load(Ordering::Relaxed);
    file_body(
        peers.size.load(Ordering::Relaxed),
        (paced > 0).then_some(paced),
    )
}

async fn connector(body: web::Json<Value>, peers: web::Data<Peers>) -> HttpResponse {
    if let Some(url) = body["attachments"][0]["content"]["actions"][0]["url"].as_str() {
        peers.links.lock().unwrap().push(url.to_owned());
    }
    peers.arrived(body["text"].as_str().unwrap_or_default());
    HttpResponse::Ok().json(json!({"id": "x"}))
}

fn activity(peers: &str, conversation: &str, fields: Value) -> Value {
    let mut activity = json!({
        "id": format!("act-{}", uuid::Uuid::new_v4()),
        "serviceUrl": format!("{peers}/"), "channelId": "msteams",
        "from": {"id": "29:bench", "name": "Bench User"}, "recipient": {"id": "skill"},
        "conversation": {"id": conversation},
    });
    for (key, value) in fields.as_object().unwrap() {
        activity[key] = value.clone();
    }
    activity
}

/// Sends words at `rate` a second into `sessions` until `stop`; answers each marker and when it was
/// sent. `to_user` sends as the agent (webhook), else as the customer.
fn send_words(
    client: reqwest::Client,
    skill: String,
    peers: String,
    sessions: Vec<(String, String)>,
    rate: u64,
    to_user: bool,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(String, Instant)>> {
    tokio::spawn(async move {
        let mut sent = Vec::new();
        let started = Instant::now();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let at = started + Duration::from_secs_f64(n as f64 / rate as f64);
            tokio::time::sleep_until(at.into()).await;
            let (conversation, livechat) = &sessions[(n as usize) % sessions.len()];
            let marker = format!("w-{}-{n}", if to_user { "a" } else { "u" });
            let request = if to_user {
                client
                    .post(format!("{skill}/api/livechat/messages"))
                    .json(&json!({"conversationId": livechat, "id": uuid::Uuid::now_v7().to_string(), "message": marker, "sender": "Bench Agent"}))
            } else {
                client.post(format!("{skill}/api/messages")).json(&activity(
                    &peers,
                    conversation,
                    json!({"type": "message", "text": marker}),
                ))
            };
            if request.send().await.is_ok_and(|r| r.status().is_success()) {
                sent.push((marker, at));
            }
            n += 1;
        }
        sent
    })
}

/// The words' end-to-end latency: p50, p99, max in ms, and how many arrived of those sent.
fn latency(sent: &[(String, Instant)], arrived: &HashMap<String, Instant>) -> String {
    let milliseconds: Vec<f64> = sent
        .iter()
        .filter_map(|(marker, at)| {
            arrived
                .get(marker)
                .map(|when| when.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    let arrived = milliseconds.len();
    match test_support::quantiles(milliseconds, &[0.5, 0.99, 1.0]).as_deref() {
        Some(&[p50, p99, max]) => format!(
            "{arrived} of {} words arrived, p50 {p50:.1} ms  p99 {p99:.1} ms  max {max:.1} ms",
            sent.len()
        ),
        _ => "no words arrived".to_owned(),
    }
}

struct Skill {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Skill {
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
        .skill
        .clone()
        .unwrap_or_else(|| test_support::release_binary("skill", "skill"));
    let state = web::Data::new(Peers::default());
    state.size.store(size, Ordering::Relaxed);
    state
        .paced
        .store(arguments.paced_mb.unwrap_or(0), Ordering::Relaxed);
    let peer_port = test_support::free_port();
    let data = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(usize::MAX))
            .route("/api/chat/start", web::post().to(start))
            .route("/api/chat/receive", web::post().to(receive))
            .route("/api/chat/attachments", web::post().to(upload))
            .route("/api/chat/files/{id}", web::get().to(serve))
            .route("/links/{n}", web::get().to(serve))
            .route(
                "/v3/conversations/{id}/activities",
                web::post().to(connector),
            )
            .route(
                "/v3/conversations/{id}/activities/{reply}",
                web::post().to(connector),
            )
    })
    .workers(2)
    .bind(("127.0.0.1", peer_port))
    .unwrap()
    .run();
    let server_handle = server.handle();
    tokio::spawn(server);
    let peers = format!("http://127.0.0.1:{peer_port}");

    let port = test_support::free_port();
    let directory = tempfile::tempdir().unwrap();
    let settings = directory.path().join("skill.toml");
    std::fs::write(
        &settings,
        format!(
            "[files]\nmax_file_bytes = {}\nmax_concurrent_transfers = {}\ntransfer_timeout_secs = 600\n",
            size + 1024 * 1024,
            arguments.at_once.unwrap_or(arguments.transfers).max(1)
        ),
    )
    .unwrap();
    let skill = Skill {
        child: Command::new(&binary)
            .env("SKILL_BIND", format!("127.0.0.1:{port}"))
            .env("SKILL_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("SKILL_DATA_DIR", directory.path())
            .env("SKILL_CONFIG", &settings)
            .env("LIVECHAT_BASE_URL", &peers)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        _data: directory,
    };
    let client = reqwest::Client::new();
    test_support::wait_until_ready(&skill.base, "the skill").await;
    let pid = skill.child.id();

    // Sessions: one per transfer, and a few for the words.
    let mut sessions = Vec::new();
    for n in 0..arguments.transfers + arguments.text_sessions {
        let conversation = format!("bench-{n}");
        let reply: Value = client
            .post(format!("{}/api/messages", skill.base))
            .json(&activity(&peers, &conversation, json!({"type": "event", "name": "startConversation", "deliveryMode": "expectReplies"})))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let livechat = reply["activities"][0]["value"]["liveChatConversationId"]
            .as_str()
            .unwrap()
            .to_owned();
        sessions.push((conversation, livechat));
    }
    let (transfer_sessions, word_sessions) = sessions.split_at(arguments.transfers);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = test_support::rss_mb_of(pid);
    let total_mb = (arguments.transfers as u64 * size) as f64 / (1024.0 * 1024.0);
    println!(
        "{} transfers of {} MiB each way ({} at once, {}), words at {}/s each way in {} other conversations for at least {} s; skill idle at {idle:.1} MB",
        arguments.transfers,
        arguments.size_mb,
        arguments.at_once.unwrap_or(arguments.transfers),
        match arguments.paced_mb {
            Some(rate) => format!("each sent at {rate} MiB/s"),
            None => "sent as fast as they go".to_owned(),
        },
        arguments.text_rate,
        arguments.text_sessions,
        arguments.words_secs
    );

    // Customer to agent: every file at once, behind download links.
    let stop = Arc::new(AtomicBool::new(false));
    let memory = test_support::sample_peak_rss(pid, stop.clone());
    let words = send_words(
        client.clone(),
        skill.base.clone(),
        peers.clone(),
        word_sessions.to_vec(),
        arguments.text_rate,
        false,
        stop.clone(),
    );
    let started = Instant::now();
    for (n, (conversation, _)) in transfer_sessions.iter().enumerate() {
        let message = activity(
            &peers,
            conversation,
            json!({"type": "message", "attachments": [{
                "contentType": "application/vnd.microsoft.teams.file.download.info", "name": format!("file-{n}.pdf"),
                "content": {"downloadUrl": format!("{peers}/links/{n}?tempauth=x")}
            }]}),
        );
        let response = client
            .post(format!("{}/api/messages", skill.base))
            .json(&message)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    while state.uploads.lock().unwrap().len() < arguments.transfers {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the uploads did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep_until((started + Duration::from_secs(arguments.words_secs)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let peak = memory.await.unwrap();
    let sent = words.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let uploaded: u64 = state.uploads.lock().unwrap().iter().sum();
    println!(
        "customer to agent: {:.0} MiB fetched and posted in {elapsed:.1} s ({:.0} MiB/s; {} of {} files whole); skill peak RSS {peak:.1} MB ({:+.1} MB over idle)",
        total_mb,
        total_mb / elapsed,
        state.uploads.lock().unwrap().iter().filter(|bytes| **bytes == size).count(),
        arguments.transfers,
        peak - idle,
    );
    println!(
        "  words to the agent meanwhile: {}",
        latency(&sent, &state.words.lock().unwrap())
    );
    assert_eq!(
        uploaded,
        arguments.transfers as u64 * size,
        "every byte arrived"
    );

    // Agent to customer: every file at once through the skill's links.
    for (n, (_, livechat)) in transfer_sessions.iter().enumerate() {
        let event = json!({"conversationId": livechat, "id": format!("file-{n}"), "message": "", "sender": "Bench Agent",
            "attachments": [{"id": format!("f{n}"), "name": format!("label-{n}.pdf"), "contentType": "application/pdf",
                             "size": size, "sha256": "", "url": format!("/api/chat/files/f{n}")}]});
        let response = client
            .post(format!("{}/api/livechat/messages", skill.base))
            .json(&event)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    while state.links.lock().unwrap().len() < arguments.transfers {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let links = state.links.lock().unwrap().clone();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = test_support::rss_mb_of(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let memory = test_support::sample_peak_rss(pid, stop.clone());
    let words = send_words(
        client.clone(),
        skill.base.clone(),
        peers.clone(),
        word_sessions.to_vec(),
        arguments.text_rate,
        true,
        stop.clone(),
    );
    let started = Instant::now();
    let downloads: Vec<_> = links
        .into_iter()
        .map(|link| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut response = client.get(link).send().await.unwrap();
                let mut bytes = 0u64;
                while let Some(chunk) = response.chunk().await.unwrap() {
                    bytes += chunk.len() as u64;
                }
                bytes
            })
        })
        .collect();
    let mut downloaded = 0u64;
    let mut whole = 0;
    for download in downloads {
        let bytes = download.await.unwrap();
        downloaded += bytes;
        whole += usize::from(bytes == size);
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep_until((started + Duration::from_secs(arguments.words_secs)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let peak = memory.await.unwrap();
    let sent = words.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "agent to customer: {:.0} MiB streamed through the links in {elapsed:.1} s ({:.0} MiB/s; {whole} of {} files whole); skill peak RSS {peak:.1} MB ({:+.1} MB over idle)",
        downloaded as f64 / (1024.0 * 1024.0),
        downloaded as f64 / (1024.0 * 1024.0) / elapsed,
        arguments.transfers,
        peak - idle,
    );
    println!(
        "  words to the customer meanwhile: {}",
        latency(&sent, &state.words.lock().unwrap())
    );
    server_handle.stop(false).await;
}
