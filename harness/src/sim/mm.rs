//! The mm simulator: processes and their VMAs, turning each workload
//! [`Op`] into the hook calls the kernel makes for it.
//!
//! | op | kernel path | hooks |
//! |---|---|---|
//! | mmap | `mmap_region()` -> `vm_area_alloc()` | none |
//! | remap | driver `->mmap` -> `remap_pfn_range()` (mm/memory.c) | track, or setup_cachemode if partial |
//! | fault | `vmf_insert_pfn()` | fault (one cache-mode lookup) |
//! | fork | `dup_mmap()` (kernel/fork.c) | per VMA in address order: dup (`vm_area_dup()`, `untrack_pfn_clear()`, `copy_page_range()`'s `track_pfn_copy()`), then the page-table copy |
//! | split (mprotect) | `vma_modify()` -> `__split_vma(new_below)` (mm/vma.c) | one dup: the new struct takes the lower part, the original the upper |
//! | munmap | `do_vmi_munmap()` -> `vms_gather_munmap_vmas()` | a dup per edge inside the VMA (new structs keep the outside parts), then free of the original |
//! | mremap shrink | `do_vmi_munmap()` of the tail | dup + free |
//! | mremap move | `copy_vma()`, `move_page_tables()`, `untrack_pfn_clear()` of the old VMA, then unmap (mm/mremap.c) | dup + free |
//! | mremap grow | in place; pfnmap refuses (`VM_DONTEXPAND`: EFAULT) | none |
//! | exit | `exit_mmap()`: `unmap_vmas()`, then `remove_vma()` | one free per VMA, in address order |
//! | ioremap/iounmap | `memtype_reserve_io()`/`memtype_free_io()` | ioremap, iounmap |
//!
//! What a timed hook covers, the same rule for every design: a *dup* is
//! all the tracking work that makes one VMA from another (`vm_area_dup()`,
//! and at fork also `untrack_pfn_clear()` and `copy_page_range()`'s
//! `track_pfn_copy()`); a *free* (or *untrack*, when it reached the
//! memtype tree) is all the tracking work that makes a VMA go
//! (`unmap_single_vma()`'s `untrack_pfn()`, then `vm_area_free()`, and at
//! an mremap move the old VMA's `untrack_pfn_clear()` first). Designs that
//! do nothing at one of these points have it inlined to nothing, so their
//! figures are those of `vm_area_dup()`/`vm_area_free()` alone. Copying,
//! moving and zapping the page tables themselves costs every design the
//! same and is not timed.
//!
//! The simulator keeps each pfnmap VMA's page tables as an extent: the pfn
//! and cache mode a whole-VMA remap mapped at its start (the rest follows
//! linearly). Splits divide it, fork copies it (`copy_page_range()`),
//! mremap moves it (`move_page_tables()`), unmapping the VMA drops it.
//! Only designs that find ranges through the page tables (`legacy`:
//! `get_pat_info()`) read it. Partial remaps' ptes are not kept: no design
//! reads them (remapping over populated ptes would hit the kernel's
//! `BUG_ON(!pte_none())` anyway).
//!
//! A process's VMAs are kept in creation order (a split inserts the upper
//! part right after the lower one, a moved VMA keeps its place): the i-th
//! VMA of a fork's parent is the child's `first_vma + i`. Fork duplicates
//! and exit unmaps in address order, as `dup_mmap()` and `unmap_vmas()`
//! walk the maple tree: that differs from creation order once a VMA was
//! moved (it goes above every other), and for `legacy` the order decides
//! which pieces of a split VMA free exactly. The same op stream
//! gives the same sequence of hook calls for every design (hook results,
//! which the differential tests show agree across designs of one kernel
//! generation, decide nothing but error counts).
//!
//! What each op did is observable to the caller: every hook's
//! [`HookOutcome`] goes to the [`HookObserver`] (including the range an
//! `untrack_pfn()` freed and what `memtype_free()` found), the design's
//! `memtype_entries()` is the tree after it, and its `invalid_free_log()`
//! holds the "freeing invalid memtype" messages it printed. `check`
//! compares all three; the simulator keeps no count of its own.
//!
//! A hook failure is handled like the kernel's caller would: a failed remap
//! leaves the VMA mapped and untracked; a failed dup fails the split,
//! munmap or mremap with nothing changed, and fails a fork: the copy whose
//! `copy_page_range()` failed is already in the child, and the child is
//! torn down as `exit_mmap()` would. Later ops on a VMA or process that is
//! gone are skipped and counted.

