//! pfntrack's harness: workloads, the mm simulator that drives the tracking
//! designs, measurement, statistics, reports, and the command line.

pub mod cli;
pub mod commands;
