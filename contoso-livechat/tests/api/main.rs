//! Integration tests: the real app on port 0, with a recording fake of the skill's webhook on
//! loopback, asserting on what the webhook received and what the API and pages answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod compliance;
mod contact_centre;
mod delivery;
mod files;
mod helpers;
mod hours;
mod openapi_traffic;
mod pages;
mod session_api;
mod supervision;
mod ways_in;