use std::collections::BTreeMap;

use strategies::kmem::{Cpu, KObj, Kmem};
use strategies::phys::{PAGE_SHIFT, PAGE_SIZE};
use strategies::tracker::{VM_IO, VM_PFNMAP};
use strategies::{CacheMode, Errno, KResult, PfnRange, PfnUntrack, PfnmapPte, PfnmapTracking, Vma};

use crate::measure::hook::Hook;
use crate::sim::slab::VmaSlab;
use crate::workload::{IoId, MremapKind, Op, Pid, VmaId};

/// The page protection faults map with before PAT adjusts it.
const FAULT_PROT: CacheMode = CacheMode::WB;
/// Where each process's mmaps start.
const MMAP_BASE: u64 = 0x7f00_0000_0000;

/// What a hook call returned, for the check command and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookOutcome {
    /// `remap_pfn_range()` (track or setup_cachemode).
    Remap(KResult<CacheMode>),
    /// `vm_area_dup()` (and at fork `track_pfn_copy()`).
    Dup(KResult<()>),
    /// A VMA going: what `unmap_single_vma()`'s `untrack_pfn()` freed
    /// (v6.15 only), and the range whose reservation `vm_area_free()`
    /// dropped.
    Free {
        /// `untrack_pfn()`'s range and what `memtype_free()` made of it.
        untrack: Option<PfnUntrack>,
        /// `vm_area_free()`'s untrack.
        freed: Option<PfnRange>,
    },
    /// Which range a VMA holds.
    Lookup(Option<PfnRange>),
    /// A fault's cache mode.
    Fault(CacheMode),
    /// `memtype_reserve_io()`.
    Ioremap(KResult<CacheMode>),
    /// `memtype_free_io()`.
    Iounmap(KResult<bool>),
}

/// Sees every hook call: times it, or records what it returned.
///
/// `start` is called right before the hook, `stop` right after it returns,
/// then `record` with the classification; keep `start`/`stop` minimal.
pub trait HookObserver {
    /// Before the call: a timestamp (or anything).
    fn start(&mut self) -> u64;
    /// Right after the call returns.
    fn stop(&mut self) -> u64;
    /// The call's classification and result, with the two stamps.
    fn record(&mut self, hook: Hook, start: u64, stop: u64, outcome: &HookOutcome);
}

/// An observer that ignores everything (setup work, teardown).
#[derive(Debug, Default)]
pub struct Unobserved;

impl HookObserver for Unobserved {
    #[inline]
    fn start(&mut self) -> u64 {
        0
    }

    #[inline]
    fn stop(&mut self) -> u64 {
        0
    }

    #[inline]
    fn record(&mut self, _hook: Hook, _start: u64, _stop: u64, _outcome: &HookOutcome) {}
}

/// Things that went wrong, by name (errno, `EFAULT`, `skipped`, ...).
pub type ErrorCounts = BTreeMap<String, u64>;

struct SimVma<S> {
    vma: Vma<S>,
    pid: Pid,
    /// Holds a reservation (a successful whole-VMA remap, or a dup of one).
    tracked: bool,
    /// The page tables: what a whole-VMA remap mapped at `vm_start` (the
    /// rest of the VMA maps the following pfns), if one did.
    ptes: Option<PfnmapPte>,
}

/// The page-table extent of the part of a VMA from `offset` bytes in.
fn ptes_from(ptes: Option<PfnmapPte>, offset: u64) -> Option<PfnmapPte> {
    ptes.map(|p| PfnmapPte {
        pfn: p.pfn + (offset >> PAGE_SHIFT),
        pcm: p.pcm,
    })
}

#[derive(Default)]
struct Proc {
    /// VMA ids in the order fork duplicates them.
    vmas: Vec<VmaId>,
    next_va: u64,
}

