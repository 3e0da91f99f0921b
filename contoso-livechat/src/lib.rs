//! Contoso Live Chat: a stand-in for ServiceNow, Salesforce or Genesys. The handover skill opens
//! conversations through its session API; human agents answer from a browser; their replies go back
//! to the skill's webhook. A library plus a thin `main`, so the tests start exactly what runs.

pub mod auth;
pub mod configuration;
pub mod dashboard;
pub mod deadline;
pub mod erase;
pub mod error;
pub mod files;
pub mod hours;
pub mod metrics;
pub mod password;
pub mod presence;
pub mod queue;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod typing;
pub mod webhook;
