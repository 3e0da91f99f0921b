//! What the skill and Contoso Live Chat do the same way around their own code, written once:
//! settings from built-in defaults, a TOML file and the environment ([`settings`]), logs and
//! traces ([`telemetry`], [`trace_context`]), the clock their timers go by, which tests stop and
//! move ([`clock`]), what a file is and may be called, whoever sent it ([`files`]), which `Host` a
//! service answers for ([`hosts`]), one process per data directory ([`lock`]), and the container's
//! health check ([`health`]), and the masking of sensitive data both apply with the same rules
//! ([`masking`]).
//!
//! Neither service's domain is here, nor anything of the contract between them (that is
//! `livechat-contract`): only what would otherwise be the same code twice, drifting apart.

pub mod clock;
pub mod files;
pub mod health;
pub mod hosts;
pub mod lock;
pub mod masking;
pub mod settings;
pub mod telemetry;
pub mod trace_context;
