//! The semantic check of op streams: a shadow of the mm state (processes,
//! their VMAs in order, live ioremaps) that accepts exactly the ops the
//! simulator can run. The trace parser uses it on every line; the
//! generator's tests use it on every generated stream.
//!
//! It is deliberately a separate, simple implementation (hash maps and
//! vectors) from the generator's own fast shadow, so each checks the other.
//!
//! # The VMA order rule
//!
//! `fork()` duplicates the parent's VMAs "in the parent's VMA order" and
//! numbers the copies `first_vma`, `first_vma + 1`, ... in that order. The
//! order of a process's VMAs is:
//! - `Mmap` appends the new VMA at the end;
//! - `Split` and a middle `Munmap` insert the new (upper) VMA right after
//!   the one it was split from;
//! - `Munmap` of a whole VMA, `Mremap` shrink, head or tail `Munmap` and
//!   `Exit` remove or shrink VMAs without reordering the rest;
//! - `Mremap` move keeps the VMA's place (only its address changes);
//! - a forked child's VMAs are in the parent's order.
//!
//! This is creation order with split pieces kept together; it equals
//! address order for a process whose mmaps go upwards and never move.
//!
//! # Accounting
//!
//! [`WorkloadStats`] counts the hook calls a stream asks for, the way the
//! kernel makes them: a split is one `vm_area_dup()` (`__split_vma()`,
//! mm/vma.c); a head or tail munmap and an mremap shrink are a split plus a
//! free (`vms_gather_munmap_vmas()`, mm/vma.c); a middle munmap is two
//! splits plus a free; a move is a dup plus a free (`copy_vma()`, mm/vma.c,
//! called from mm/mremap.c); fork dups every VMA (`dup_mmap()`, mm/mmap.c
//! since v6.16, kernel/fork.c before) and exit frees every VMA
//! (`exit_mmap()`, mm/mmap.c). At run time a design may
//! refuse some (`ENOMEM`), which only the simulator knows.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::op::{IoId, MremapKind, Op, Pid, VmaId};

/// Physical addresses on x86_64 have at most 52 bits, so page frame
/// numbers at most 40: the largest `pfn + pages` an op may name is
/// `1 << MAX_PFN_BITS`.
pub const MAX_PFN_BITS: u32 = 52 - strategies::phys::PAGE_SHIFT;

pub use crate::limits::MAX_ID;

/// Why an op cannot run in the state the stream has reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// A process id that is already live.
    #[error("process {0} already exists")]
    ProcessExists(Pid),
    /// A process id that is not live.
    #[error("process {0} does not exist")]
    NoProcess(Pid),
    /// A VMA id that is already live.
    #[error("vma {0} already exists")]
    VmaExists(VmaId),
    /// A VMA id that is not live.
    #[error("vma {0} does not exist")]
    NoVma(VmaId),
    /// A remap or fault on an ordinary VMA.
    #[error("vma {0} is not a pfnmap VMA (remap and fault need one)")]
    NotPfnmap(VmaId),
    /// A length of zero pages.
    #[error("{0} of 0 pages")]
    ZeroPages(&'static str),
    /// Pages outside the VMA.
    #[error("pages {off}..{end} are outside vma {vma} ({pages} pages)")]
    OutsideVma {
        /// The VMA.
        vma: VmaId,
        /// First page named.
        off: u64,
        /// One past the last page named.
        end: u64,
        /// The VMA's length.
        pages: u32,
    },
    /// A split point not strictly inside the VMA.
    #[error("split of vma {vma} at page {at}: must be in 1..{pages}")]
    BadSplit {
        /// The VMA.
        vma: VmaId,
        /// The split point.
        at: u32,
        /// The VMA's length.
        pages: u32,
    },
    /// A shrink that does not shrink, or a grow that does not grow.
    #[error("mremap {kind} of vma {vma} from {pages} to {new_pages} pages")]
    BadResize {
        /// The VMA.
        vma: VmaId,
        /// `shrink` or `grow`.
        kind: &'static str,
        /// Its length.
        pages: u32,
        /// The length asked for.
        new_pages: u32,
    },
    /// An id at or above [`MAX_ID`].
    #[error("{what} id {id} is too large (ids must be below {MAX_ID})")]
    IdTooLarge {
        /// `process`, `vma` or `ioremap`.
        what: &'static str,
        /// The id.
        id: u64,
    },
    /// A fork whose child VMA ids run past [`MAX_ID`].
    #[error("fork child vma ids {first}..{first}+{n} reach past the id limit {MAX_ID}")]
    IdOverflow {
        /// `first_vma`.
        first: VmaId,
        /// VMAs to copy.
        n: usize,
    },
    /// A pfn range past the physical address space.
    #[error(
        "pfn range {pfn:#x}+{pages} is beyond the 52-bit physical address space (pfns below 1 << 40)"
    )]
    PfnRange {
        /// First pfn.
        pfn: u64,
        /// Pages.
        pages: u64,
    },
    /// An ioremap id that is already live.
    #[error("ioremap {0} already exists")]
    IoremapExists(IoId),
    /// An ioremap id that is not live.
    #[error("ioremap {0} does not exist")]
    NoIoremap(IoId),
    /// A worker touching a setup ioremap's id.
    #[error("ioremap {0} belongs to the setup section, which workers may not reuse or iounmap")]
    SetupIoremap(IoId),
    /// Something other than an ioremap in the setup section.
    #[error("only ioremap may appear in the setup section, not {0}")]
    NotInSetup(&'static str),
}

