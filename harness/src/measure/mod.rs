//! Measurement: what is timed (hooks), the clock that times it, where the
//! samples go, the simulator's own heap, the environment a run describes,
//! and progress on the terminal.

pub mod env;
pub mod heap;
pub mod histogram;
pub mod hook;
pub mod memory;
pub mod progress;
pub mod timer;
