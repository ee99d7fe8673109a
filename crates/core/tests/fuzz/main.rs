//! Fuzzing of every parser in `core` that takes outside input: generated,
//! arbitrary and mutated inputs, checked for panics, hangs and broken
//! promises (errors that name no field, values that do not round-trip).
//!
//! Property-based (proptest) on the stable toolchain; `PROPTEST_CASES` sets
//! the cases per property (`scripts/fuzz.sh` runs many in release). The
//! coverage-guided targets are in `fuzz/` (cargo fuzz). Every crash found
//! becomes a named test in `regressions.rs`.

mod config;
mod events_v2;
mod inputs;
mod meter;
mod regressions;
mod rules;
mod templates;

#[global_allocator]
static METER: meter::Meter = meter::Meter;
