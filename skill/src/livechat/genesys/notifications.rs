//! Genesys Cloud's notification channel: the one place Genesys says that an agent took or left an
//! Open Messaging conversation (its outbound webhook carries only messages, typing and receipts).
//!
//! One channel (a WebSocket) per skill process, reconnected with backoff when it drops or expires;
//! each conversation the skill opens is subscribed as `v2.conversations.{id}`, and every
//! subscription is renewed on a new channel. A notification carries the conversation's
//! participants as they stand, so an event missed while reconnecting is made up by the next one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use secrecy::ExposeSecret;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::api::Api;
use super::wire::{self, ChannelTopic, ConversationEvent, Notification};
use crate::domain::{LiveChatConversationId, LiveChatEvent, LiveChatEventId};
use crate::livechat::agents::{short_name, DEFAULT_AGENT_NAME};

/// The longest wait between two attempts to open the channel.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The most topics Genesys lets one notification channel hold.
pub const MAX_TOPICS: usize = 1_000;

/// What the channel's task is asked.
enum Command {
    Watch(String, LiveChatConversationId),
    Forget(String),
}

/// Asks the channel to follow a conversation, or to stop.
#[derive(Clone)]
pub struct Watcher {
    commands: mpsc::UnboundedSender<Command>,
}

impl Watcher {
    /// Follows the Genesys conversation `genesys`, reported as the session's `livechat`.
    pub fn watch(&self, genesys: String, livechat: LiveChatConversationId) {
        let _ = self.commands.send(Command::Watch(genesys, livechat));
    }

    /// Stops following a conversation the skill ended.
    pub fn forget(&self, genesys: String) {
        let _ = self.commands.send(Command::Forget(genesys));
    }
}

/// What the skill knows of one agent in a conversation.
#[derive(Debug, Clone, PartialEq)]
struct Agent {
    name: Option<String>,
    connected: bool,
}

/// A conversation followed: whose it is, its agents, and whether its end was reported.
#[derive(Debug)]
pub struct Followed {
    livechat: LiveChatConversationId,
    agents: HashMap<String, Agent>,
    ended: bool,
}

impl Followed {
    pub fn new(livechat: LiveChatConversationId) -> Self {
        Self {
            livechat,
            agents: HashMap::new(),
            ended: false,
        }
    }

    /// The handover's events in a notification: agents who joined, and the end when the last
    /// connected agent left other than by a transfer.
    pub fn changes(&mut self, event: &ConversationEvent) -> Vec<LiveChatEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        let mut left: Option<String> = None;
        let mut ended_by: Option<Option<String>> = None;
        let mut joined = Vec::new();
        for participant in &event.participants {
            if participant.purpose.as_deref() != Some("agent") {
                continue;
            }
            let media = participant.messages.last();
            let state = media.and_then(|media| media.state.as_deref());
            let how = media.and_then(|media| media.disconnect_type.as_deref());
            let known = self.agents.get(&participant.id).cloned();
            let was_connected = known.as_ref().is_some_and(|agent| agent.connected);
            match state {
                Some("connected") if !was_connected => {
                    joined.push((participant.id.clone(), participant.name.clone()));
                    self.agents.insert(
                        participant.id.clone(),
                        Agent {
                            name: participant.name.clone(),
                            connected: true,
                        },
                    );
                }
                Some("disconnected") if known.is_none() || was_connected => {
                    let transfer = how.is_some_and(|how| how.starts_with("transfer"));
                    // An agent who was offered the chat and let it pass never had it.
                    let had_it = was_connected || how == Some("client");
                    if transfer {
                        left = participant.name.clone().or(left);
                    } else if had_it {
                        ended_by = Some(participant.name.clone());
                    }
                    self.agents.insert(
                        participant.id.clone(),
                        Agent {
                            name: participant.name.clone(),
                            connected: false,
                        },
                    );
                }
                _ => {}
            }
        }
        for (id, name) in joined {
            out.push(LiveChatEvent::AgentJoined {
                conversation: self.livechat.clone(),
                id: event_id(format!("genesys-joined:{}:{id}", event.id)),
                agent: name
                    .as_deref()
                    .map(short_name)
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| DEFAULT_AGENT_NAME.to_owned()),
                transferred_by: left.clone(),
            });
        }
        let anyone_connected = self.agents.values().any(|agent| agent.connected);
        if let Some(agent) = ended_by.filter(|_| !anyone_connected) {
            self.ended = true;
            out.push(LiveChatEvent::ConversationEnded {
                conversation: self.livechat.clone(),
                id: event_id(format!("genesys-ended:{}", event.id)),
                agent,
            });
        }
        out
    }
}

