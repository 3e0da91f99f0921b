//! The Bot Framework protocol, written from its specification: activities, inbound token
//! validation, outbound client-credential tokens, the Connector REST calls, Teams service URLs and
//! the skill manifest.
//!
//! Invariant: this is the only module that knows Bot Framework JSON.

pub mod activity;
pub mod auth;
pub mod connector;
pub mod credentials;
pub mod manifest;
pub mod teams;
pub mod trusted_hosts;

pub use activity::{Activity, ChannelAccount, ConversationAccount, ConversationReference};
pub use auth::{CallerIdentity, InboundAuth};
pub use connector::{ConnectorClient, ConnectorError, OutboundCredential};
pub use credentials::{ClientCredentials, TokenClient};
pub use trusted_hosts::TrustedHosts;
