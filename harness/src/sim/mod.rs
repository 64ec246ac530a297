//! The mm simulator: VMAs at realistic kernel addresses, processes, and
//! the translation of workload ops into the designs' hook calls.

pub mod mm;
pub mod slab;
