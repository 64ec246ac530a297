//! Workloads: the op language, trace files, scenarios and the seeded
//! generator.

pub mod op;

pub use op::{IoId, MremapKind, Op, Pid, VmaId};
