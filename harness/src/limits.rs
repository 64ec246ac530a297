//! Every size limit in one place: ids, pages, VMAs per process, worker
//! streams, and whether a workload fits in this machine's memory.
//!
//! The scenario check, the generator and the trace parser all use these
//! constants, so a trace `pfntrack gen` writes is always one its parser
//! reads. The memory check runs before anything large is allocated: it
//! estimates the bytes a workload will need (its op streams and the
//! simulator's tables, which are indexed by id) and refuses, naming the
//! setting at fault and the estimate, when they would not fit in the
//! memory the kernel says is available (`MemAvailable`).

use std::fmt;

use crate::workload::Workload;
use crate::workload::op::Op;
use crate::workload::scenario::Scenario;

/// Process, VMA and ioremap ids must be below this (4,194,304): the
/// simulator indexes its tables by id, so the bound also bounds what a
/// trace can make it allocate. The generator reuses ids first-fit and
/// never hands one out at or above it.
pub const MAX_ID: u32 = 1 << 22;

/// Most live VMAs a scenario may start with in one worker (all its
/// processes): half the id space, so churn has room to grow.
pub const MAX_START_VMAS: u64 = MAX_ID as u64 / 2;

/// `DEFAULT_MAX_MAP_COUNT` (include/linux/mm.h): the most VMAs one mm may
/// have by default; the generator never exceeds it in one process.
pub const MAX_MAP_COUNT: u32 = 65_530;

/// Largest VMA, BAR or ioremap a scenario may ask for, in pages (64 GiB).
pub const MAX_PAGES: u32 = 1 << 24;

/// Worker streams a workload may have: one simulated CPU each, below
/// `strategies::percpu::MAX_CPUS` (the last CPU runs the setup).
pub const MAX_WORKERS: u32 = strategies::percpu::MAX_CPUS as u32 - 1;

/// Bytes the simulator keeps per id of its VMA table and per live VMA
/// (its `Option<SimVma>` slot with the design's state, the process's
/// list entry, the slab model's object), rounded up; a unit test checks
/// it against the real sizes.
pub const SIM_BYTES_PER_VMA: u64 = 160;

/// Bytes the generator keeps per live VMA (its shadow slot, live lists,
/// id bitmap), rounded up.
pub const GEN_BYTES_PER_VMA: u64 = 64;

/// A workload's expected size, before it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Ops of one worker stream, at most.
    pub ops_per_worker: u64,
    /// Live VMAs of one worker, at most.
    pub vmas_per_worker: u64,
    /// Worker streams.
    pub workers: u32,
    /// Simulated mm worlds per worker running at once (`check` runs every
    /// design and the reference model side by side).
    pub sims_per_worker: u32,
}

impl Estimate {
    /// The estimate for `sc` generated for `workers` streams and run with
    /// `sims_per_worker` simulators per stream.
    pub fn of_scenario(sc: &Scenario, workers: u32, sims_per_worker: u32) -> Estimate {
        let per_process =
            u64::from(sc.pfnmap_vmas_per_process) + u64::from(sc.ordinary_vmas_per_process);
        let start_vmas = u64::from(sc.processes) * per_process;
        let procs = u64::from(sc.processes) + u64::from(sc.max_children);
        let vmas = procs
            .saturating_mul(u64::from(sc.vmas_per_process_cap()))
            .min(u64::from(MAX_ID));
        // Populate: a process op, then an mmap and at most a burst of
        // driver ops per VMA; churn stops after churn_ops (plus one burst);
        // teardown: an exit per process.
        let burst = u64::from(sc.fault_burst_pages_max.max(sc.pfnmap_vma_pages_max)) + 1;
        let populate = u64::from(sc.processes) + start_vmas.saturating_mul(2);
        let ops = populate
            .saturating_add(u64::from(sc.churn_ops))
            .saturating_add(burst)
            .saturating_add(procs);
        Estimate {
            ops_per_worker: ops,
            vmas_per_worker: vmas.max(start_vmas),
            workers: workers.max(1),
            sims_per_worker,
        }
    }

    /// Bytes of the op streams (the generator's vectors may hold up to
    /// twice their length while they grow).
    pub fn stream_bytes(&self) -> u64 {
        self.ops_per_worker
            .saturating_mul(2 * std::mem::size_of::<Op>() as u64)
            .saturating_mul(u64::from(self.workers))
    }

    /// Bytes of the generator's and simulators' per-VMA state.
    pub fn state_bytes(&self) -> u64 {
        let per_vma = GEN_BYTES_PER_VMA + SIM_BYTES_PER_VMA * u64::from(self.sims_per_worker);
        self.vmas_per_worker
            .saturating_mul(per_vma)
            .saturating_mul(u64::from(self.workers))
    }

    /// Everything.
    pub fn bytes(&self) -> u64 {
        self.stream_bytes().saturating_add(self.state_bytes())
    }
}

/// A workload that would not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{setting}: the workload would need about {} ({}), more than the {} of memory available",
    Bytes(*needed), detail, Bytes(*available)
)]
pub struct TooBig {
    /// The setting to lower (a scenario field, `--threads`, a trace).
    pub setting: String,
    /// Estimated bytes.
    pub needed: u64,
    /// What the estimate is made of.
    pub detail: String,
    /// Bytes available.
    pub available: u64,
}

/// Bytes in a human unit (GB = 10^9, as `free -h` does not; we say GB).
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if b >= 1e9 {
            write!(f, "{:.1} GB", b / 1e9)
        } else {
            write!(f, "{:.0} MB", (b / 1e6).ceil())
        }
    }
}

