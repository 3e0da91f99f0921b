//! Integration tests: the real skill on port 0 against real HTTP peers on loopback (a fake token
//! issuer with keys the tests generate, a fake live chat, and fake Bot Connectors standing in for
//! Copilot Studio and Teams), asserting on what those peers received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod contact_centre;
mod databases;
mod files;
mod health;
mod helpers;
mod idempotency;
mod interop;
mod messages;
mod outage;
mod outcomes;
mod pacing;
mod postgres;
mod privacy;
mod restart;
mod store;
mod upgrade;
mod ways_in;
mod webhook;