fn event_id(text: String) -> LiveChatEventId {
    // Made of Genesys' ids, which are never empty: the fallback is never taken.
    LiveChatEventId::parse(text).unwrap_or_else(|_| {
        LiveChatEventId::parse("genesys-event").unwrap_or_else(|_| unreachable!())
    })
}

/// Starts the channel's task; events go to `events`.
pub fn spawn(api: Arc<Api>, events: mpsc::Sender<LiveChatEvent>) -> Watcher {
    let (commands, receiver) = mpsc::unbounded_channel();
    tokio::spawn(run(api, receiver, events));
    Watcher { commands }
}

async fn run(
    api: Arc<Api>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<LiveChatEvent>,
) {
    let mut followed: HashMap<String, Followed> = HashMap::new();
    let mut failures = 0u32;
    loop {
        if events.is_closed() {
            return;
        }
        let opened = open(&api, followed.keys().cloned().collect()).await;
        let (channel, mut socket) = match opened {
            Ok(opened) => {
                failures = 0;
                opened
            }
            Err(error) => {
                failures += 1;
                let wait = Duration::from_secs(1u64 << failures.min(5)).min(MAX_BACKOFF);
                tracing::warn!(error = %error, retry_in_secs = wait.as_secs(), "Genesys' notification channel could not be opened; an agent leaving is noticed once it is");
                let sleep = tokio::time::sleep(wait);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        command = commands.recv() => match command {
                            Some(command) => { apply(&mut followed, command); }
                            None => return,
                        },
                    }
                }
                continue;
            }
        };
        tracing::info!(
            conversations = followed.len(),
            "Genesys' notification channel open"
        );
        // Whatever changed while the channel was closed.
        let open: Vec<String> = followed.keys().cloned().collect();
        for genesys in open {
            if !catch_up(&api, &mut followed, &genesys, &events).await {
                return;
            }
        }
        loop {
            let changed = tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    match apply(&mut followed, command) {
                        Applied::Added(genesys) => {
                            if let Err(error) = api.subscribe(&channel, vec![genesys.clone()], false).await {
                                tracing::warn!(error = %error, "a Genesys conversation could not be subscribed; reopening the channel");
                                break;
                            }
                            // What happened before the subscription (an agent who took the chat
                            // at once) is read once, then followed.
                            if !catch_up(&api, &mut followed, &genesys, &events).await {
                                return;
                            }
                            false
                        }
                        Applied::Removed => true,
                        Applied::Nothing => false,
                    }
                }
                frame = socket.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | None => {
                            tracing::info!("Genesys closed the notification channel; reopening it");
                            break;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => {
                            tracing::warn!(error = %error, "Genesys' notification channel failed; reopening it");
                            break;
                        }
                    };
                    for event in read(&mut followed, text.as_str()) {
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                    false
                }
            };
            // Ended conversations leave the channel, so that it holds the open ones only.
            let before = followed.len();
            followed.retain(|_, entry| !entry.ended);
            if changed || followed.len() != before {
                let open = followed.keys().cloned().collect();
                if let Err(error) = api.subscribe(&channel, open, true).await {
                    tracing::warn!(error = %error, "the channel's subscriptions could not be renewed; reopening it");
                    break;
                }
            }
        }
    }
}

/// What a command changed.
enum Applied {
    Added(String),
    Removed,
    Nothing,
}

fn apply(followed: &mut HashMap<String, Followed>, command: Command) -> Applied {
    match command {
        Command::Watch(genesys, livechat) => {
            if followed.contains_key(&genesys) {
                return Applied::Nothing;
            }
            if followed.len() >= MAX_TOPICS {
                tracing::error!(limit = MAX_TOPICS, "more open Genesys conversations on this skill instance than one notification channel holds: this one is not followed, and its agent's leaving is noticed only at the inactivity timeout; run more instances");
                return Applied::Nothing;
            }
            followed.insert(genesys.clone(), Followed::new(livechat));
            Applied::Added(genesys)
        }
        Command::Forget(genesys) => match followed.remove(&genesys) {
            Some(_) => Applied::Removed,
            None => Applied::Nothing,
        },
    }
}

