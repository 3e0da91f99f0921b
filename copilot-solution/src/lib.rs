//! The Copilot Studio side of the handover: the importable solution in source form and its packer
//! ([`solution`]), and a local stand-in for Copilot Studio and Teams ([`emulator`]) that runs the
//! solution's own topics against the real skill.

pub mod emulator;
pub mod solution;
pub mod xml;
pub mod yaml;
