//! The solution's topics, read from their YAML, and how a user's words pick one.
//!
//! Copilot Studio recognises intents with a language model; the stand-in matches trigger phrases:
//! a topic matches when the user's words contain one of its phrases (case, punctuation and spacing
//! ignored). The longest matching phrase wins, so "talk to a person" beats "person".

use serde_json::Value;

use crate::solution::{SkillAction, Solution};

/// What starts a topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    ConversationStart,
    /// `OnRecognizedIntent` and `OnEscalate`: trigger phrases.
    Phrases(Vec<String>),
    Unknown,
    Error,
    Other,
}

/// One topic.
#[derive(Debug, Clone)]
pub struct Topic {
    pub schema: String,
    pub name: String,
    pub trigger: Trigger,
    pub actions: Vec<Value>,
    /// The `OnEscalate` topic: where a question's no-match path goes by default.
    pub escalate: bool,
}

/// The agent as the stand-in runs it.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    pub topics: Vec<Topic>,
    pub skill_actions: Vec<SkillAction>,
}

/// Lower case, letters and digits only, single spaces.
pub fn normalise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Agent {
    pub fn from_solution(solution: &Solution) -> anyhow::Result<Self> {
        let bot = solution.bot_schema_name()?;
        let bot_xml = solution.text(&format!("bots/{bot}/bot.xml"))?;
        let name = crate::xml::texts(bot_xml, "name")
            .into_iter()
            .next()
            .unwrap_or_else(|| "Contoso Agent".into());
        let mut topics = Vec::new();
        for schema in solution
            .components()
            .into_iter()
            .filter(|s| s.contains(".topic."))
        {
            let data = solution.component_data(&schema)?;
            let begin = &data["beginDialog"];
            let phrases = || {
                begin
                    .pointer("/intent/triggerQueries")
                    .and_then(Value::as_array)
                    .map(|q| q.iter().filter_map(Value::as_str).map(normalise).collect())
                    .unwrap_or_default()
            };
            let escalate = begin["kind"] == "OnEscalate";
            let trigger = match begin["kind"].as_str().unwrap_or_default() {
                "OnConversationStart" => Trigger::ConversationStart,
                "OnRecognizedIntent" | "OnEscalate" => Trigger::Phrases(phrases()),
                "OnUnknownIntent" => Trigger::Unknown,
                "OnError" => Trigger::Error,
                _ => Trigger::Other,
            };
            let actions = begin["actions"].as_array().cloned().unwrap_or_default();
            let name = solution
                .component_name(&schema)
                .unwrap_or_else(|| schema.clone());
            topics.push(Topic {
                schema,
                name,
                trigger,
                actions,
                escalate,
            });
        }
        Ok(Self {
            name,
            topics,
            skill_actions: solution.skill_actions()?,
        })
    }

    /// The topic whose trigger phrase best matches `text`, among `candidates` (all when `None`).
    pub fn recognise(&self, text: &str, candidates: Option<&[String]>) -> Option<&Topic> {
        let said = format!(" {} ", normalise(text));
        self.topics
            .iter()
            .filter(|topic| candidates.is_none_or(|allowed| allowed.contains(&topic.schema)))
            .filter_map(|topic| match &topic.trigger {
                Trigger::Phrases(phrases) => phrases
                    .iter()
                    .filter(|p| !p.is_empty() && said.contains(&format!(" {p} ")))
                    .map(|p| (p.len(), topic))
                    .max_by_key(|(len, _)| *len),
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, topic)| topic)
    }

    /// The `OnEscalate` topic, if the agent has one.
    pub fn escalate_topic(&self) -> Option<&Topic> {
        self.topics.iter().find(|topic| topic.escalate)
    }

    pub fn topic_with(&self, trigger: &Trigger) -> Option<&Topic> {
        self.topics.iter().find(|topic| &topic.trigger == trigger)
    }

    pub fn topic(&self, schema: &str) -> Option<&Topic> {
        self.topics.iter().find(|topic| topic.schema == schema)
    }

    pub fn skill_action(&self, action_id: &str) -> Option<&SkillAction> {
        self.skill_actions
            .iter()
            .find(|action| action.action_id == action_id)
    }
}
