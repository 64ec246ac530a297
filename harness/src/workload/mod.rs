//! Workloads: the op language (op.rs), scenarios and presets
//! (scenario.rs), the shared physical layout (layout.rs), the seeded
//! generator (generator.rs, on the named RNG of rng.rs), the semantic check
//! of op streams (validate.rs), and trace files (trace.rs).
//!
//! Data flows one way: scenario + seed -> [`Workload`] -> simulator, or
//! workload <-> trace file.

pub mod generator;
pub mod layout;
pub mod op;
pub mod rng;
pub mod scenario;
pub mod trace;
pub mod validate;

pub use generator::{DEFAULT_SEED, WORKLOAD_VERSION, generate};
pub use op::{IoId, MremapKind, Op, Pid, VmaId};
pub use rng::RNG_NAME;
pub use scenario::{Scenario, ScenarioError};
pub use trace::{Trace, TraceError, TraceHeader, parse_trace, read_trace_file, write_trace};
pub use validate::{MAX_ID, WorkloadStats, validate_workload};

pub use crate::limits::MAX_WORKERS;

/// Everything one run executes: setup ops, run once on the shared design
/// before the workers start, and one op stream per worker.
///
/// Invariant (what [`validate_workload`] checks): `setup` holds only
/// `Ioremap`s with distinct ids; each worker stream is valid on its own,
/// from an empty mm, and never names a setup ioremap id. Id spaces
/// (processes, VMAs, worker ioremaps) are per worker: each worker drives
/// its own simulator over the shared memtype tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// Background reservations (`memtype_reserve_io()`), before any worker.
    pub setup: Vec<Op>,
    /// One op stream per worker.
    pub workers: Vec<Vec<Op>>,
}

impl Workload {
    /// Ops of all worker streams (setup not included).
    pub fn nr_worker_ops(&self) -> u64 {
        self.workers.iter().map(|w| w.len() as u64).sum()
    }

    /// Hook calls and peaks the workload asks for (see
    /// [`WorkloadStats`]). Return: `None` if the workload is not valid.
    pub fn stats(&self) -> Option<WorkloadStats> {
        validate_workload(self).ok()
    }
}
