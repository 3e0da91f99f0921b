//! Runs the solution's topics the way Copilot Studio does, for one conversation: trigger phrases,
//! questions, skill actions, conditions, variables, and `CancelAllDialogs`.
//!
//! A question is asked again at most its `repeatCount` times (Copilot Studio's default, 2, when
//! unset), with its `unrecognizedPrompt` if it has one; then it takes its no-match path: its
//! `defaultValue` (saying its `defaultValueResponse`), else Copilot Studio's default, escalation
//! (the `OnEscalate` topic; a question inside it ends the topic instead of starting it over).
//! An answer the entity does not take but that triggers another topic interrupts the question,
//! unless its `interruptionPolicy` says `allowInterruption: false`.
//!
//! The engine does no I/O. Each input (a user message, or a skill action's end) yields outputs (say
//! this; send this activity to the skill) and leaves the engine waiting for the next input. It
//! understands the node kinds and the small expression language the solution uses; anything else
//! is skipped with a warning rather than guessed at.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::topics::{Agent, Topic, Trigger};

/// Something the engine wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The agent says this to the user.
    Say(String),
    /// Send an activity for a skill action: an `event` named `action_id`, or a `message` with `text`.
    InvokeSkill {
        activity_id: String,
        action_id: String,
        activity_type: String,
        value: Map<String, Value>,
        text: Option<String>,
    },
}

#[derive(Debug, Clone)]
enum Waiting {
    Nothing,
    Answer(Box<Asking>),
    /// A skill action is running until the skill ends it with `endOfConversation`.
    Skill {
        activity_id: String,
        action_id: String,
        activity_type: String,
        outputs: Map<String, Value>,
        inputs: Map<String, Value>,
        interrupters: Vec<String>,
    },
}

/// A question waiting for its answer.
#[derive(Debug, Clone)]
struct Asking {
    variable: String,
    /// The prebuilt entity the answer must be (`BooleanPrebuiltEntity`, ...).
    entity: String,
    prompt: String,
    /// What is said when an answer is not taken (else "Sorry, I didn't get that." and the prompt).
    unrecognized: Option<String>,
    /// Times it may still be asked again.
    retries_left: u64,
    /// The no-match path's value, and what is said with it.
    default_value: Option<Value>,
    default_response: Option<String>,
    /// Whether a message that triggers another topic may interrupt it.
    interruptible: bool,
    /// Whether it belongs to the `OnEscalate` topic.
    in_escalate_topic: bool,
}

/// How many times Copilot Studio asks a question again when none is set ("Repeat up to 2 times").
const DEFAULT_REPEAT_COUNT: u64 = 2;

struct Frame {
    actions: Vec<Value>,
    next: usize,
}

/// One conversation's topic state.
pub struct Engine {
    agent: Agent,
    channel: String,
    frames: Vec<Frame>,
    waiting: Waiting,
    globals: HashMap<String, Value>,
    topic_variables: HashMap<String, Value>,
    error_message: String,
    /// The user's latest words: the text of a message action's first activity.
    last_user_text: String,
    /// Whether the running topic is the `OnEscalate` one.
    in_escalate_topic: bool,
}

fn variable_name(text: &str) -> &str {
    text.trim()
        .trim_start_matches('=')
        .trim_start_matches("init:")
}

impl Engine {
    pub fn new(agent: Agent, channel: &str) -> Self {
        Self {
            agent,
            channel: channel.to_owned(),
            frames: Vec::new(),
            waiting: Waiting::Nothing,
            globals: HashMap::new(),
            topic_variables: HashMap::new(),
            error_message: String::new(),
            last_user_text: String::new(),
            in_escalate_topic: false,
        }
    }

    /// The conversation starts: the OnConversationStart topic runs.
    pub fn start(&mut self) -> Vec<Output> {
        match self.agent.topic_with(&Trigger::ConversationStart).cloned() {
            Some(topic) => self.begin(&topic),
            None => Vec::new(),
        }
    }