/// VMA ids the simulator invents for pieces the op stream did not name
/// (a split left behind by a failed munmap): counted down from here. Op
/// streams use ids below [`crate::workload::MAX_ID`].
const HIDDEN_VMA_BASE: VmaId = VmaId::MAX;

/// The VMA with id `id`, wherever it is kept (a free function so callers
/// can borrow other fields of the simulator at the same time).
fn slot_mut<'a, S>(
    vmas: &'a mut [Option<SimVma<S>>],
    hidden: &'a mut BTreeMap<VmaId, SimVma<S>>,
    next_hidden: VmaId,
    id: VmaId,
) -> Option<&'a mut SimVma<S>> {
    if id >= next_hidden {
        return hidden.get_mut(&id);
    }
    vmas.get_mut(id as usize).and_then(Option::as_mut)
}

/// One worker's mm world driving one design.
pub struct Sim<'t, T: PfnmapTracking> {
    tracker: &'t T,
    cpu: Cpu,
    slab: VmaSlab,
    vmas: Vec<Option<SimVma<T::VmaState>>>,
    hidden: BTreeMap<VmaId, SimVma<T::VmaState>>,
    next_hidden: VmaId,
    procs: Vec<Option<Proc>>,
    ios: BTreeMap<IoId, (u64, u64)>,
    errors: ErrorCounts,
    nr_vmas: u64,
    nr_tracked: u64,
}

impl<'t, T: PfnmapTracking> Sim<'t, T> {
    /// Bytes one VMA id costs the simulator at most: its table slot plus
    /// its entry in its process's list (what `limits` estimates with).
    pub fn bytes_per_vma() -> usize {
        std::mem::size_of::<Option<SimVma<T::VmaState>>>() + std::mem::size_of::<VmaId>()
    }

    /// An empty world on CPU `cpu` whose VMAs come from `slab`.
    pub fn new(tracker: &'t T, cpu: Cpu, slab: VmaSlab) -> Self {
        Sim {
            tracker,
            cpu,
            slab,
            vmas: Vec::new(),
            hidden: BTreeMap::new(),
            next_hidden: HIDDEN_VMA_BASE,
            procs: Vec::new(),
            ios: BTreeMap::new(),
            errors: ErrorCounts::new(),
            nr_vmas: 0,
            nr_tracked: 0,
        }
    }

    /// Live VMAs.
    pub fn nr_vmas(&self) -> u64 {
        self.nr_vmas
    }

    /// Live VMAs holding a reservation.
    pub fn nr_tracked_vmas(&self) -> u64 {
        self.nr_tracked
    }

    /// Errors and refusals so far.
    pub fn errors(&self) -> &ErrorCounts {
        &self.errors
    }

    /// This worker's allocation counters.
    pub fn cpu(&self) -> &Cpu {
        &self.cpu
    }

    fn count(&mut self, what: &str) {
        *self.errors.entry(what.to_string()).or_insert(0) += 1;
    }

    fn count_err(&mut self, e: Errno) {
        self.count(e.name());
    }

    fn vma_slot(&mut self, id: VmaId) -> Option<&mut SimVma<T::VmaState>> {
        slot_mut(&mut self.vmas, &mut self.hidden, self.next_hidden, id)
    }

    fn take_vma(&mut self, id: VmaId) -> Option<SimVma<T::VmaState>> {
        if id >= self.next_hidden {
            return self.hidden.remove(&id);
        }
        self.vmas.get_mut(id as usize).and_then(Option::take)
    }

    fn put_vma(&mut self, id: VmaId, v: SimVma<T::VmaState>) {
        if id >= self.next_hidden {
            self.hidden.insert(id, v);
            return;
        }
        let i = id as usize;
        if i >= self.vmas.len() {
            self.vmas.resize_with(i + 1, || None);
        }
        debug_assert!(self.vmas[i].is_none(), "vma {id} created twice");
        self.vmas[i] = Some(v);
    }

    fn proc_mut(&mut self, pid: Pid) -> Option<&mut Proc> {
        self.procs.get_mut(pid as usize).and_then(Option::as_mut)
    }