/// Memory available for new allocations: `MemAvailable` of /proc/meminfo
/// (what the kernel estimates can be allocated without swapping). Where
/// it cannot be read, 8 GiB: a refusal is better than an abort.
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_mem_available(&text))
        .unwrap_or(8 << 30)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuse `est` when it does not fit in `available` bytes. `setting` is
/// what to blame; the largest part of the estimate picks it when the
/// caller passes [`blame_scenario`].
pub fn check_fits(est: &Estimate, setting: String, available: u64) -> Result<(), TooBig> {
    let needed = est.bytes();
    if needed <= available {
        return Ok(());
    }
    Err(TooBig {
        setting,
        needed,
        detail: format!(
            "{} worker stream(s) of up to {} ops and {} live VMAs each",
            est.workers, est.ops_per_worker, est.vmas_per_worker
        ),
        available,
    })
}

/// The setting to blame for a scenario estimate: `--threads` when the
/// workers multiply it, else the field behind its largest part.
pub fn blame_scenario(sc: &Scenario, est: &Estimate, threads_flag: &str) -> String {
    let one = Estimate { workers: 1, ..*est };
    if est.workers > 1 && one.bytes() <= available_memory() {
        return format!("{threads_flag} {}", est.workers);
    }
    if u64::from(sc.churn_ops) * 2 >= one.ops_per_worker {
        format!("scenario field `churn_ops` ({})", sc.churn_ops)
    } else {
        format!(
            "scenario fields `processes` ({}) x `pfnmap_vmas_per_process` + `ordinary_vmas_per_process` ({})",
            sc.processes,
            u64::from(sc.pfnmap_vmas_per_process) + u64::from(sc.ordinary_vmas_per_process)
        )
    }
}

/// The estimate for a parsed trace run on `sims_per_worker` simulators
/// per stream: its simulators' tables grow to the largest VMA id a stream
/// names (a fork's children run past its first id: counted as the
/// stream's whole id range, an upper bound).
pub fn trace_estimate(w: &Workload, sims_per_worker: u32) -> Estimate {
    let widest = w
        .workers
        .iter()
        .map(|ops| {
            ops.iter()
                .map(|op| match *op {
                    Op::Mmap { vma, .. } => u64::from(vma) + 1,
                    Op::Split { new_vma, .. } | Op::Munmap { new_vma, .. } => {
                        u64::from(new_vma) + 1
                    }
                    Op::Fork { first_vma, .. } => u64::from(first_vma) + 1,
                    _ => 0,
                })
                .max()
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    Estimate {
        ops_per_worker: w.workers.iter().map(|o| o.len() as u64).max().unwrap_or(0),
        vmas_per_worker: widest,
        workers: w.workers.len().max(1) as u32,
        sims_per_worker,
    }
}

/// Check that a parsed trace (from `path`) fits in memory when run.
pub fn check_trace_fits(
    w: &Workload,
    sims_per_worker: u32,
    path: &std::path::Path,
) -> Result<(), TooBig> {
    let est = trace_estimate(w, sims_per_worker);
    check_fits(&est, path.display().to_string(), available_memory())
}

/// Check that `sc`, generated for `workers` streams and run on
/// `sims_per_worker` simulators each, fits in memory.
pub fn check_scenario_fits(
    sc: &Scenario,
    workers: u32,
    sims_per_worker: u32,
    threads_flag: &str,
) -> Result<(), TooBig> {
    let est = Estimate::of_scenario(sc, workers, sims_per_worker);
    let available = available_memory();
    if est.bytes() <= available {
        return Ok(());
    }
    check_fits(&est, blame_scenario(sc, &est, threads_flag), available)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_bytes_per_vma_covers_every_design() {
        for strategy in strategies::Strategy::ALL {
            let bytes =
                strategies::with_tracker!(strategy, T => crate::sim::mm::Sim::<T>::bytes_per_vma());
            assert!(bytes as u64 <= SIM_BYTES_PER_VMA, "{strategy}: {bytes}");
            assert!(bytes > 0);
        }
    }

    #[test]
    fn mem_available_is_read_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_mem_available(text), Some(20_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn the_estimate_covers_what_the_generator_makes() {
        for name in Scenario::PRESETS {
            let sc = Scenario::preset(name).unwrap().quick();
            let w = crate::workload::generate(&sc, 3, 2);
            let est = Estimate::of_scenario(&sc, 2, 1);
            for stream in &w.workers {
                assert!(
                    stream.len() as u64 <= est.ops_per_worker,
                    "{name}: {} ops, estimated {}",
                    stream.len(),
                    est.ops_per_worker
                );
            }
        }
    }

    #[test]
    fn a_huge_churn_is_refused_naming_the_field() {
        let mut sc = Scenario::preset("fork-storm").unwrap();
        sc.churn_ops = u32::MAX;
        let est = Estimate::of_scenario(&sc, 1, 1);
        let err = check_fits(&est, blame_scenario(&sc, &est, "--threads"), 1 << 30)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("scenario field `churn_ops`"), "{err}");
        assert!(err.contains("GB"), "{err}");
        // The same scenario with a small churn fits.
        sc.churn_ops = 1000;
        let est = Estimate::of_scenario(&sc, 1, 1);
        check_fits(&est, String::new(), 1 << 30).unwrap();
    }

    #[test]
    fn many_workers_blame_the_threads() {
        let sc = Scenario::preset("fork-storm").unwrap();
        let one = Estimate::of_scenario(&sc, 1, 1);
        let many = Estimate::of_scenario(&sc, 63, 1);
        assert_eq!(many.bytes(), one.bytes() * 63);
        if one.bytes() <= available_memory() {
            assert_eq!(blame_scenario(&sc, &many, "--threads"), "--threads 63");
        }
    }
}
