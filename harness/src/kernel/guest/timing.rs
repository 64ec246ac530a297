//! Fork timing in the guest: what a `fork()` (and the child's exit) costs
//! as more VMAs map one BAR range. For each N one process maps its own
//! page of device 0's `resourceN` N times (N whole-VMA remaps of the same
//! pfn), and one process maps nothing; then, round after round, each of
//! them forks once and the child `_exit()`s at once. Interleaving the
//! processes spreads whatever else the machine does evenly over the Ns.
//!
//! Under `VM_PAT` every fork reserves the range again per VMA
//! (`track_pfn_copy()` -> `reserve_pfn_range()` -> `memtype_reserve()`),
//! and each reservation checks every entry already overlapping it
//! (`memtype_check_conflict()`), so the cost per VMA grows with N; with
//! `pfnmap_track_ctx` a fork takes one kref per VMA. Each process maps its
//! own page so the Ns do not see each other's entries. Guest times are TCG
//! times: only ratios mean anything.

use std::time::Instant;

use anyhow::Context;
use strategies::phys::PAGE_SIZE;

use super::agent::{Agent, Cmd, Hub};
use super::sys::{self, Forked, SysErr};
use crate::kernel::protocol::{ForkTimingReport, ForkTimingSpec};

/// One timed fork in this process: `(ns until fork returned in the
/// parent, ns from telling the child to exit until it was reaped)`. The
/// child waits on a pipe until the parent has stopped the first clock:
/// the scheduler may run a new child first, and its exit would otherwise
/// land in the fork's time.
pub fn time_fork() -> Result<(u64, u64), SysErr> {
    // waitpid() needs the child to stay until reaped.
    sys::sigchld(false);
    let r = sys::pipe().and_then(|(rd, wr)| {
        let r = (|| {
            let t0 = Instant::now();
            match sys::fork()? {
                Forked::Child => {
                    let _ = sys::read_byte(rd);
                    sys::exit_now(0)
                }
                Forked::Parent(pid) => {
                    let t1 = Instant::now();
                    sys::write_byte(wr)?;
                    sys::waitpid(pid)?;
                    let t2 = Instant::now();
                    Ok(((t1 - t0).as_nanos() as u64, (t2 - t1).as_nanos() as u64))
                }
            }
        })();
        sys::close(rd);
        sys::close(wr);
        r
    });
    sys::sigchld(true);
    r
}

/// Run the timing with processes from `hub`, mapping at addresses from
/// `next_addr`. Every process is gone afterwards.
pub fn fork_timing(
    spec: &ForkTimingSpec,
    hub: &mut Hub,
    next_addr: &mut u64,
) -> anyhow::Result<ForkTimingReport> {
    let mut procs: Vec<Agent> = Vec::new();
    let result = run(spec, hub, next_addr, &mut procs);
    for a in procs {
        let _ = a.exit();
    }
    result
}

fn run(
    spec: &ForkTimingSpec,
    hub: &mut Hub,
    next_addr: &mut u64,
    procs: &mut Vec<Agent>,
) -> anyhow::Result<ForkTimingReport> {
    // Process 0 maps nothing; process i + 1 maps page i, N_i times.
    procs.push(hub.spawn().context("starting a timing process")?);
    for (i, &n) in spec.vmas.iter().enumerate() {
        let mut a = hub.spawn().context("starting a timing process")?;
        for _ in 0..n {
            let addr = super::alloc_addr(next_addr, 1)?;
            a.call(Cmd::MmapBar {
                addr,
                len: PAGE_SIZE,
                device: 0,
                offset: i as u64 * PAGE_SIZE,
                wc: false,
            })?
            .map_err(|e| anyhow::anyhow!("fork timing: mmap of device 0's BAR file: {e}"))?;
        }
        procs.push(a);
    }
    let mut fork_ns = vec![Vec::new(); procs.len()];
    let mut exit_ns = vec![Vec::new(); procs.len()];
    // Round 0 warms up and is not kept.
    for round in 0..=spec.repeat {
        for (p, a) in procs.iter_mut().enumerate() {
            let (f, e) = a
                .call_pair(Cmd::TimeFork)?
                .map_err(|e| anyhow::anyhow!("fork timing: fork: {e}"))?;
            if round > 0 {
                fork_ns[p].push(f);
                exit_ns[p].push(e);
            }
        }
    }
    let base_fork_ns = fork_ns.remove(0);
    let base_exit_ns = exit_ns.remove(0);
    Ok(ForkTimingReport {
        vmas: spec.vmas.clone(),
        fork_ns,
        exit_ns,
        base_fork_ns,
        base_exit_ns,
    })
}