    fn new_proc(&mut self, pid: Pid, next_va: u64) {
        let i = pid as usize;
        if i >= self.procs.len() {
            self.procs.resize_with(i + 1, || None);
        }
        self.procs[i] = Some(Proc {
            vmas: Vec::new(),
            next_va,
        });
    }

    /// `vm_area_dup()` of `orig` (detached from the tables, or borrowed out
    /// of them by the caller) into a fresh struct. Return: the copy, or the
    /// error (the copy's memory already given back).
    fn dup_of<O: HookObserver>(
        &mut self,
        obs: &mut O,
        orig: &SimVma<T::VmaState>,
    ) -> KResult<SimVma<T::VmaState>> {
        let key = self.slab.alloc();
        let mut new = orig.vma.dup_shell(key);
        let hook = if orig.vma.is_pfnmap() {
            Hook::Dup
        } else {
            Hook::DupPlain
        };
        let t0 = obs.start();
        let r = self.tracker.vm_area_dup(&mut self.cpu, &orig.vma, &mut new);
        let t1 = obs.stop();
        obs.record(hook, t0, t1, &HookOutcome::Dup(r));
        match r {
            Ok(()) => {
                self.nr_vmas += 1;
                self.nr_tracked += u64::from(orig.tracked);
                Ok(SimVma {
                    vma: new,
                    pid: orig.pid,
                    tracked: orig.tracked,
                    ptes: orig.ptes,
                })
            }
            Err(e) => {
                // kmem_cache_free(): the copy never became a VMA.
                self.slab.free(key);
                self.count_err(e);
                Err(e)
            }
        }
    }

    /// `vm_area_dup()` of the live VMA `id`.
    fn dup<O: HookObserver>(&mut self, obs: &mut O, id: VmaId) -> KResult<SimVma<T::VmaState>> {
        let orig = self.take_vma(id).expect("dup of a live VMA");
        let r = self.dup_of(obs, &orig);
        self.put_vma(id, orig);
        r
    }

    /// `unmap_single_vma()` then `vm_area_free()` of a detached VMA.
    fn free<O: HookObserver>(&mut self, obs: &mut O, v: SimVma<T::VmaState>) {
        self.free_moved(obs, v, false);
    }

    /// [`Sim::free`]; `moved`: the old VMA of an mremap move, whose VM_PAT
    /// `move_vma()` clears first.
    fn free_moved<O: HookObserver>(
        &mut self,
        obs: &mut O,
        mut v: SimVma<T::VmaState>,
        moved: bool,
    ) {
        let pfnmap = v.vma.is_pfnmap();
        let ptes = v.ptes;
        let t0 = obs.start();
        if moved {
            self.tracker.untrack_pfn_clear(&mut v.vma);
        }
        let untrack = if pfnmap {
            self.tracker.untrack_pfn(&mut self.cpu, &mut v.vma, ptes)
        } else {
            None
        };
        let freed = self.tracker.vm_area_free(&mut self.cpu, &mut v.vma);
        let t1 = obs.stop();
        // Untrack: the free reached the memtype tree (whatever it found).
        let reached_tree = freed.is_some()
            || untrack.is_some_and(|u| u.freed != Ok(strategies::memtype::MemtypeFreed::NotInTree));
        let hook = match (reached_tree, pfnmap) {
            (true, _) => Hook::Untrack,
            (false, true) => Hook::Free,
            (false, false) => Hook::FreePlain,
        };
        obs.record(hook, t0, t1, &HookOutcome::Free { untrack, freed });
        self.slab.free(v.vma.key);
        self.nr_vmas -= 1;
        self.nr_tracked -= u64::from(v.tracked);
    }

    /// Remove VMA `id` from its process and free it.
    fn unmap_whole<O: HookObserver>(&mut self, obs: &mut O, id: VmaId) {
        let v = self.take_vma(id).expect("live");
        if let Some(p) = self.proc_mut(v.pid)
            && let Some(pos) = p.vmas.iter().position(|&x| x == id)
        {
            p.vmas.remove(pos);
        }
        self.free(obs, v);
    }