    /// True while a skill action holds the conversation (the user is talking to a live agent).
    pub fn in_skill_action(&self) -> bool {
        matches!(self.waiting, Waiting::Skill { .. })
    }

    pub fn global(&self, name: &str) -> Option<&Value> {
        self.globals.get(name)
    }

    /// A user message.
    pub fn user_message(&mut self, text: &str) -> Vec<Output> {
        self.last_user_text = text.to_owned();
        match self.waiting.clone() {
            Waiting::Answer(asking) => self.answer(*asking, text),
            Waiting::Skill {
                activity_type,
                action_id,
                inputs,
                interrupters,
                ..
            } => {
                if let Some(topic) = self.agent.recognise(text, Some(&interrupters)).cloned() {
                    return self.begin(&topic);
                }
                if activity_type == "message" {
                    // Every user message goes to the open message action.
                    let activity_id = uuid::Uuid::new_v4().to_string();
                    if let Waiting::Skill {
                        activity_id: current,
                        ..
                    } = &mut self.waiting
                    {
                        *current = activity_id.clone();
                    }
                    vec![Output::InvokeSkill {
                        activity_id,
                        action_id,
                        activity_type,
                        value: inputs,
                        text: Some(text.to_owned()),
                    }]
                } else {
                    vec![Output::Say("One moment, please…".into())]
                }
            }
            Waiting::Nothing => match self.agent.recognise(text, None).cloned() {
                Some(topic) => self.begin(&topic),
                None => match self.agent.topic_with(&Trigger::Unknown).cloned() {
                    Some(topic) => self.begin(&topic),
                    None => vec![Output::Say("Sorry, I didn't get that.".into())],
                },
            },
        }
    }

    /// An answer to a question: taken, an interruption, asked again, or the no-match path.
    fn answer(&mut self, mut asking: Asking, text: &str) -> Vec<Output> {
        if let Some(value) = recognise_entity(&asking.entity, text) {
            self.set(&asking.variable, value);
            self.waiting = Waiting::Nothing;
            return self.run();
        }
        if asking.interruptible {
            if let Some(topic) = self.agent.recognise(text, None).cloned() {
                return self.begin(&topic);
            }
        }
        if asking.retries_left > 0 {
            asking.retries_left -= 1;
            let again = asking
                .unrecognized
                .clone()
                .unwrap_or_else(|| format!("Sorry, I didn't get that. {}", asking.prompt));
            self.waiting = Waiting::Answer(Box::new(asking));
            return vec![Output::Say(again)];
        }
        self.waiting = Waiting::Nothing;
        if let Some(value) = asking.default_value {
            self.set(&asking.variable, value);
            let mut outputs: Vec<Output> = asking
                .default_response
                .map(Output::Say)
                .into_iter()
                .collect();
            outputs.extend(self.run());
            return outputs;
        }
        // Copilot Studio's default no-match action: escalate.
        match self.agent.escalate_topic().cloned() {
            Some(topic) if !asking.in_escalate_topic => self.begin(&topic),
            _ => {
                self.frames.clear();
                self.topic_variables.clear();
                vec![Output::Say(
                    "Sorry, I still didn't get that, so let's leave it there. What else can I help with?".into(),
                )]
            }
        }
    }

