//! The Bot Framework protocol, written from its specification: activities, inbound token
//! validation, outbound client-credential tokens, the Connector REST calls, Teams service URLs and
//! the skill manifest; and the edge between it and the handover: activities in
//! ([`inbound`], [`endpoint`]), answers and proactive messages out ([`render`], [`replies`],
//! [`courier`]).
//!
//! Invariant: this is the only module that knows Bot Framework JSON (the error body of the skill's
//! endpoints included, [`errors`]).

pub mod activity;
pub mod auth;
pub mod cards;
pub mod connector;
pub mod content;
pub mod courier;
pub mod credentials;
pub mod endpoint;
pub mod errors;
pub mod fetch;
pub mod html;
pub mod inbound;
pub mod manifest;
pub mod path;
pub mod render;
pub mod replies;
pub mod teams;
pub mod trusted_hosts;

pub use activity::{Activity, ChannelAccount, ConversationAccount, ConversationReference};
pub use auth::{CallerIdentity, InboundAuth, TokenRules, BOT_FRAMEWORK_ISSUER};
pub use connector::{ConnectorClient, ConnectorError, OutboundCredential};
pub use courier::TeamsCourier;
pub use credentials::{ClientCredentials, TokenClient};
pub use endpoint::{SkillEndpoint, Turn, TurnAnswer, TurnError};
pub use replies::ReplySender;
pub use teams::TeamsTarget;
pub use trusted_hosts::TrustedHosts;