    /// `__split_vma(vma, addr, new_below)` (mm/vma.c) on a VMA the caller
    /// holds: the new struct (a `vm_area_dup()`) takes the part below page
    /// `at` when `new_below`, else the part from `at` on; `v` keeps the
    /// other part. Return: the new struct.
    fn split_vma<O: HookObserver>(
        &mut self,
        obs: &mut O,
        v: &mut SimVma<T::VmaState>,
        at: u32,
        new_below: bool,
    ) -> KResult<SimVma<T::VmaState>> {
        let mut new = self.dup_of(obs, v)?;
        let offset = u64::from(at) * PAGE_SIZE;
        let mid = v.vma.vm_start + offset;
        if new_below {
            new.vma.vm_end = mid;
            v.vma.vm_start = mid;
            v.ptes = ptes_from(v.ptes, offset);
        } else {
            new.vma.vm_start = mid;
            new.ptes = ptes_from(new.ptes, offset);
            v.vma.vm_end = mid;
        }
        Ok(new)
    }

    /// A simulator-made id for a piece the op stream did not name.
    fn hidden_id(&mut self) -> VmaId {
        self.next_hidden -= 1;
        self.next_hidden
    }

    /// Link `new` into its process right after `after`.
    fn insert_after(&mut self, after: VmaId, new_id: VmaId, v: SimVma<T::VmaState>) {
        let pid = v.pid;
        self.put_vma(new_id, v);
        if let Some(p) = self.proc_mut(pid) {
            let pos = p
                .vmas
                .iter()
                .position(|&x| x == after)
                .map_or(p.vmas.len(), |i| i + 1);
            p.vmas.insert(pos, new_id);
        }
    }

    fn pages(&mut self, id: VmaId) -> Option<u32> {
        self.vma_slot(id)
            .map(|v| ((v.vma.vm_end - v.vma.vm_start) / PAGE_SIZE) as u32)
    }