/// What a stream asks of the simulator, counted by the shadow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadStats {
    /// Ops.
    pub nr_ops: u64,
    /// `vm_area_dup()` calls (fork, split, mremap; pfnmap or not).
    pub vma_dups: u64,
    /// `vm_area_free()` calls (munmap, mremap, exit).
    pub vma_frees: u64,
    /// Full-VMA remaps (track attempts).
    pub full_remaps: u64,
    /// Partial remaps (`pfnmap_setup_cachemode()` calls).
    pub partial_remaps: u64,
    /// Pages the partial remaps look up (one `memtype_lookup()` each).
    pub partial_remap_pages: u64,
    /// Faults (one cache-mode lookup each).
    pub faults: u64,
    /// Lookups.
    pub lookups: u64,
    /// Forks.
    pub forks: u64,
    /// Process exits.
    pub exits: u64,
    /// ioremaps.
    pub ioremaps: u64,
    /// iounmaps.
    pub iounmaps: u64,
    /// mremap grows of pfnmap VMAs (refused: `VM_DONTEXPAND`).
    pub pfnmap_grows_refused: u64,
    /// Most VMAs live at once.
    pub peak_live_vmas: u64,
    /// Most pfnmap VMAs live at once.
    pub peak_live_pfnmap_vmas: u64,
    /// Most processes live at once.
    pub peak_live_processes: u64,
    /// VMAs still live after the last op.
    pub end_live_vmas: u64,
    /// Processes still live after the last op.
    pub end_live_processes: u64,
}

impl WorkloadStats {
    /// Add another stream's counts (peaks add too: workers run at once).
    pub fn add(&mut self, o: &WorkloadStats) {
        self.nr_ops += o.nr_ops;
        self.vma_dups += o.vma_dups;
        self.vma_frees += o.vma_frees;
        self.full_remaps += o.full_remaps;
        self.partial_remaps += o.partial_remaps;
        self.partial_remap_pages += o.partial_remap_pages;
        self.faults += o.faults;
        self.lookups += o.lookups;
        self.forks += o.forks;
        self.exits += o.exits;
        self.ioremaps += o.ioremaps;
        self.iounmaps += o.iounmaps;
        self.pfnmap_grows_refused += o.pfnmap_grows_refused;
        self.peak_live_vmas += o.peak_live_vmas;
        self.peak_live_pfnmap_vmas += o.peak_live_pfnmap_vmas;
        self.peak_live_processes += o.peak_live_processes;
        self.end_live_vmas += o.end_live_vmas;
        self.end_live_processes += o.end_live_processes;
    }
}

#[derive(Debug, Clone, Copy)]
struct ShadowVma {
    pid: Pid,
    pages: u32,
    pfnmap: bool,
}

/// The mm state an op stream has built so far.
#[derive(Debug, Default, Clone)]
pub struct MmShadow {
    /// Live processes and their VMAs, in the order of the module header.
    procs: HashMap<Pid, Vec<VmaId>>,
    /// Live VMAs.
    vmas: HashMap<VmaId, ShadowVma>,
    /// Live pfnmap VMAs (for the peak count).
    nr_pfnmap: u64,
    /// This stream's live ioremaps.
    ioremaps: HashSet<IoId>,
    /// Setup ioremap ids (workers may not touch them); empty for setup itself.
    setup_ids: HashSet<IoId>,
    /// Whether this is the setup section (ioremaps only).
    is_setup: bool,
    stats: WorkloadStats,
}

