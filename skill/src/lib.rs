//! The handover skill: a Bot Framework skill that Copilot Studio invokes to hand a Teams
//! conversation to a human agent in a live-chat system, while the bot keeps the channel.
//!
//! The crate is a library plus a thin `main`, so that the integration tests build exactly what
//! production runs (see [`startup::Application`]).
//! `ARCHITECTURE.md` at the repository root maps the modules and the path of one message.

pub mod configuration;
pub mod domain;
pub mod erase;
pub mod error;
pub mod handover;
pub mod http;
pub mod livechat;
pub mod metrics;
pub mod protocol;
pub mod routes;
pub mod startup;
pub mod store;
pub mod tasks;
pub mod telemetry;