    /// Apply one op.
    pub fn apply<O: HookObserver>(&mut self, obs: &mut O, op: &Op) {
        match *op {
            Op::Proc { pid } => self.new_proc(pid, MMAP_BASE),
            Op::Mmap {
                pid,
                vma,
                pages,
                pfnmap,
            } => {
                let Some(p) = self.proc_mut(pid) else {
                    return self.count("skipped");
                };
                let start = p.next_va;
                let len = u64::from(pages) * PAGE_SIZE;
                // A guard page between mappings keeps them from merging.
                p.next_va += len + PAGE_SIZE;
                p.vmas.push(vma);
                let key = self.slab.alloc();
                let flags = if pfnmap { VM_PFNMAP | VM_IO } else { 0 };
                self.put_vma(
                    vma,
                    SimVma {
                        vma: Vma::new(key, start, start + len, flags),
                        pid,
                        tracked: false,
                        ptes: None,
                    },
                );
                self.nr_vmas += 1;
            }
            Op::Remap {
                vma,
                off,
                pages,
                pfn,
                mode,
            } => {
                let Some(v) = slot_mut(&mut self.vmas, &mut self.hidden, self.next_hidden, vma)
                else {
                    return self.count("skipped");
                };
                let addr = v.vma.vm_start + u64::from(off) * PAGE_SIZE;
                let size = u64::from(pages) * PAGE_SIZE;
                let full = addr == v.vma.vm_start && addr + size == v.vma.vm_end;
                let t0 = obs.start();
                let r =
                    self.tracker
                        .remap_pfn_range(&mut self.cpu, &mut v.vma, addr, pfn, size, mode);
                let t1 = obs.stop();
                let hook = if full {
                    Hook::Track
                } else {
                    Hook::SetupCachemode
                };
                obs.record(hook, t0, t1, &HookOutcome::Remap(r));
                if full && let Ok(pcm) = r {
                    v.tracked = true;
                    v.ptes = Some(PfnmapPte { pfn, pcm });
                    self.nr_tracked += 1;
                }
                if let Err(e) = r {
                    self.count_err(e);
                }
            }
            Op::Fault { vma, pfn, .. } => {
                if self.vma_slot(vma).is_none() {
                    return self.count("skipped");
                }
                let t0 = obs.start();
                let cm = self.tracker.vmf_insert_pfn(pfn, FAULT_PROT);
                let t1 = obs.stop();
                obs.record(Hook::Fault, t0, t1, &HookOutcome::Fault(cm));
            }
            Op::Lookup { vma } => {
                let Some(v) = slot_mut(&mut self.vmas, &mut self.hidden, self.next_hidden, vma)
                else {
                    return self.count("skipped");
                };
                let ptes = v.ptes;
                let t0 = obs.start();
                let r = self.tracker.lookup_pfnmap(&v.vma, ptes);
                let t1 = obs.stop();
                obs.record(Hook::Lookup, t0, t1, &HookOutcome::Lookup(r));
            }
            Op::Fork {
                parent,
                child,
                first_vma,
            } => self.fork(obs, parent, child, first_vma),
            Op::Split { vma, at, new_vma } => {
                // mprotect() of [at, end): vma_modify() splits with
                // new_below, so the new struct is the lower part (which
                // keeps the id) and the original struct the upper part.
                let Some(mut orig) = self.take_vma(vma) else {
                    return self.count("skipped");
                };
                match self.split_vma(obs, &mut orig, at, true) {
                    Ok(lower) => {
                        self.put_vma(vma, lower);
                        self.insert_after(vma, new_vma, orig);
                    }
                    Err(_) => self.put_vma(vma, orig),
                }
            }
            Op::Munmap {
                vma,
                off,
                pages,
                new_vma,
            } => self.munmap(obs, vma, off, pages, new_vma),
            Op::Mremap { vma, kind } => self.mremap(obs, vma, kind),
            Op::Exit { pid } => {
                let Some(p) = self.procs.get_mut(pid as usize).and_then(Option::take) else {
                    return self.count("skipped");
                };
                // exit_mmap() -> unmap_vmas(): in address order.
                let mut ids = p.vmas;
                ids.sort_by_cached_key(|&id| self.vm_start(id));
                for id in ids {
                    let v = self.take_vma(id).expect("a process's VMA is live");
                    self.free(obs, v);
                }
            }
            Op::Ioremap {
                id,
                pfn,
                pages,
                mode,
            } => {
                let start = pfn * PAGE_SIZE;
                let end = start + u64::from(pages) * PAGE_SIZE;
                let t0 = obs.start();
                let r = self
                    .tracker
                    .memtype_reserve_io(&mut self.cpu, start, end, mode);
                let t1 = obs.stop();
                obs.record(Hook::Ioremap, t0, t1, &HookOutcome::Ioremap(r));
                match r {
                    Ok(_) => {
                        self.ios.insert(id, (start, end));
                    }
                    Err(e) => self.count_err(e),
                }
            }
            Op::Iounmap { id } => {
                let Some((start, end)) = self.ios.remove(&id) else {
                    return self.count("skipped");
                };
                let t0 = obs.start();
                let r = self.tracker.memtype_free_io(&mut self.cpu, start, end);
                let t1 = obs.stop();
                obs.record(Hook::Iounmap, t0, t1, &HookOutcome::Iounmap(r));
                if let Err(e) = r {
                    self.count_err(e);
                }
            }
        }
    }