    /// The skill ended the action started by `activity_id` (its `endOfConversation`).
    pub fn skill_ended(
        &mut self,
        activity_id: &str,
        code: &str,
        value: &Value,
        text: &str,
    ) -> Vec<Output> {
        let Waiting::Skill {
            activity_id: expected,
            outputs,
            ..
        } = self.waiting.clone()
        else {
            return Vec::new();
        };
        if expected != activity_id {
            return Vec::new();
        }
        self.waiting = Waiting::Nothing;
        if code != "completedSuccessfully" {
            self.error_message = if text.is_empty() {
                format!("the skill ended the action with {code}")
            } else {
                text.to_owned()
            };
            return match self.agent.topic_with(&Trigger::Error).cloned() {
                Some(topic) => self.begin(&topic),
                None => vec![Output::Say(self.error_message.clone())],
            };
        }
        for (output, target) in &outputs {
            let found = value
                .as_object()
                .and_then(|object| {
                    object
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(output))
                })
                .map(|(_, v)| v.clone());
            if let (Some(found), Some(target)) = (found, target.as_str()) {
                self.set(target, found);
            }
        }
        self.run()
    }

    /// The skill could not be reached for the action started by `activity_id`.
    pub fn skill_failed(&mut self, activity_id: &str, reason: &str) -> Vec<Output> {
        self.skill_ended(activity_id, "error", &Value::Null, reason)
    }

    fn begin(&mut self, topic: &Topic) -> Vec<Output> {
        self.in_escalate_topic = topic.escalate;
        self.frames = vec![Frame {
            actions: topic.actions.clone(),
            next: 0,
        }];
        self.waiting = Waiting::Nothing;
        self.topic_variables.clear();
        self.run()
    }

    fn set(&mut self, variable: &str, value: Value) {
        let name = variable_name(variable);
        match name.split_once('.') {
            Some(("Global", key)) => {
                self.globals.insert(key.to_owned(), value);
            }
            Some((_, key)) => {
                self.topic_variables.insert(key.to_owned(), value);
            }
            None => {
                self.topic_variables.insert(name.to_owned(), value);
            }
        }
    }

    fn lookup(&self, path: &str) -> Value {
        match path.split_once('.') {
            Some(("Global", key)) => self.globals.get(key).cloned().unwrap_or(Value::Null),
            Some(("Topic", key)) => self
                .topic_variables
                .get(key)
                .cloned()
                .unwrap_or(Value::Null),
            _ => match path {
                "System.Bot.Name" => Value::String(self.agent.name.clone()),
                "System.Activity.Channel" => Value::String(self.channel.clone()),
                "System.Error.Message" => Value::String(self.error_message.clone()),
                "ChannelId.MsTeams" => Value::String("msteams".into()),
                _ => Value::Null,
            },
        }
    }

    /// Evaluates the expression subset the solution uses: variables, `Blank()`, `IsBlank(x)`, `!`,
    /// `=` and `<>` comparisons, `||` and `&&` (no parentheses), and string literals.
    fn evaluate(&self, expression: &str) -> Value {
        let expression = expression.trim().trim_start_matches('=').trim();
        if let Some((left, right)) = expression.split_once("||") {
            return Value::Bool(truthy(&self.evaluate(left)) || truthy(&self.evaluate(right)));
        }
        if let Some((left, right)) = expression.split_once("&&") {
            return Value::Bool(truthy(&self.evaluate(left)) && truthy(&self.evaluate(right)));
        }
        if let Some(inner) = expression.strip_prefix('!') {
            return Value::Bool(!truthy(&self.evaluate(inner)));
        }
        for (operator, equal) in [("<>", false), ("=", true)] {
            if let Some((left, right)) = expression.split_once(operator) {
                let same = text_of(&self.evaluate(left))
                    .eq_ignore_ascii_case(&text_of(&self.evaluate(right)));
                return Value::Bool(same == equal);
            }
        }
        if expression == "Blank()" {
            return Value::Null;
        }
        if let Some(inner) = expression
            .strip_prefix("IsBlank(")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return Value::Bool(text_of(&self.evaluate(inner)).is_empty());
        }
        if let Some(literal) = expression
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        {
            return Value::String(literal.to_owned());
        }
        match expression {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            path => self.lookup(path),
        }
    }

    /// Replaces `{Variable}` references in a message.
    fn interpolate(&self, text: &str) -> String {
        let mut result = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            result.push_str(&rest[..open]);
            result.push_str(&text_of(&self.lookup(&rest[open + 1..open + close])));
            rest = &rest[open + close + 1..];
        }
        result.push_str(rest);
        result
    }

    fn activity_text(&self, activity: &Value) -> String {
        let raw = match activity {
            Value::String(text) => text.clone(),
            other => other
                .pointer("/text/0")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        self.interpolate(&raw)
    }

    fn run(&mut self) -> Vec<Output> {
        let mut outputs = Vec::new();
        while let Some(frame) = self.frames.last_mut() {
            if frame.next >= frame.actions.len() {
                self.frames.pop();
                continue;
            }
            let action = frame.actions[frame.next].clone();
            frame.next += 1;
            match action["kind"].as_str().unwrap_or_default() {
                "SendActivity" => {
                    outputs.push(Output::Say(self.activity_text(&action["activity"])))
                }
                "Question" => {
                    let prompt = self.activity_text(&action["prompt"]);
                    outputs.push(Output::Say(prompt.clone()));
                    let said = |key: &str| {
                        (!action[key].is_null()).then(|| self.activity_text(&action[key]))
                    };
                    self.waiting = Waiting::Answer(Box::new(Asking {
                        variable: action["variable"]
                            .as_str()
                            .unwrap_or("Topic.Answer")
                            .to_owned(),
                        entity: action["entity"]
                            .as_str()
                            .or_else(|| action.pointer("/entity/kind").and_then(Value::as_str))
                            .unwrap_or("StringPrebuiltEntity")
                            .to_owned(),
                        prompt,
                        unrecognized: said("unrecognizedPrompt"),
                        retries_left: action["repeatCount"]
                            .as_u64()
                            .unwrap_or(DEFAULT_REPEAT_COUNT),
                        default_value: (!action["defaultValue"].is_null())
                            .then(|| self.evaluate(&text_of(&action["defaultValue"]))),
                        default_response: said("defaultValueResponse"),
                        interruptible: action
                            .pointer("/interruptionPolicy/allowInterruption")
                            .and_then(Value::as_bool)
                            .unwrap_or(true),
                        in_escalate_topic: self.in_escalate_topic,
                    }));
                    return outputs;
                }
                "SetVariable" => {
                    let value = self.evaluate(&text_of(&action["value"]));
                    self.set(action["variable"].as_str().unwrap_or_default(), value);
                }
                "ConditionGroup" => {
                    let chosen = action["conditions"]
                        .as_array()
                        .and_then(|conditions| {
                            conditions.iter().find(|c| {
                                truthy(&self.evaluate(c["condition"].as_str().unwrap_or("false")))
                            })
                        })
                        .map(|condition| condition["actions"].clone())
                        .unwrap_or_else(|| action["elseActions"].clone());
                    if let Some(actions) = chosen.as_array() {
                        self.frames.push(Frame {
                            actions: actions.clone(),
                            next: 0,
                        });
                    }
                }
                "InvokeSkillAction" => {
                    let action_id = action["actionId"].as_str().unwrap_or_default().to_owned();
                    let Some(declared) = self.agent.skill_action(&action_id).cloned() else {
                        tracing::warn!(
                            action_id,
                            "the topic invokes an undeclared skill action; skipped"
                        );
                        continue;
                    };
                    let mut inputs = Map::new();
                    if let Some(bindings) =
                        action.pointer("/input/binding").and_then(Value::as_object)
                    {
                        for (name, expression) in bindings {
                            let value = self.evaluate(&text_of(expression));
                            if !value.is_null() {
                                inputs.insert(name.clone(), value);
                            }
                        }
                    }
                    let outputs_binding = action
                        .pointer("/output/binding")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    let interrupters = action
                        .pointer("/interruptionPolicy/interruptionTopicListFilter/allowedInterruptTopics")
                        .and_then(Value::as_array)
                        .map(|topics| topics.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default();
                    let activity_id = uuid::Uuid::new_v4().to_string();
                    let text =
                        (declared.activity_type == "message").then(|| self.last_user_text.clone());
                    outputs.push(Output::InvokeSkill {
                        activity_id: activity_id.clone(),
                        action_id: action_id.clone(),
                        activity_type: declared.activity_type.clone(),
                        value: inputs.clone(),
                        text,
                    });
                    self.waiting = Waiting::Skill {
                        activity_id,
                        action_id,
                        activity_type: declared.activity_type,
                        outputs: outputs_binding,
                        inputs,
                        interrupters,
                    };
                    return outputs;
                }
                "ClearAllVariables" => {
                    self.globals.clear();
                    self.topic_variables.clear();
                }
                "CancelAllDialogs" | "EndDialog" | "EndConversation" => {
                    self.frames.clear();
                    self.waiting = Waiting::Nothing;
                }
                "BeginDialog" => {
                    if let Some(topic) = action["dialog"]
                        .as_str()
                        .and_then(|schema| self.agent.topic(schema))
                        .cloned()
                    {
                        self.frames.push(Frame {
                            actions: topic.actions,
                            next: 0,
                        });
                    }
                }
                other => tracing::warn!(
                    kind = other,
                    "the stand-in does not run this node kind; skipped"
                ),
            }
        }
        self.topic_variables.clear();
        outputs
    }
}

/// The answer `text` as the question's prebuilt entity reads it, or `None` when it is not one
/// (yes/no for a boolean, a number for a number; any text otherwise).
fn recognise_entity(entity: &str, text: &str) -> Option<Value> {
    let words = super::topics::normalise(text);
    match entity {
        "BooleanPrebuiltEntity" => match words.as_str() {
            "yes" | "y" | "yeah" | "yep" | "sure" | "ok" | "okay" | "true" | "yes please" => {
                Some(Value::Bool(true))
            }
            "no" | "n" | "nope" | "false" | "no thanks" | "not now" => Some(Value::Bool(false)),
            _ => None,
        },
        "NumberPrebuiltEntity" => {
            let number: f64 = text.trim().parse().ok()?;
            if number.fract() == 0.0 && number.abs() < 1e15 {
                return Some(Value::from(number as i64));
            }
            serde_json::Number::from_f64(number).map(Value::Number)
        }
        _ => Some(Value::String(text.to_owned())),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solution::{default_source_dir, Solution};

    fn engine() -> Engine {
        let agent = Agent::from_solution(&Solution::load(&default_source_dir()).unwrap()).unwrap();
        Engine::new(agent, "msteams")
    }

    fn invoked(outputs: &[Output]) -> (String, String, Map<String, Value>, Option<String>) {
        outputs
            .iter()
            .find_map(|o| match o {
                Output::InvokeSkill {
                    activity_id,
                    action_id,
                    value,
                    text,
                    ..
                } => Some((
                    activity_id.clone(),
                    action_id.clone(),
                    value.clone(),
                    text.clone(),
                )),
                _ => None,
            })
            .expect("a skill invocation")
    }

    fn said(outputs: &[Output]) -> String {
        outputs
            .iter()
            .filter_map(|o| {
                if let Output::Say(text) = o {
                    Some(text.as_str())
                } else {
                    None
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn the_escalation_and_goodbye_topics_drive_the_skill_actions() {
        let mut engine = engine();
        assert!(said(&engine.start()).contains("Contoso Agent"));
        assert!(
            said(&engine.user_message("what's the weather?")).contains("talk to a person"),
            "the fallback"
        );

        let outputs = engine.user_message("I need to talk to a person");
        assert!(said(&outputs).contains("describe your problem"));
        let outputs = engine.user_message("My printer is on fire");
        let (start_id, action, value, _) = invoked(&outputs);
        assert_eq!(action, "startConversation");
        assert_eq!(
            value["ProblemDescription"], "My printer is on fire",
            "the agent sees it with the handoff context"
        );

        let outputs = engine.skill_ended(
            &start_id,
            "completedSuccessfully",
            &serde_json::json!({"liveChatConversationId": "lc-1"}),
            "",
        );
        assert!(said(&outputs).contains("lc-1"));
        let (_, action, value, text) = invoked(&outputs);
        assert_eq!(action, "sendMessage");
        assert_eq!(value["LiveChatConversationId"], "lc-1");
        assert_eq!(value["ProblemDescription"], "My printer is on fire");
        assert_eq!(text.as_deref(), Some("My printer is on fire"));
        assert!(engine.in_skill_action());

        // While the action is open, messages go to the skill, except a goodbye.
        let (_, action, _, text) = invoked(&engine.user_message("Hello? Anyone?"));
        assert_eq!(
            (action.as_str(), text.as_deref()),
            ("sendMessage", Some("Hello? Anyone?"))
        );
        let outputs = engine.user_message("goodbye");
        let (end_id, action, value, _) = invoked(&outputs);
        assert_eq!(action, "endConversation");
        assert_eq!(value["LiveChatConversationId"], "lc-1");
        let outputs = engine.skill_ended(&end_id, "completedSuccessfully", &Value::Null, "");
        assert!(said(&outputs).contains("back with the Contoso agent"));
        assert!(!engine.in_skill_action());
        assert!(
            said(&engine.user_message("hello again")).contains("Contoso agent"),
            "the bot answers again"
        );
        assert!(
            said(&engine.user_message("bye")).contains("Goodbye!"),
            "a goodbye without a live chat"
        );
    }

    #[test]
    fn a_failed_start_reaches_the_error_topic() {
        let mut engine = engine();
        engine.user_message("talk to a person");
        let (id, ..) = invoked(&engine.user_message("help"));
        let outputs = engine.skill_ended(
            &id,
            "channelFailed",
            &Value::Null,
            "Sorry, no agent is reachable.",
        );
        assert!(said(&outputs).contains("Sorry, no agent is reachable."));
        assert!(!engine.in_skill_action());
    }

    /// A started live chat (`lc-1`) whose message action is open, and that action's activity id.
    fn in_live_chat(engine: &mut Engine) -> String {
        engine.user_message("talk to a person");
        let (id, ..) = invoked(&engine.user_message("my printer"));
        let outputs = engine.skill_ended(
            &id,
            "completedSuccessfully",
            &serde_json::json!({"liveChatConversationId": "lc-1", "Status": "connected"}),
            "",
        );
        let (_, action, ..) = invoked(&outputs);
        assert_eq!(action, "sendMessage");
        let (id, ..) = invoked(&engine.user_message("hello?"));
        id
    }

    #[test]
    fn after_the_chat_the_topic_branches_on_the_outcome() {
        for (outcome, said_text) in [
            ("queueTimeout", "Nobody could take the chat this time"),
            ("inactive", "closed after a quiet while"),
            ("failed", "something went wrong with the live chat"),
        ] {
            let mut engine = engine();
            let id = in_live_chat(&mut engine);
            let outputs = engine.skill_ended(
                &id,
                "completedSuccessfully",
                &serde_json::json!({"Outcome": outcome, "AgentName": ""}),
                "",
            );
            assert!(
                said(&outputs).contains(said_text),
                "{outcome}: {}",
                said(&outputs)
            );
            assert!(!engine.in_skill_action());
            assert_eq!(engine.global("LiveChatConversationId"), Some(&Value::Null));
        }
    }

    #[test]
    fn an_agent_ending_the_chat_leads_to_a_rating_of_that_chat() {
        let mut engine = engine();
        let id = in_live_chat(&mut engine);
        let outputs = engine.skill_ended(
            &id,
            "completedSuccessfully",
            &serde_json::json!({"Outcome": "agentEnded", "AgentName": "Ann"}),
            "",
        );
        assert!(said(&outputs).contains("from 1 (poor) to 5 (excellent)"));
        assert!(
            said(&engine.user_message("great")).contains("didn't get that"),
            "a rating is a number; asked again"
        );
        let (rate_id, action, value, _) = invoked(&engine.user_message("5"));
        assert_eq!(action, "rateConversation");
        assert_eq!(value["Rating"], 5);
        assert_eq!(
            value["LiveChatConversationId"], "lc-1",
            "the chat just ended"
        );
        let outputs = engine.skill_ended(
            &rate_id,
            "completedSuccessfully",
            &serde_json::json!({"Outcome": "rated"}),
            "",
        );
        assert!(said(&outputs).contains("Thank you for your feedback"));
        assert!(!engine.in_skill_action());
    }

    #[test]
    fn with_nobody_online_the_customer_may_leave_a_message() {
        let start = |engine: &mut Engine| {
            engine.user_message("talk to a person");
            let (id, ..) = invoked(&engine.user_message("my invoice"));
            let outputs = engine.skill_ended(
                &id,
                "completedSuccessfully",
                &serde_json::json!({"liveChatConversationId": "", "Status": "noAgentAvailable"}),
                "",
            );
            assert!(said(&outputs).contains("leave a message for the team"));
        };
        let mut engine = engine();
        start(&mut engine);
        assert!(said(&engine.user_message("no")).contains("I'm here if you need anything else"));
        assert!(!engine.in_skill_action());

        let mut engine = self::engine();
        start(&mut engine);
        assert!(said(&engine.user_message("yes")).contains("What should the team know?"));
        let (id, action, value, _) = invoked(&engine.user_message("Please call me back"));
        assert_eq!(action, "leaveMessage");
        assert_eq!(value["Message"], "Please call me back");
        let outputs = engine.skill_ended(
            &id,
            "completedSuccessfully",
            &serde_json::json!({"Outcome": "messageLeft", "LiveChatConversationId": "lc-m"}),
            "",
        );
        assert!(!said(&outputs).contains("Sorry"), "{}", said(&outputs));
        assert!(!engine.in_skill_action());
    }

    /// Asked for a person while nobody is online (or the centre is closed): the offer to leave a
    /// message is on the table.
    fn offered_a_message(status: &str) -> Engine {
        let mut engine = engine();
        engine.user_message("talk to a person");
        let (id, ..) = invoked(&engine.user_message("my invoice"));
        let outputs = engine.skill_ended(
            &id,
            "completedSuccessfully",
            &serde_json::json!({"liveChatConversationId": "", "Status": status, "NextOpening": "Monday 14 December at 09:00 (Europe/London time)"}),
            "",
        );
        assert!(
            said(&outputs).contains("leave a message for the team"),
            "{status}"
        );
        engine
    }

    #[test]
    fn a_closed_centre_offers_to_leave_a_message_too() {
        let mut engine = offered_a_message("closed");
        assert!(said(&engine.user_message("yes")).contains("What should the team know?"));
    }

    #[test]
    fn an_answer_that_is_not_taken_is_asked_again_as_often_as_the_question_says_then_no_match() {
        let mut engine = offered_a_message("noAgentAvailable");
        // The question says: once more, with its own words.
        assert_eq!(
            said(&engine.user_message("maybe later")),
            "Please answer yes or no. Would you like to leave a message for the team?"
        );
        // Then its no-match path: its default value, said, and the topic goes on with it.
        let outputs = engine.user_message("perhaps");
        assert!(
            said(&outputs).starts_with("I'll take that as a no."),
            "{}",
            said(&outputs)
        );
        assert!(said(&outputs).contains("I'm here if you need anything else"));
        assert!(!engine.in_skill_action());
        // Nothing is waiting: the next message is a new turn.
        assert!(!said(&engine.user_message("maybe")).contains("yes or no"));
    }

    #[test]
    fn a_message_that_triggers_another_topic_interrupts_a_question() {
        let mut engine = offered_a_message("noAgentAvailable");
        let outputs = engine.user_message("goodbye");
        assert!(!said(&outputs).contains("yes or no"), "{}", said(&outputs));
        assert!(!said(&engine.user_message("yes")).contains("What should the team know?"));
    }

    #[test]
    fn without_a_repeat_count_a_question_is_asked_twice_more_then_escalates() {
        let mut engine = engine();
        engine.user_message("talk to a person");
        let (id, ..) = invoked(&engine.user_message("help"));
        let outputs = engine.skill_ended(
            &id,
            "completedSuccessfully",
            &serde_json::json!({"liveChatConversationId": "lc-1", "Status": "connected"}),
            "",
        );
        let (message_id, action, ..) = invoked(&outputs);
        assert_eq!(action, "sendMessage");
        let ended = engine.skill_ended(
            &message_id,
            "completedSuccessfully",
            &serde_json::json!({"Outcome": "agentEnded", "AgentName": "Ann"}),
            "",
        );
        assert!(said(&ended).contains("from 1 (poor) to 5 (excellent)"));
        for _ in 0..2 {
            assert!(said(&engine.user_message("great")).contains("didn't get that"));
        }
        // The third is the no-match path: escalation, which a question of the escalation topic
        // itself does not start over.
        let outputs = engine.user_message("great");
        assert!(
            said(&outputs).contains("let's leave it there"),
            "{}",
            said(&outputs)
        );
        assert!(!engine.in_skill_action());
    }

    #[test]
    fn a_queued_start_leaves_the_place_to_the_skill() {
        let mut engine = engine();
        engine.user_message("talk to a person");
        let (id, ..) = invoked(&engine.user_message("help"));
        let outputs = engine.skill_ended(
            &id,
            "completedSuccessfully",
            &serde_json::json!({"liveChatConversationId": "lc-q", "Status": "queued", "QueuePosition": 3, "EstimatedWaitMinutes": 2}),
            "",
        );
        // The place and the wait are the skill's own notice; the topic does not say them twice.
        assert!(
            said(&outputs).contains("You're waiting for Contoso Live Chat"),
            "{}",
            said(&outputs)
        );
        assert!(!said(&outputs).contains("number 3"));
        assert!(engine.in_skill_action(), "the chat is held while queued");
    }

    #[test]
    fn the_escalation_topic_branches_on_the_start_status() {
        for (status, said_text) in [
            ("noAgentAvailable", "leave a message for the team"),
            ("unavailable", "couldn't reach the live chat"),
        ] {
            let mut engine = engine();
            engine.user_message("talk to a person");
            let (id, ..) = invoked(&engine.user_message("help"));
            let outputs = engine.skill_ended(
                &id,
                "completedSuccessfully",
                &serde_json::json!({"liveChatConversationId": "", "Status": status}),
                "",
            );
            let text = said(&outputs);
            assert!(text.contains(said_text), "{status}: {text}");
            assert!(!text.contains("connected to Contoso Live Chat"), "{status}");
            assert!(!engine.in_skill_action(), "{status}: no chat to send to");
        }
    }

    #[test]
    fn the_agent_closing_the_chat_ends_the_message_action() {
        let mut engine = engine();
        engine.user_message("talk to a person");
        let (id, ..) = invoked(&engine.user_message("help"));
        let outputs = engine.skill_ended(
            &id,
            "completedSuccessfully",
            &serde_json::json!({"LiveChatConversationId": "lc-2"}),
            "",
        );
        let (message_id, ..) = invoked(&outputs);
        let (next_id, ..) = invoked(&engine.user_message("still there?"));
        assert_ne!(message_id, next_id);
        engine.skill_ended(
            &next_id,
            "completedSuccessfully",
            &Value::Null,
            "The agent has closed the live chat.",
        );
        assert!(!engine.in_skill_action());
        assert_eq!(
            engine.global("LiveChatConversationId"),
            None.or(Some(&Value::Null))
        );
    }
}
