//! Fork timing in the guest: what a `fork()` (and the child's exit) costs
//! as more VMAs map one BAR range. The player maps page 0 of device 0's
//! `resourceN` N times (N whole-VMA remaps of the same pfn), then forks,
//! and the child `_exit()`s at once, `repeat` times for each N.
//!
//! Under `VM_PAT` every fork reserves the range again per VMA
//! (`track_pfn_copy()` -> `reserve_pfn_range()` -> `memtype_reserve()`),
//! and each reservation checks every entry already overlapping it
//! (`memtype_check_conflict()`), so the cost per VMA grows with N; with
//! `pfnmap_track_ctx` a fork takes one kref per VMA. Guest times are TCG
//! times: only ratios mean anything.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::time::Instant;

use anyhow::Context;
use strategies::phys::PAGE_SIZE;

use super::sys::{self, Forked};
use crate::kernel::protocol::{ForkTimingReport, ForkTimingSpec};

/// One timed fork: `(fork returned in the parent, child reaped)`, ns.
fn time_fork() -> anyhow::Result<(u64, u64)> {
    let t0 = Instant::now();
    match sys::fork().map_err(|e| anyhow::anyhow!("fork: {e}"))? {
        Forked::Child => sys::exit_now(0),
        Forked::Parent(pid) => {
            let t1 = Instant::now();
            sys::waitpid(pid).map_err(|e| anyhow::anyhow!("waitpid: {e}"))?;
            let t2 = Instant::now();
            Ok(((t1 - t0).as_nanos() as u64, (t2 - t1).as_nanos() as u64))
        }
    }
}

/// `repeat` timed forks after one untimed.
fn samples(repeat: u32) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    time_fork()?;
    let mut fork = Vec::with_capacity(repeat as usize);
    let mut exit = Vec::with_capacity(repeat as usize);
    for _ in 0..repeat {
        let (f, e) = time_fork()?;
        fork.push(f);
        exit.push(e);
    }
    Ok((fork, exit))
}

/// Run the timing with `bar_file` (device 0's `resourceN`), mapping at
/// addresses from `next_addr`. Every mapping is gone afterwards.
pub fn fork_timing(
    spec: &ForkTimingSpec,
    bar_file: &str,
    next_addr: &mut u64,
) -> anyhow::Result<ForkTimingReport> {
    // waitpid() needs the children to stay until reaped.
    sys::sigchld(false);
    let r = run(spec, bar_file, next_addr);
    sys::sigchld(true);
    r
}

fn run(
    spec: &ForkTimingSpec,
    bar_file: &str,
    next_addr: &mut u64,
) -> anyhow::Result<ForkTimingReport> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(bar_file)
        .with_context(|| format!("opening {bar_file}"))?;
    let (base_fork_ns, base_exit_ns) = samples(spec.repeat)?;
    let mut mapped: Vec<u64> = Vec::new();
    let mut report = ForkTimingReport {
        vmas: spec.vmas.clone(),
        fork_ns: Vec::new(),
        exit_ns: Vec::new(),
        base_fork_ns,
        base_exit_ns,
    };
    let result = (|| {
        for &n in &spec.vmas {
            while mapped.len() < n as usize {
                let addr = super::alloc_addr(next_addr, 1)?;
                sys::mmap_fixed(
                    addr,
                    PAGE_SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                )
                .map_err(|e| anyhow::anyhow!("mmap of {bar_file}: {e}"))?;
                mapped.push(addr);
            }
            let (fork, exit) = samples(spec.repeat)?;
            report.fork_ns.push(fork);
            report.exit_ns.push(exit);
        }
        Ok(())
    })();
    for addr in mapped {
        let _ = sys::munmap(addr, PAGE_SIZE);
    }
    result.map(|()| report)
}