    fn fork<O: HookObserver>(&mut self, obs: &mut O, parent: Pid, child: Pid, first_vma: VmaId) {
        let Some(p) = self.proc_mut(parent) else {
            return self.count("skipped");
        };
        let (ids, next_va) = (p.vmas.clone(), p.next_va);
        self.new_proc(child, next_va);
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| self.vm_start(ids[i]));
        let mut copies: Vec<VmaId> = Vec::with_capacity(ids.len());
        let mut failed = false;
        for i in order {
            let id = ids[i];
            let orig = self.take_vma(id).expect("a process's VMA is live");
            let copied = self.dup_mmap_one(obs, &orig);
            self.put_vma(id, orig);
            failed = match copied {
                Ok((mut copy, r)) => {
                    // The copy is in the child's tree before
                    // copy_page_range() runs, so a failure there leaves it
                    // for exit_mmap() to tear down.
                    copy.pid = child;
                    let new_id = first_vma + i as VmaId;
                    self.put_vma(new_id, copy);
                    copies.push(new_id);
                    r.is_err()
                }
                Err(_) => true,
            };
            if failed {
                break;
            }
        }
        if failed {
            // dup_mmap() failed: exit_mmap() tears the half-built child down
            // (copies were made in address order, so they are in it).
            self.count("fork_failed");
            self.procs[child as usize] = None;
            for id in copies {
                let v = self.take_vma(id).expect("child VMA");
                self.free(obs, v);
            }
            return;
        }
        // The child's list in the parent's (creation) order.
        copies.sort_unstable_by_key(|&c| c - first_vma);
        self.proc_mut(child).expect("child").vmas = copies;
    }

    /// `vm_start` of the live VMA `id`.
    fn vm_start(&mut self, id: VmaId) -> u64 {
        self.vma_slot(id).map_or(0, |v| v.vma.vm_start)
    }

    /// One VMA of `dup_mmap()` (kernel/fork.c:700-765 in 6.12.117):
    /// `vm_area_dup()`, `untrack_pfn_clear()` of the copy, and for a
    /// VM_PFNMAP VMA `copy_page_range()`: `track_pfn_copy()`, then the copy
    /// of the page tables (which allocates, so can fail; then
    /// `untrack_pfn_copy()`). The first three are the timed dup. Return:
    /// the copy and `copy_page_range()`'s result, or the dup's error (no
    /// copy then).
    #[allow(clippy::type_complexity)]
    fn dup_mmap_one<O: HookObserver>(
        &mut self,
        obs: &mut O,
        orig: &SimVma<T::VmaState>,
    ) -> KResult<(SimVma<T::VmaState>, KResult<()>)> {
        let key = self.slab.alloc();
        let mut new = orig.vma.dup_shell(key);
        let pfnmap = orig.vma.is_pfnmap();
        let hook = if pfnmap { Hook::Dup } else { Hook::DupPlain };
        let t0 = obs.start();
        let r = self.tracker.vm_area_dup(&mut self.cpu, &orig.vma, &mut new);
        // kernel/fork.c:707 clears VM_PAT only on a VM_PFNMAP copy.
        let copy = r.and_then(|()| {
            if pfnmap {
                self.tracker.untrack_pfn_clear(&mut new);
                self.tracker
                    .track_pfn_copy(&mut self.cpu, &mut new, &orig.vma, orig.ptes)
            } else {
                Ok(None)
            }
        });
        let t1 = obs.stop();
        obs.record(hook, t0, t1, &HookOutcome::Dup(copy.map(|_| ())));
        if let Err(e) = r {
            // kmem_cache_free(): the copy never became a VMA.
            self.slab.free(key);
            self.count_err(e);
            return Err(e);
        }
        self.nr_vmas += 1;
        self.nr_tracked += u64::from(orig.tracked);
        let mut v = SimVma {
            vma: new,
            pid: orig.pid,
            tracked: orig.tracked,
            ptes: None,
        };
        let copied = match copy {
            Ok(pfn) if pfnmap => match self.cpu.alloc(KObj::PageTable) {
                Ok(()) => {
                    v.ptes = orig.ptes;
                    Ok(())
                }
                Err(e) => {
                    if let Some(pfn) = pfn {
                        self.tracker
                            .untrack_pfn_copy(&mut self.cpu, &mut v.vma, pfn);
                    }
                    Err(e)
                }
            },
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = copied {
            self.count_err(e);
        }
        Ok((v, copied))
    }

    /// `do_vmi_munmap()` of `[off, off + pages)` of VMA `id`. As in
    /// `vms_gather_munmap_vmas()` (mm/vma.c), a hole starting inside the
    /// VMA is split off with `new_below` (the new struct keeps the part
    /// before it) and one ending inside it without (the new struct keeps
    /// the part after it): the original struct is always the one freed.
    fn munmap<O: HookObserver>(
        &mut self,
        obs: &mut O,
        id: VmaId,
        off: u32,
        pages: u32,
        new_vma: VmaId,
    ) {
        let Some(total) = self.pages(id) else {
            return self.count("skipped");
        };
        let end = off.saturating_add(pages).min(total);
        if off == 0 && end == total {
            return self.unmap_whole(obs, id);
        }
        let mut orig = self.take_vma(id).expect("live");
        // The part before the hole.
        let before = if off > 0 {
            match self.split_vma(obs, &mut orig, off, true) {
                Ok(lower) => Some(lower),
                Err(_) => return self.put_vma(id, orig),
            }
        } else {
            None
        };
        // The part after the hole (orig now starts at the hole).
        let after = if end < total {
            match self.split_vma(obs, &mut orig, end - off, false) {
                Ok(upper) => Some(upper),
                Err(_) => {
                    // The first split stays, as in the kernel: both pieces
                    // remain mapped, the second under a simulator-made id.
                    let lower = before.expect("a failed second split had a first");
                    self.put_vma(id, lower);
                    let hidden = self.hidden_id();
                    self.insert_after(id, hidden, orig);
                    return;
                }
            }
        } else {
            None
        };
        match (before, after) {
            (Some(lower), Some(upper)) => {
                self.put_vma(id, lower);
                self.insert_after(id, new_vma, upper);
            }
            (Some(survivor), None) | (None, Some(survivor)) => self.put_vma(id, survivor),
            (None, None) => unreachable!("a partial munmap leaves a piece"),
        }
        self.free(obs, orig);
    }

    fn mremap<O: HookObserver>(&mut self, obs: &mut O, id: VmaId, kind: MremapKind) {
        let Some(total) = self.pages(id) else {
            return self.count("skipped");
        };
        match kind {
            // Shrinking unmaps the tail (mremap's shrink_vma() calls
            // do_vmi_munmap()).
            MremapKind::Shrink { pages } if pages < total => {
                self.munmap(obs, id, pages, total - pages, 0);
            }
            MremapKind::Shrink { .. } => {}
            MremapKind::Grow { pages } => {
                let v = self.vma_slot(id).expect("live");
                if v.vma.is_pfnmap() {
                    // vma_to_resize(): VM_DONTEXPAND | VM_PFNMAP cannot grow.
                    return self.count("EFAULT");
                }
                v.vma.vm_end = v.vma.vm_start + u64::from(pages.max(total)) * PAGE_SIZE;
            }
            MremapKind::Move => {
                // copy_vma(): the copy (dup_of) gets the page tables too,
                // as move_page_tables() moves them.
                let Ok(mut moved) = self.dup(obs, id) else {
                    return;
                };
                let len = moved.vma.vm_end - moved.vma.vm_start;
                let p = self.proc_mut(moved.pid).expect("owner");
                let start = p.next_va;
                p.next_va += len + PAGE_SIZE;
                moved.vma.vm_start = start;
                moved.vma.vm_end = start + len;
                let mut old = self.take_vma(id).expect("live");
                old.ptes = None;
                self.put_vma(id, moved);
                self.free_moved(obs, old, true);
            }
        }
    }

    /// Free every VMA and ioremap still alive (end of a run).
    pub fn teardown<O: HookObserver>(&mut self, obs: &mut O) {
        let pids: Vec<Pid> = (0..self.procs.len() as Pid)
            .filter(|&p| self.procs[p as usize].is_some())
            .collect();
        for pid in pids {
            self.apply(obs, &Op::Exit { pid });
        }
        let ids: Vec<IoId> = self.ios.keys().copied().collect();
        for id in ids {
            self.apply(obs, &Op::Iounmap { id });
        }
        debug_assert_eq!(self.nr_vmas, 0);
    }

    /// The slab's view of live VMA structs (a cross-check of `nr_vmas`).
    pub fn slab_live(&self) -> u64 {
        self.slab.live()
    }
}

/// Inspection, for tests and debugging.
impl<T: PfnmapTracking> Sim<'_, T> {
    /// Process `pid`'s VMAs in fork order, as `(id, pages, pfnmap)`.
    pub fn process_vmas(&mut self, pid: Pid) -> Option<Vec<(VmaId, u32, bool)>> {
        let ids = self.procs.get(pid as usize)?.as_ref()?.vmas.clone();
        Some(
            ids.into_iter()
                .map(|id| {
                    let v = self.vma_slot(id).expect("a process's VMA is live");
                    let pages = ((v.vma.vm_end - v.vma.vm_start) / PAGE_SIZE) as u32;
                    (id, pages, v.vma.is_pfnmap())
                })
                .collect(),
        )
    }
}