/// Reads a conversation as it stands and reports what changed; false once nobody listens.
async fn catch_up(
    api: &Api,
    followed: &mut HashMap<String, Followed>,
    genesys: &str,
    events: &mpsc::Sender<LiveChatEvent>,
) -> bool {
    let current = match api
        .get::<ConversationEvent>(&wire::conversation_path(genesys))
        .await
    {
        Ok(current) => current,
        Err(error) => {
            tracing::debug!(error = %error, "a Genesys conversation could not be read; the next notification tells");
            return true;
        }
    };
    let Some(entry) = followed.get_mut(genesys) else {
        return true;
    };
    for event in entry.changes(&current) {
        if events.send(event).await.is_err() {
            return false;
        }
    }
    true
}

/// The events in one notification (none for heartbeats and other topics).
fn read(followed: &mut HashMap<String, Followed>, text: &str) -> Vec<LiveChatEvent> {
    let Ok(notification) = serde_json::from_str::<Notification>(text) else {
        tracing::debug!("a notification that is not JSON; ignored");
        return Vec::new();
    };
    let Some(conversation) = notification.topic_name.strip_prefix("v2.conversations.") else {
        return Vec::new();
    };
    let Some(entry) = followed.get_mut(conversation) else {
        return Vec::new();
    };
    match serde_json::from_value::<ConversationEvent>(notification.event_body) {
        Ok(event) => entry.changes(&event),
        Err(error) => {
            tracing::warn!(error = %error, "a conversation notification could not be read; ignored");
            Vec::new()
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A new channel, connected, with `conversations` subscribed.
async fn open(api: &Api, conversations: Vec<String>) -> anyhow::Result<(String, Socket)> {
    let channel: wire::Channel = api.create_channel().await?;
    let uri = url::Url::parse(&channel.connect_uri)?;
    let secure = uri.scheme() == "wss";
    let loopback = uri
        .host_str()
        .is_some_and(|host| matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1"));
    if !secure && !loopback {
        anyhow::bail!("Genesys named a notification channel that is not wss://");
    }
    let (socket, _) = tokio::time::timeout(
        api.timeout,
        tokio_tungstenite::connect_async(channel.connect_uri.as_str()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the notification channel did not connect in time"))??;
    if !conversations.is_empty() {
        api.subscribe(&channel.id, conversations, true).await?;
    }
    Ok((channel.id, socket))
}

impl Api {
    async fn create_channel(&self) -> anyhow::Result<wire::Channel> {
        let token = self.tokens.token().await?;
        let answer = self
            .client
            .post(self.url(wire::CHANNELS_PATH))
            .bearer_auth(token.expose_secret())
            .timeout(self.timeout)
            .send()
            .await?;
        let status = answer.status();
        if !status.is_success() {
            anyhow::bail!(
                "Genesys answered {status} to a new notification channel{}",
                if status.as_u16() == 403 {
                    " (the OAuth client needs the notification permission)"
                } else {
                    ""
                }
            );
        }
        Ok(answer.json().await?)
    }

    /// Subscribes the channel to the conversations' topics: `replace` sets the whole list (a new
    /// channel), else adds to it.
    async fn subscribe(
        &self,
        channel: &str,
        conversations: Vec<String>,
        replace: bool,
    ) -> anyhow::Result<()> {
        let token = self.tokens.token().await?;
        let topics: Vec<ChannelTopic> = conversations
            .iter()
            .map(|id| ChannelTopic {
                id: wire::conversation_topic(id),
            })
            .collect();
        let url = self.url(&wire::subscriptions_path(channel));
        let request = if replace {
            self.client.put(url)
        } else {
            self.client.post(url)
        };
        let answer = request
            .bearer_auth(token.expose_secret())
            .json(&topics)
            .timeout(self.timeout)
            .send()
            .await?;
        if !answer.status().is_success() {
            anyhow::bail!(
                "Genesys answered {} to a subscription of {} conversation(s)",
                answer.status(),
                topics.len()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::livechat::genesys::wire::{MessageMedia, Participant};

    fn agent(id: &str, state: &str, how: Option<&str>) -> Participant {
        Participant {
            id: id.into(),
            name: Some(format!("Agent {id}")),
            purpose: Some("agent".into()),
            messages: vec![MessageMedia {
                state: Some(state.into()),
                disconnect_type: how.map(str::to_owned),
            }],
        }
    }

    fn event(participants: Vec<Participant>) -> ConversationEvent {
        ConversationEvent {
            id: "c-1".into(),
            participants,
        }
    }

    fn kinds(events: &[LiveChatEvent]) -> Vec<String> {
        events
            .iter()
            .map(|event| match event {
                LiveChatEvent::AgentJoined {
                    agent,
                    transferred_by,
                    ..
                } => format!("joined {agent} from {transferred_by:?}"),
                LiveChatEvent::ConversationEnded { agent, .. } => format!("ended by {agent:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn joins_transfers_and_the_end_are_told_once_each() {
        let mut followed = Followed::new(LiveChatConversationId::parse("hs-1").unwrap());
        assert!(followed
            .changes(&event(vec![agent("a", "alerting", None)]))
            .is_empty());
        assert_eq!(
            kinds(&followed.changes(&event(vec![agent("a", "connected", None)]))),
            ["joined Agent a from None"]
        );
        assert!(
            followed
                .changes(&event(vec![agent("a", "connected", None)]))
                .is_empty(),
            "the same state again says nothing"
        );
        assert_eq!(
            kinds(&followed.changes(&event(vec![
                agent("a", "disconnected", Some("transfer")),
                agent("b", "connected", None)
            ]))),
            ["joined Agent b from Some(\"Agent a\")"],
            "a transfer is a join, not an end"
        );
        assert_eq!(
            kinds(&followed.changes(&event(vec![
                agent("a", "disconnected", Some("transfer")),
                agent("b", "disconnected", Some("client"))
            ]))),
            ["ended by Some(\"Agent b\")"]
        );
        assert!(
            followed
                .changes(&event(vec![agent("b", "disconnected", Some("client"))]))
                .is_empty(),
            "the end is told once"
        );
    }

    #[test]
    fn an_agent_who_let_the_offer_pass_did_not_end_the_chat() {
        let mut followed = Followed::new(LiveChatConversationId::parse("hs-1").unwrap());
        assert!(followed
            .changes(&event(vec![agent("a", "disconnected", Some("timeout"))]))
            .is_empty());
        assert_eq!(
            kinds(&followed.changes(&event(vec![
                agent("a", "disconnected", Some("timeout")),
                agent("b", "connected", None)
            ]))),
            ["joined Agent b from None"]
        );
    }

    #[test]
    fn a_channel_follows_at_most_its_topics_and_lets_go_of_forgotten_ones() {
        let mut followed = HashMap::new();
        let livechat = LiveChatConversationId::parse("hs-1").unwrap();
        for n in 0..MAX_TOPICS {
            assert!(matches!(
                apply(
                    &mut followed,
                    Command::Watch(format!("c-{n}"), livechat.clone())
                ),
                Applied::Added(_)
            ));
        }
        assert!(matches!(
            apply(
                &mut followed,
                Command::Watch("c-0".into(), livechat.clone())
            ),
            Applied::Nothing
        ));
        assert!(
            matches!(
                apply(
                    &mut followed,
                    Command::Watch("one-too-many".into(), livechat.clone())
                ),
                Applied::Nothing
            ),
            "beyond Genesys' limit the channel would refuse every subscription"
        );
        assert!(matches!(
            apply(&mut followed, Command::Forget("c-0".into())),
            Applied::Removed
        ));
        assert!(matches!(
            apply(
                &mut followed,
                Command::Watch("now-there-is-room".into(), livechat)
            ),
            Applied::Added(_)
        ));
        assert_eq!(followed.len(), MAX_TOPICS);
    }

    #[test]
    fn an_end_seen_first_after_a_reconnect_is_still_told() {
        let mut followed = Followed::new(LiveChatConversationId::parse("hs-1").unwrap());
        assert_eq!(
            kinds(&followed.changes(&event(vec![agent("a", "disconnected", Some("client"))]))),
            ["ended by Some(\"Agent a\")"]
        );
    }
}
