//! Escalator's domain: identifiers, durations, the configuration model, target
//! resolution, the Events API v2 event shape, the rules for text and JSON
//! from outside, the caps on an event's details, incident roles, the limits
//! of what the API may set beside the configuration, the audit chain, retention and the
//! pure escalation engine.
//!
//! Architecture invariant: this crate knows nothing about time passing,
//! databases, HTTP or async. It is handed `now` and returns effects.

pub mod anomaly;
pub mod audit;
pub mod auth;
pub mod comms;
pub mod config;
pub mod details;
pub mod directory;
pub mod duration;
pub mod engine;
pub mod events_v2;
pub mod extras;
pub mod ids;
pub mod json;
pub mod retention;
pub mod rules;
pub mod schedule;
pub mod templates;
pub mod text;

pub use jiff::Timestamp;
