//! pfntrack's harness: workloads, the mm simulator that drives the tracking
//! designs, measurement, statistics, reports, and the command line.
//!
//! Data flows one way: workload -> simulator/runner -> raw samples ->
//! statistics -> results document -> reports and charts.

pub mod chart;
pub mod check;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod gate;
pub mod kernel;
pub mod limits;
pub mod measure;
pub mod noise;
pub mod output;
pub mod report;
pub mod results;
pub mod run_summary;
pub mod runner;
pub mod settings;
pub mod sim;
pub mod stats;
pub mod workload;