/// Every id `op` names must be below [`MAX_ID`].
fn check_ids(op: &Op) -> Result<(), OpError> {
    let (pids, vmas, ios): (&[Pid], &[VmaId], &[IoId]) = match op {
        Op::Proc { pid } | Op::Exit { pid } => (std::slice::from_ref(pid), &[], &[]),
        Op::Mmap { pid, vma, .. } => (std::slice::from_ref(pid), std::slice::from_ref(vma), &[]),
        Op::Remap { vma, .. }
        | Op::Fault { vma, .. }
        | Op::Lookup { vma }
        | Op::Mremap { vma, .. } => (&[], std::slice::from_ref(vma), &[]),
        Op::Fork {
            parent,
            child,
            first_vma,
        } => {
            for pid in [parent, child] {
                if *pid >= MAX_ID {
                    return Err(OpError::IdTooLarge {
                        what: "process",
                        id: u64::from(*pid),
                    });
                }
            }
            (&[], std::slice::from_ref(first_vma), &[])
        }
        Op::Split { vma, new_vma, .. } | Op::Munmap { vma, new_vma, .. } => {
            for id in [vma, new_vma] {
                if *id >= MAX_ID {
                    return Err(OpError::IdTooLarge {
                        what: "vma",
                        id: u64::from(*id),
                    });
                }
            }
            (&[], &[], &[])
        }
        Op::Ioremap { id, .. } | Op::Iounmap { id } => (&[], &[], std::slice::from_ref(id)),
    };
    let too_large = |what, ids: &[u32]| {
        ids.iter()
            .find(|&&id| id >= MAX_ID)
            .map(|&id| OpError::IdTooLarge {
                what,
                id: u64::from(id),
            })
    };
    match too_large("process", pids)
        .or_else(|| too_large("vma", vmas))
        .or_else(|| too_large("ioremap", ios))
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn check_pfns(pfn: u64, pages: u64) -> Result<(), OpError> {
    match pfn.checked_add(pages) {
        Some(end) if end <= 1 << MAX_PFN_BITS => Ok(()),
        _ => Err(OpError::PfnRange { pfn, pages }),
    }
}

fn check_within(vma: VmaId, v: &ShadowVma, off: u32, pages: u32) -> Result<(), OpError> {
    let end = u64::from(off) + u64::from(pages);
    if end > u64::from(v.pages) {
        return Err(OpError::OutsideVma {
            vma,
            off: u64::from(off),
            end,
            pages: v.pages,
        });
    }
    Ok(())
}

impl MmShadow {
    /// The shadow for the setup section: it accepts only ioremaps.
    pub fn for_setup() -> Self {
        MmShadow {
            is_setup: true,
            ..MmShadow::default()
        }
    }

    /// The shadow for a worker stream run after `setup`: its ioremap ids
    /// are off limits.
    pub fn for_worker(setup: &[Op]) -> Self {
        let setup_ids = setup
            .iter()
            .filter_map(|op| match op {
                Op::Ioremap { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        MmShadow {
            setup_ids,
            ..MmShadow::default()
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> WorkloadStats {
        WorkloadStats {
            end_live_vmas: self.vmas.len() as u64,
            end_live_processes: self.procs.len() as u64,
            ..self.stats
        }
    }

    /// Live VMA ids of `pid` in order, if it is live.
    pub fn process_vmas(&self, pid: Pid) -> Option<&[VmaId]> {
        self.procs.get(&pid).map(|v| v.as_slice())
    }

    /// Length in pages and pfnmap-ness of a live VMA.
    pub fn vma(&self, id: VmaId) -> Option<(u32, bool)> {
        self.vmas.get(&id).map(|v| (v.pages, v.pfnmap))
    }

    fn get(&self, id: VmaId) -> Result<ShadowVma, OpError> {
        self.vmas.get(&id).copied().ok_or(OpError::NoVma(id))
    }

    fn fresh(&self, id: VmaId) -> Result<(), OpError> {
        if self.vmas.contains_key(&id) {
            Err(OpError::VmaExists(id))
        } else {
            Ok(())
        }
    }

    fn position(&self, pid: Pid, id: VmaId) -> usize {
        self.procs[&pid]
            .iter()
            .position(|&v| v == id)
            .expect("a live VMA is in its process's list")
    }

    fn insert_after(&mut self, after: VmaId, id: VmaId, v: ShadowVma) {
        let pos = self.position(v.pid, after);
        self.procs
            .get_mut(&v.pid)
            .expect("live")
            .insert(pos + 1, id);
        self.add_vma(id, v);
    }

    fn add_vma(&mut self, id: VmaId, v: ShadowVma) {
        self.nr_pfnmap += u64::from(v.pfnmap);
        self.vmas.insert(id, v);
        self.stats.peak_live_vmas = self.stats.peak_live_vmas.max(self.vmas.len() as u64);
        self.stats.peak_live_pfnmap_vmas = self.stats.peak_live_pfnmap_vmas.max(self.nr_pfnmap);
    }

    fn remove_vma(&mut self, id: VmaId) {
        let v = self.vmas.remove(&id).expect("live");
        self.nr_pfnmap -= u64::from(v.pfnmap);
        let pos = self.procs[&v.pid]
            .iter()
            .position(|&x| x == id)
            .expect("listed");
        self.procs.get_mut(&v.pid).expect("live").remove(pos);
    }

    fn set_pages(&mut self, id: VmaId, pages: u32) {
        self.vmas.get_mut(&id).expect("live").pages = pages;
    }

    /// Check `op` against the state and apply it. On error the state is
    /// unchanged.
    pub fn apply(&mut self, op: &Op) -> Result<(), OpError> {
        check_ids(op)?;
        if self.is_setup {
            return match *op {
                Op::Ioremap { id, pfn, pages, .. } => {
                    if pages == 0 {
                        return Err(OpError::ZeroPages("ioremap"));
                    }
                    check_pfns(pfn, u64::from(pages))?;
                    if !self.ioremaps.insert(id) {
                        return Err(OpError::IoremapExists(id));
                    }
                    self.stats.nr_ops += 1;
                    self.stats.ioremaps += 1;
                    Ok(())
                }
                _ => Err(OpError::NotInSetup(op.name())),
            };
        }
        match *op {
            Op::Proc { pid } => {
                if self.procs.contains_key(&pid) {
                    return Err(OpError::ProcessExists(pid));
                }
                self.procs.insert(pid, Vec::new());
                self.stats.peak_live_processes =
                    self.stats.peak_live_processes.max(self.procs.len() as u64);
            }
            Op::Mmap {
                pid,
                vma,
                pages,
                pfnmap,
            } => {
                if !self.procs.contains_key(&pid) {
                    return Err(OpError::NoProcess(pid));
                }
                if pages == 0 {
                    return Err(OpError::ZeroPages("mmap"));
                }
                self.fresh(vma)?;
                self.procs.get_mut(&pid).expect("live").push(vma);
                self.add_vma(vma, ShadowVma { pid, pages, pfnmap });
            }
            Op::Remap {
                vma,
                off,
                pages,
                pfn,
                ..
            } => {
                let v = self.get(vma)?;
                if !v.pfnmap {
                    return Err(OpError::NotPfnmap(vma));
                }
                if pages == 0 {
                    return Err(OpError::ZeroPages("remap"));
                }
                check_within(vma, &v, off, pages)?;
                check_pfns(pfn, u64::from(pages))?;
                if off == 0 && pages == v.pages {
                    self.stats.full_remaps += 1;
                } else {
                    self.stats.partial_remaps += 1;
                    self.stats.partial_remap_pages += u64::from(pages);
                }
            }
            Op::Fault { vma, off, pfn } => {
                let v = self.get(vma)?;
                if !v.pfnmap {
                    return Err(OpError::NotPfnmap(vma));
                }
                check_within(vma, &v, off, 1)?;
                check_pfns(pfn, 1)?;
                self.stats.faults += 1;
            }
            Op::Lookup { vma } => {
                self.get(vma)?;
                self.stats.lookups += 1;
            }
            Op::Fork {
                parent,
                child,
                first_vma,
            } => {
                let Some(list) = self.procs.get(&parent) else {
                    return Err(OpError::NoProcess(parent));
                };
                if self.procs.contains_key(&child) {
                    return Err(OpError::ProcessExists(child));
                }
                let n = list.len();
                if u64::from(first_vma) + n as u64 > u64::from(MAX_ID) {
                    return Err(OpError::IdOverflow {
                        first: first_vma,
                        n,
                    });
                }
                for i in 0..n as u32 {
                    self.fresh(first_vma + i)?;
                }
                let list = list.clone();
                let copies: Vec<VmaId> = (0..n as u32).map(|i| first_vma + i).collect();
                self.procs.insert(child, copies.clone());
                for (&orig, copy) in list.iter().zip(copies) {
                    let v = self.vmas[&orig];
                    self.add_vma(copy, ShadowVma { pid: child, ..v });
                }
                self.stats.forks += 1;
                self.stats.vma_dups += n as u64;
                self.stats.peak_live_processes =
                    self.stats.peak_live_processes.max(self.procs.len() as u64);
            }
            Op::Split { vma, at, new_vma } => {
                let v = self.get(vma)?;
                if at == 0 || at >= v.pages {
                    return Err(OpError::BadSplit {
                        vma,
                        at,
                        pages: v.pages,
                    });
                }
                self.fresh(new_vma)?;
                self.set_pages(vma, at);
                self.insert_after(
                    vma,
                    new_vma,
                    ShadowVma {
                        pages: v.pages - at,
                        ..v
                    },
                );
                self.stats.vma_dups += 1;
            }
            Op::Munmap {
                vma,
                off,
                pages,
                new_vma,
            } => {
                let v = self.get(vma)?;
                if pages == 0 {
                    return Err(OpError::ZeroPages("munmap"));
                }
                check_within(vma, &v, off, pages)?;
                let end = off + pages;
                if off == 0 && end == v.pages {
                    self.remove_vma(vma);
                } else if off == 0 || end == v.pages {
                    // Head or tail: one split, the unmapped part freed.
                    self.set_pages(vma, v.pages - pages);
                    self.stats.vma_dups += 1;
                } else {
                    self.fresh(new_vma)?;
                    self.set_pages(vma, off);
                    self.insert_after(
                        vma,
                        new_vma,
                        ShadowVma {
                            pages: v.pages - end,
                            ..v
                        },
                    );
                    self.stats.vma_dups += 2;
                }
                self.stats.vma_frees += 1;
            }
            Op::Mremap { vma, kind } => {
                let v = self.get(vma)?;
                match kind {
                    MremapKind::Shrink { pages } => {
                        if pages == 0 || pages >= v.pages {
                            return Err(OpError::BadResize {
                                vma,
                                kind: "shrink",
                                pages: v.pages,
                                new_pages: pages,
                            });
                        }
                        self.set_pages(vma, pages);
                        self.stats.vma_dups += 1;
                        self.stats.vma_frees += 1;
                    }
                    MremapKind::Grow { pages } => {
                        if pages <= v.pages {
                            return Err(OpError::BadResize {
                                vma,
                                kind: "grow",
                                pages: v.pages,
                                new_pages: pages,
                            });
                        }
                        if v.pfnmap {
                            // VM_DONTEXPAND: refused, nothing changes.
                            self.stats.pfnmap_grows_refused += 1;
                        } else {
                            self.set_pages(vma, pages);
                        }
                    }
                    MremapKind::Move => {
                        self.stats.vma_dups += 1;
                        self.stats.vma_frees += 1;
                    }
                }
            }
            Op::Exit { pid } => {
                let Some(list) = self.procs.remove(&pid) else {
                    return Err(OpError::NoProcess(pid));
                };
                for id in &list {
                    let v = self.vmas.remove(id).expect("live");
                    self.nr_pfnmap -= u64::from(v.pfnmap);
                }
                self.stats.vma_frees += list.len() as u64;
                self.stats.exits += 1;
            }
            Op::Ioremap { id, pfn, pages, .. } => {
                if self.setup_ids.contains(&id) {
                    return Err(OpError::SetupIoremap(id));
                }
                if pages == 0 {
                    return Err(OpError::ZeroPages("ioremap"));
                }
                check_pfns(pfn, u64::from(pages))?;
                if !self.ioremaps.insert(id) {
                    return Err(OpError::IoremapExists(id));
                }
                self.stats.ioremaps += 1;
            }
            Op::Iounmap { id } => {
                if self.setup_ids.contains(&id) {
                    return Err(OpError::SetupIoremap(id));
                }
                if !self.ioremaps.remove(&id) {
                    return Err(OpError::NoIoremap(id));
                }
                self.stats.iounmaps += 1;
            }
        }
        self.stats.nr_ops += 1;
        Ok(())
    }
}

/// Where in a workload an op failed the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} op {index} ({op:?}): {error}", match worker { None => "setup".to_string(), Some(w) => format!("worker {w}") })]
pub struct StreamError {
    /// `None` for setup, else the worker.
    pub worker: Option<usize>,
    /// 0-based position of the op in its stream.
    pub index: usize,
    /// The op.
    pub op: Op,
    /// What is wrong.
    pub error: OpError,
}

/// Check a whole workload (setup, then every worker from a fresh shadow).
/// Return: the summed counts of the worker streams (setup ioremaps are
/// counted under `ioremaps` too).
pub fn validate_workload(w: &super::Workload) -> Result<WorkloadStats, StreamError> {
    let mut setup = MmShadow::for_setup();
    for (index, op) in w.setup.iter().enumerate() {
        setup.apply(op).map_err(|error| StreamError {
            worker: None,
            index,
            op: *op,
            error,
        })?;
    }
    let mut total = setup.stats();
    for (worker, ops) in w.workers.iter().enumerate() {
        let mut sh = MmShadow::for_worker(&w.setup);
        for (index, op) in ops.iter().enumerate() {
            sh.apply(op).map_err(|error| StreamError {
                worker: Some(worker),
                index,
                op: *op,
                error,
            })?;
        }
        total.add(&sh.stats());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strategies::CacheMode;

    fn run(ops: &[Op]) -> Result<MmShadow, (usize, OpError)> {
        let mut sh = MmShadow::for_worker(&[]);
        for (i, op) in ops.iter().enumerate() {
            sh.apply(op).map_err(|e| (i, e))?;
        }
        Ok(sh)
    }

    const fn mmap(pid: Pid, vma: VmaId, pages: u32, pfnmap: bool) -> Op {
        Op::Mmap {
            pid,
            vma,
            pages,
            pfnmap,
        }
    }

    #[test]
    fn fork_copies_in_the_documented_order() {
        let sh = run(&[
            Op::Proc { pid: 1 },
            mmap(1, 10, 8, true),
            mmap(1, 20, 4, false),
            Op::Split {
                vma: 10,
                at: 2,
                new_vma: 11,
            },
            Op::Munmap {
                vma: 11,
                off: 1,
                pages: 1,
                new_vma: 12,
            },
            Op::Mremap {
                vma: 10,
                kind: MremapKind::Move,
            },
            Op::Fork {
                parent: 1,
                child: 2,
                first_vma: 100,
            },
        ])
        .unwrap();
        assert_eq!(sh.process_vmas(1).unwrap(), &[10, 11, 12, 20]);
        assert_eq!(sh.process_vmas(2).unwrap(), &[100, 101, 102, 103]);
        // 10 = [0,2), 11 = [2,3), 12 = [4,8), 20 ordinary.
        assert_eq!(sh.vma(100), Some((2, true)));
        assert_eq!(sh.vma(101), Some((1, true)));
        assert_eq!(sh.vma(102), Some((4, true)));
        assert_eq!(sh.vma(103), Some((4, false)));
        let st = sh.stats();
        assert_eq!(st.vma_dups, 1 + 2 + 1 + 4);
        assert_eq!(st.vma_frees, 1 + 1);
    }

    #[test]
    fn rejects_what_the_simulator_cannot_run() {
        let base = [
            Op::Proc { pid: 1 },
            mmap(1, 1, 4, true),
            mmap(1, 2, 4, false),
        ];
        let bad = |op: Op| -> OpError {
            let mut ops = base.to_vec();
            ops.push(op);
            run(&ops).unwrap_err().1
        };
        let remap = |vma, off, pages| Op::Remap {
            vma,
            off,
            pages,
            pfn: 0x1000,
            mode: CacheMode::WC,
        };
        assert_eq!(bad(Op::Proc { pid: 1 }), OpError::ProcessExists(1));
        assert_eq!(bad(mmap(2, 5, 1, false)), OpError::NoProcess(2));
        assert_eq!(bad(mmap(1, 2, 1, false)), OpError::VmaExists(2));
        assert_eq!(bad(mmap(1, 5, 0, false)), OpError::ZeroPages("mmap"));
        assert_eq!(bad(remap(2, 0, 4)), OpError::NotPfnmap(2));
        assert_eq!(bad(remap(9, 0, 4)), OpError::NoVma(9));
        assert!(matches!(bad(remap(1, 2, 3)), OpError::OutsideVma { .. }));
        assert!(matches!(bad(remap(1, 0, 0)), OpError::ZeroPages(_)));
        assert!(matches!(
            bad(Op::Fault {
                vma: 1,
                off: 4,
                pfn: 0
            }),
            OpError::OutsideVma { .. }
        ));
        assert!(matches!(
            bad(Op::Fault {
                vma: 1,
                off: 0,
                pfn: 1 << 52
            }),
            OpError::PfnRange { .. }
        ));
        assert!(matches!(
            bad(Op::Split {
                vma: 1,
                at: 4,
                new_vma: 9
            }),
            OpError::BadSplit { .. }
        ));
        assert_eq!(
            bad(Op::Split {
                vma: 1,
                at: 1,
                new_vma: 2
            }),
            OpError::VmaExists(2)
        );
        assert_eq!(
            bad(Op::Fork {
                parent: 1,
                child: 2,
                first_vma: 2
            }),
            OpError::VmaExists(2)
        );
        assert!(matches!(
            bad(Op::Fork {
                parent: 1,
                child: 2,
                first_vma: u32::MAX
            }),
            OpError::IdTooLarge { what: "vma", .. }
        ));
        assert!(matches!(
            bad(Op::Fork {
                parent: 1,
                child: 2,
                first_vma: MAX_ID - 1
            }),
            OpError::IdOverflow { .. }
        ));
        assert!(matches!(
            bad(Op::Proc { pid: 3_000_000_000 }),
            OpError::IdTooLarge {
                what: "process",
                ..
            }
        ));
        assert!(matches!(
            bad(Op::Mremap {
                vma: 1,
                kind: MremapKind::Shrink { pages: 4 }
            }),
            OpError::BadResize { .. }
        ));
        assert!(matches!(
            bad(Op::Mremap {
                vma: 2,
                kind: MremapKind::Grow { pages: 4 }
            }),
            OpError::BadResize { .. }
        ));
        assert_eq!(
            bad(Op::Munmap {
                vma: 1,
                off: 1,
                pages: 1,
                new_vma: 2
            }),
            OpError::VmaExists(2)
        );
        assert_eq!(bad(Op::Exit { pid: 3 }), OpError::NoProcess(3));
        assert_eq!(bad(Op::Iounmap { id: 3 }), OpError::NoIoremap(3));
    }

    #[test]
    fn grow_refused_for_pfnmap_applies_to_ordinary() {
        let sh = run(&[
            Op::Proc { pid: 1 },
            mmap(1, 1, 4, true),
            mmap(1, 2, 4, false),
            Op::Mremap {
                vma: 1,
                kind: MremapKind::Grow { pages: 8 },
            },
            Op::Mremap {
                vma: 2,
                kind: MremapKind::Grow { pages: 8 },
            },
        ])
        .unwrap();
        assert_eq!(sh.vma(1), Some((4, true)));
        assert_eq!(sh.vma(2), Some((8, false)));
        assert_eq!(sh.stats().pfnmap_grows_refused, 1);
    }

    #[test]
    fn setup_ids_are_off_limits_to_workers() {
        let setup = [Op::Ioremap {
            id: 0,
            pfn: 0x100,
            pages: 1,
            mode: CacheMode::UC_MINUS,
        }];
        let mut sh = MmShadow::for_worker(&setup);
        assert_eq!(
            sh.apply(&Op::Iounmap { id: 0 }),
            Err(OpError::SetupIoremap(0))
        );
        assert_eq!(sh.apply(&setup[0]), Err(OpError::SetupIoremap(0)));
        let mut st = MmShadow::for_setup();
        st.apply(&setup[0]).unwrap();
        assert_eq!(st.apply(&setup[0]), Err(OpError::IoremapExists(0)));
        assert_eq!(
            st.apply(&Op::Proc { pid: 1 }),
            Err(OpError::NotInSetup("proc"))
        );
    }
}
