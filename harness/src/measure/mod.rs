//! Measurement: what is timed (hooks) and how.

pub mod hook;
