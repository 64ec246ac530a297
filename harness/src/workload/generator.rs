//! The seeded workload generator: (scenario, seed, worker) -> op stream.
//!
//! Each worker's stream comes from its own RNG sub-stream (rng.rs) and its
//! own id spaces (every worker drives its own simulator); all workers share
//! the physical layout (layout.rs), so their requests for a BAR agree on its
//! cache mode. A stream has three phases:
//! 1. population: `processes` processes, each mapping K pfnmap and M
//!    ordinary VMAs in a random interleaving; every pfnmap mmap is followed
//!    by what its driver does (full remap, partial remap, or nothing for a
//!    fault-driven driver);
//! 2. churn: weighted actions (mmap, munmap, splits, mremap, fork/exit,
//!    faults, ...) until `churn_ops` ops were emitted;
//! 3. teardown: every process exits, every worker ioremap is iounmapped.
//!
//! Every op is valid for the simulator (`validate.rs` accepts it): the
//! generator keeps a shadow of the mm state. The shadow is built for speed
//! (ids index dense vectors; VMAs and processes sit in swap-remove lists for
//! O(1) uniform choice) and follows the VMA order rule documented in
//! validate.rs. VMA ids are reused once freed: a bitmap allocator hands out
//! the lowest free run that fits (first fit, like
//! `bitmap_find_next_zero_area()`), so fork's contiguous child ids and
//! singles share one compact space, and id-indexed tables in the simulator
//! stay close to the size of the live set.

use std::thread;

use strategies::CacheMode;

use super::Workload;
use super::layout::{Bar, Layout};
use super::op::{IoId, MremapKind, Op, Pid, VmaId};
use super::rng::{Purpose, Weighted, WorkloadRng};
use super::scenario::Scenario;
use crate::limits::MAX_ID;

/// Version of the workload definition. Bump it whenever the ops generated
/// for a given (scenario, seed, worker) change — a new RNG use, a changed
/// preset, a new action — and update the pinned hashes in the tests: old
/// results were measured on other ops.
pub const WORKLOAD_VERSION: u32 = 2;

/// The seed `pfntrack gen` and `run` use unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x7066_6e74; // "pfnt"

/// Generate the workload for `sc`, `seed` and `nr_workers` workers
/// (at least 1), building the worker streams in parallel.
///
/// Panics if `sc` fails [`Scenario::validate`]: validate first (every
/// command does) to get an error message instead.
pub fn generate(sc: &Scenario, seed: u64, nr_workers: u32) -> Workload {
    if let Err(e) = sc.validate() {
        panic!("generate() needs a valid scenario: {e}");
    }
    let layout = Layout::new(sc, seed);
    let nr_workers = nr_workers.max(1);
    let nr_threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(nr_workers as usize);
    let workers = if nr_threads <= 1 {
        (0..nr_workers)
            .map(|w| generate_worker(sc, &layout, seed, w))
            .collect()
    } else {
        // Thread t builds workers t, t + nr_threads, ...; the streams do
        // not depend on which thread built them.
        let layout = &layout;
        let mut built: Vec<(u32, Vec<Op>)> = thread::scope(|s| {
            let handles: Vec<_> = (0..nr_threads as u32)
                .map(|t| {
                    s.spawn(move || {
                        (t..nr_workers)
                            .step_by(nr_threads)
                            .map(|w| (w, generate_worker(sc, layout, seed, w)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("generator thread"))
                .collect()
        });
        built.sort_unstable_by_key(|(w, _)| *w);
        built.into_iter().map(|(_, ops)| ops).collect()
    };
    Workload {
        setup: layout.setup,
        workers,
    }
}

/// One worker's stream over an existing layout (what [`generate`] runs per
/// worker; exposed so a caller can build streams one at a time).
pub fn generate_worker(sc: &Scenario, layout: &Layout, seed: u64, worker: u32) -> Vec<Op> {
    let mut g = Gen::new(
        sc,
        layout,
        WorkloadRng::substream(seed, Purpose::Worker, worker),
    );
    g.populate();
    g.churn();
    g.teardown();
    g.ops
}

/// The churn actions, in the order of `Scenario::action_weights()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Mmap,
    Munmap,
    MunmapPartial,
    Split,
    Mremap,
    Fork,
    Exit,
    Fault,
    PartialRemap,
    Lookup,
    Ioremap,
}

impl Action {
    const ALL: [Action; 11] = [
        Action::Mmap,
        Action::Munmap,
        Action::MunmapPartial,
        Action::Split,
        Action::Mremap,
        Action::Fork,
        Action::Exit,
        Action::Fault,
        Action::PartialRemap,
        Action::Lookup,
        Action::Ioremap,
    ];
}

/// "No index": not in that list.
const NONE: u32 = u32::MAX;

/// A live VMA in the generator's shadow.
#[derive(Debug, Clone, Copy)]
struct VmaSlot {
    /// The pfn page 0 maps (pfnmap VMAs; the window of `bar`).
    pfn: u64,
    /// Owner.
    pid: Pid,
    /// Length.
    pages: u32,
    /// Position in `Gen::live`.
    live_idx: u32,
    /// Position in `Gen::live_pfnmap`, or `NONE` for an ordinary VMA.
    pfnmap_idx: u32,
    /// The BAR it maps (pfnmap VMAs). Full remaps happen only right after
    /// mmap, so no VMA is ever asked to track twice.
    bar: u32,
}

impl VmaSlot {
    fn is_pfnmap(&self) -> bool {
        self.pfnmap_idx != NONE
    }
}

/// A live process in the generator's shadow.
#[derive(Debug, Default, Clone)]
struct ProcSlot {
    /// Its VMAs in the order of validate.rs.
    vmas: Vec<VmaId>,
    /// Position in `Gen::live_procs`.
    live_idx: u32,
    /// Position in `Gen::children`, or `NONE` for a start-up process.
    child_idx: u32,
}

/// First-fit allocator of ids over a bitmap (bit set = id live).
#[derive(Debug, Default)]
struct IdAlloc {
    words: Vec<u64>,
    /// Ids at or above `len` have never been handed out.
    len: u32,
    /// Every id below `hint` is live: searches start here.
    hint: u32,
}

impl IdAlloc {
    #[inline]
    fn word(&self, i: usize) -> u64 {
        self.words.get(i).copied().unwrap_or(0)
    }

    /// First clear bit at or after `from` (bits past the end are clear).
    fn next_zero(&self, from: u32) -> u32 {
        let mut i = (from / 64) as usize;
        let mut w = self.word(i) | ((1u64 << (from % 64)) - 1);
        while w == u64::MAX {
            i += 1;
            w = self.word(i);
        }
        i as u32 * 64 + w.trailing_ones()
    }

    /// First set bit in `[from, to)`, if any.
    fn next_set(&self, from: u32, to: u32) -> Option<u32> {
        let to = to.min(self.len);
        if from >= to {
            return None;
        }
        let mut i = (from / 64) as usize;
        let mut w = self.word(i) & !((1u64 << (from % 64)) - 1);
        loop {
            if w != 0 {
                let bit = i as u32 * 64 + w.trailing_zeros();
                return (bit < to).then_some(bit);
            }
            i += 1;
            if i as u32 * 64 >= to {
                return None;
            }
            w = self.word(i);
        }
    }

    /// First run of `n` clear bits at or after `from` (there is always
    /// one: bits past the end are clear).
    fn find_run(&self, from: u32, n: u32) -> u32 {
        let mut s = from;
        loop {
            s = self.next_zero(s);
            match self.next_set(s, s.saturating_add(n)) {
                None => return s,
                Some(p) => s = p + 1,
            }
        }
    }

    /// Allocate `n >= 1` consecutive ids: the lowest run that fits.
    /// Return: `None` when the run would reach [`MAX_ID`], the limit the
    /// trace parser enforces (the caller does something else).
    fn alloc(&mut self, n: u32) -> Option<VmaId> {
        let lowest = self.next_zero(self.hint);
        let start = self.find_run(lowest, n);
        let end = start.checked_add(n).filter(|&e| e <= MAX_ID)?;
        self.len = self.len.max(end);
        let need = (self.len as usize).div_ceil(64);
        if self.words.len() < need {
            self.words.resize(need, 0);
        }
        for id in start..end {
            self.words[(id / 64) as usize] |= 1 << (id % 64);
        }
        self.hint = if start == lowest { end } else { lowest };
        Some(start)
    }

    fn free(&mut self, id: VmaId) {
        let w = &mut self.words[(id / 64) as usize];
        debug_assert!(*w & (1 << (id % 64)) != 0, "double free of vma id {id}");
        *w &= !(1 << (id % 64));
        self.hint = self.hint.min(id);
    }
}

/// One worker's generator state.
struct Gen<'a> {
    sc: &'a Scenario,
    bars: &'a [Bar],
    rng: WorkloadRng,
    ops: Vec<Op>,

    /// Processes by pid (dead ones have empty lists and are in `free_pids`).
    procs: Vec<ProcSlot>,
    free_pids: Vec<Pid>,
    live_procs: Vec<Pid>,
    /// Start-up processes: fork parents, alive to the end.
    base: Vec<Pid>,
    /// Live forked children.
    children: Vec<Pid>,

    /// VMAs by id (only live ids are meaningful).
    vmas: Vec<VmaSlot>,
    ids: IdAlloc,
    live: Vec<VmaId>,
    live_pfnmap: Vec<VmaId>,
    vma_cap: usize,

    /// Worker ioremaps: live ones with their pages, and ids to reuse.
    io_live: Vec<IoId>,
    io_free: Vec<IoId>,
    io_next: IoId,

    actions: Option<Weighted>,
    driver: Option<Weighted>,
    mremap_kinds: Option<Weighted>,
}

impl<'a> Gen<'a> {
    fn new(sc: &'a Scenario, layout: &'a Layout, rng: WorkloadRng) -> Self {
        let start_vmas = sc.processes as usize
            * (sc.pfnmap_vmas_per_process + sc.ordinary_vmas_per_process) as usize;
        Gen {
            sc,
            bars: &layout.bars,
            rng,
            ops: Vec::with_capacity(start_vmas * 2 + sc.churn_ops as usize + 64),
            procs: vec![ProcSlot::default()], // pid 0 is never used
            free_pids: Vec::new(),
            live_procs: Vec::new(),
            base: Vec::new(),
            children: Vec::new(),
            vmas: Vec::with_capacity(start_vmas),
            ids: IdAlloc::default(),
            live: Vec::with_capacity(start_vmas),
            live_pfnmap: Vec::new(),
            vma_cap: sc.vmas_per_process_cap() as usize,
            io_live: Vec::new(),
            io_free: Vec::new(),
            io_next: layout.first_worker_ioremap_id(),
            actions: Weighted::new(&sc.action_weights()),
            driver: Weighted::new(&[
                sc.driver_remap_full_weight,
                sc.driver_remap_partial_weight,
                sc.driver_fault_only_weight,
            ]),
            mremap_kinds: Weighted::new(&[
                sc.mremap_move_weight,
                sc.mremap_shrink_weight,
                sc.mremap_grow_weight,
            ]),
        }
    }

    // --- shadow bookkeeping ---

    fn new_proc(&mut self, child: bool) -> Pid {
        let pid = match self.free_pids.pop() {
            Some(p) => p,
            None => {
                self.procs.push(ProcSlot::default());
                (self.procs.len() - 1) as Pid
            }
        };
        let slot = &mut self.procs[pid as usize];
        slot.live_idx = self.live_procs.len() as u32;
        self.live_procs.push(pid);
        slot.child_idx = if child {
            self.children.push(pid);
            (self.children.len() - 1) as u32
        } else {
            NONE
        };
        pid
    }

    /// Link a fresh VMA slot into the live lists (not into its process).
    fn link(&mut self, id: VmaId, mut slot: VmaSlot, pfnmap: bool) {
        slot.live_idx = self.live.len() as u32;
        self.live.push(id);
        slot.pfnmap_idx = if pfnmap {
            self.live_pfnmap.push(id);
            (self.live_pfnmap.len() - 1) as u32
        } else {
            NONE
        };
        let i = id as usize;
        if i >= self.vmas.len() {
            self.vmas.resize(
                i + 1,
                VmaSlot {
                    pfn: 0,
                    pid: 0,
                    pages: 0,
                    live_idx: NONE,
                    pfnmap_idx: NONE,
                    bar: 0,
                },
            );
        }
        self.vmas[i] = slot;
    }

    /// Unlink a VMA from the live lists and free its id (not from its
    /// process's list).
    fn unlink(&mut self, id: VmaId) {
        let slot = self.vmas[id as usize];
        let moved = *self.live.last().expect("live");
        self.live.swap_remove(slot.live_idx as usize);
        if moved != id {
            self.vmas[moved as usize].live_idx = slot.live_idx;
        }
        if slot.is_pfnmap() {
            let moved = *self.live_pfnmap.last().expect("live");
            self.live_pfnmap.swap_remove(slot.pfnmap_idx as usize);
            if moved != id {
                self.vmas[moved as usize].pfnmap_idx = slot.pfnmap_idx;
            }
        }
        self.ids.free(id);
    }

    fn position(&self, pid: Pid, id: VmaId) -> usize {
        self.procs[pid as usize]
            .vmas
            .iter()
            .position(|&v| v == id)
            .expect("a live VMA is in its process's list")
    }

    /// A copy of `of`'s slot for a piece starting `skip` pages further.
    fn piece(&self, of: VmaId, skip: u32, pages: u32) -> VmaSlot {
        let s = self.vmas[of as usize];
        VmaSlot {
            pfn: s.pfn + u64::from(skip),
            pages,
            ..s
        }
    }

    /// Insert `new` (already linked) right after `after` in their process.
    fn insert_after(&mut self, after: VmaId, new: VmaId) {
        let pid = self.vmas[after as usize].pid;
        let pos = self.position(pid, after);
        self.procs[pid as usize].vmas.insert(pos + 1, new);
    }

    fn remove_vma(&mut self, id: VmaId) {
        let pid = self.vmas[id as usize].pid;
        let pos = self.position(pid, id);
        self.procs[pid as usize].vmas.remove(pos);
        self.unlink(id);
    }

    fn at_cap(&self, pid: Pid) -> bool {
        self.procs[pid as usize].vmas.len() >= self.vma_cap
    }

    /// The mode a request for `bar` asks for: its own, or with
    /// `conflict_probability` any other.
    fn mode_for(&mut self, bar: u32) -> CacheMode {
        let mode = self.bars[bar as usize].mode;
        let p = self.sc.conflict_probability;
        if p > 0.0 && self.rng.chance(p) {
            let others: Vec<CacheMode> =
                CacheMode::ALL.into_iter().filter(|&m| m != mode).collect();
            others[self.rng.index(others.len())]
        } else {
            mode
        }
    }

    // --- actions; each emits at least one op ---

    /// `mmap()` a VMA in `pid`, then (pfnmap) what its driver does.
    fn mmap(&mut self, pid: Pid, pfnmap: bool) {
        let sc = self.sc;
        let Some(id) = self.ids.alloc(1) else {
            // Every id below MAX_ID is live (only churn gets here: a
            // scenario starts with at most half of them): unmap one.
            let victim = self.random_vma().expect("all ids live: VMAs exist");
            self.munmap_whole(victim);
            return;
        };
        let (pages, pfn, bar) = if pfnmap {
            let bar = self.rng.index(self.bars.len()) as u32;
            let b = self.bars[bar as usize];
            let pages = self.rng.range_u32(
                sc.pfnmap_vma_pages_min,
                sc.pfnmap_vma_pages_max.min(b.pages),
            );
            let off = self.rng.range_u32(0, b.pages - pages);
            (pages, b.pfn + u64::from(off), bar)
        } else {
            let pages = self
                .rng
                .range_u32(sc.ordinary_vma_pages_min, sc.ordinary_vma_pages_max);
            (pages, 0, 0)
        };
        self.ops.push(Op::Mmap {
            pid,
            vma: id,
            pages,
            pfnmap,
        });
        let slot = VmaSlot {
            pfn,
            pid,
            pages,
            live_idx: NONE,
            pfnmap_idx: NONE,
            bar,
        };
        self.link(id, slot, pfnmap);
        self.procs[pid as usize].vmas.push(id);
        if !pfnmap {
            return;
        }
        let what = self.driver.as_ref().expect("validated").pick(&mut self.rng);
        // A one-page VMA cannot be remapped in part: the driver maps it all.
        let full = what == 0 || (what == 1 && pages == 1);
        if full {
            let mode = self.mode_for(bar);
            self.ops.push(Op::Remap {
                vma: id,
                off: 0,
                pages,
                pfn,
                mode,
            });
        } else if what == 1 {
            self.partial_remap_of(id);
        }
        // else fault-driven: pfns arrive with faults.
    }

    /// `remap_pfn_range()` of a strict part of pfnmap VMA `id` (>= 2 pages).
    fn partial_remap_of(&mut self, id: VmaId) {
        let s = self.vmas[id as usize];
        debug_assert!(s.pages >= 2);
        let pages = self.rng.range_u32(1, s.pages - 1);
        let off = self.rng.range_u32(0, s.pages - pages);
        let mode = self.mode_for(s.bar);
        self.ops.push(Op::Remap {
            vma: id,
            off,
            pages,
            pfn: s.pfn + u64::from(off),
            mode,
        });
    }

    fn random_vma(&mut self) -> Option<VmaId> {
        (!self.live.is_empty()).then(|| self.live[self.rng.index(self.live.len())])
    }

    fn random_pfnmap_vma(&mut self) -> Option<VmaId> {
        (!self.live_pfnmap.is_empty())
            .then(|| self.live_pfnmap[self.rng.index(self.live_pfnmap.len())])
    }

    /// mmap in a random process, or munmap there when it is full.
    fn act_mmap(&mut self) {
        let pid = self.live_procs[self.rng.index(self.live_procs.len())];
        let vmas = &self.procs[pid as usize].vmas;
        if self.at_cap(pid) {
            let id = vmas[self.rng.index(vmas.len())];
            self.munmap_whole(id);
        } else {
            let pfnmap = !self.bars.is_empty() && self.rng.chance(self.sc.churn_pfnmap_probability);
            self.mmap(pid, pfnmap);
        }
    }

    fn munmap_whole(&mut self, id: VmaId) {
        let pages = self.vmas[id as usize].pages;
        self.ops.push(Op::Munmap {
            vma: id,
            off: 0,
            pages,
            new_vma: 0,
        });
        self.remove_vma(id);
    }

    fn act_munmap(&mut self) -> bool {
        let Some(id) = self.random_vma() else {
            return false;
        };
        self.munmap_whole(id);
        true
    }

    /// munmap the head, tail or middle of a random VMA.
    fn act_munmap_partial(&mut self) -> bool {
        let Some(id) = self.random_vma() else {
            return false;
        };
        let s = self.vmas[id as usize];
        if s.pages < 2 {
            self.munmap_whole(id);
            return true;
        }
        let middle_ok = s.pages >= 3 && !self.at_cap(s.pid);
        let kind = self.rng.below(if middle_ok { 3 } else { 2 });
        match kind {
            0 => {
                // Head: `id` keeps the upper part.
                let n = self.rng.range_u32(1, s.pages - 1);
                self.ops.push(Op::Munmap {
                    vma: id,
                    off: 0,
                    pages: n,
                    new_vma: 0,
                });
                let v = &mut self.vmas[id as usize];
                v.pfn += u64::from(n);
                v.pages -= n;
            }
            1 => {
                let n = self.rng.range_u32(1, s.pages - 1);
                self.ops.push(Op::Munmap {
                    vma: id,
                    off: s.pages - n,
                    pages: n,
                    new_vma: 0,
                });
                self.vmas[id as usize].pages -= n;
            }
            _ => {
                let off = self.rng.range_u32(1, s.pages - 2);
                let n = self.rng.range_u32(1, s.pages - 1 - off);
                let Some(new) = self.ids.alloc(1) else {
                    self.munmap_whole(id);
                    return true;
                };
                self.ops.push(Op::Munmap {
                    vma: id,
                    off,
                    pages: n,
                    new_vma: new,
                });
                let end = off + n;
                let tail = self.piece(id, end, s.pages - end);
                self.vmas[id as usize].pages = off;
                self.link(new, tail, s.is_pfnmap());
                self.insert_after(id, new);
            }
        }
        true
    }

    /// mprotect() splits a random VMA.
    fn act_split(&mut self) -> bool {
        let Some(id) = self.random_vma() else {
            return false;
        };
        let s = self.vmas[id as usize];
        if s.pages < 2 || self.at_cap(s.pid) {
            self.munmap_whole(id);
            return true;
        }
        let at = self.rng.range_u32(1, s.pages - 1);
        let Some(new) = self.ids.alloc(1) else {
            self.munmap_whole(id);
            return true;
        };
        self.ops.push(Op::Split {
            vma: id,
            at,
            new_vma: new,
        });
        let upper = self.piece(id, at, s.pages - at);
        self.vmas[id as usize].pages = at;
        self.link(new, upper, s.is_pfnmap());
        self.insert_after(id, new);
        true
    }

    fn act_mremap(&mut self) -> bool {
        let Some(id) = self.random_vma() else {
            return false;
        };
        let s = self.vmas[id as usize];
        let kind = self
            .mremap_kinds
            .as_ref()
            .expect("validated")
            .pick(&mut self.rng);
        let kind = match kind {
            1 if s.pages >= 2 => {
                let pages = self.rng.range_u32(1, s.pages - 1);
                self.vmas[id as usize].pages = pages;
                MremapKind::Shrink { pages }
            }
            2 => {
                let add = self.rng.range_u32(1, self.sc.mremap_grow_pages_max);
                let pages = s.pages.saturating_add(add).min(super::scenario::MAX_PAGES);
                if pages == s.pages {
                    MremapKind::Move
                } else {
                    if !s.is_pfnmap() {
                        self.vmas[id as usize].pages = pages;
                    }
                    // A pfnmap grow is emitted anyway: the refusal
                    // (VM_DONTEXPAND) is part of what the scenario models.
                    MremapKind::Grow { pages }
                }
            }
            _ => MremapKind::Move,
        };
        self.ops.push(Op::Mremap { vma: id, kind });
        true
    }

    fn exit(&mut self, pid: Pid) {
        self.ops.push(Op::Exit { pid });
        let slot = std::mem::take(&mut self.procs[pid as usize]);
        for &id in &slot.vmas {
            self.unlink(id);
        }
        let moved = *self.live_procs.last().expect("live");
        self.live_procs.swap_remove(slot.live_idx as usize);
        if moved != pid {
            self.procs[moved as usize].live_idx = slot.live_idx;
        }
        if slot.child_idx != NONE {
            let moved = *self.children.last().expect("live");
            self.children.swap_remove(slot.child_idx as usize);
            if moved != pid {
                self.procs[moved as usize].child_idx = slot.child_idx;
            }
        }
        // Keep the list's allocation for the next process with this pid.
        let mut vmas = slot.vmas;
        vmas.clear();
        self.procs[pid as usize].vmas = vmas;
        self.free_pids.push(pid);
    }

    fn act_fork(&mut self) {
        if self.children.len() >= self.sc.max_children as usize {
            let victim = self.children[self.rng.index(self.children.len())];
            self.exit(victim);
        }
        let parent = self.base[self.rng.index(self.base.len())];
        let n = self.procs[parent as usize].vmas.len() as u32;
        let first = if n == 0 {
            0
        } else if let Some(first) = self.ids.alloc(n) {
            first
        } else {
            // No run of n ids below MAX_ID: unmap instead.
            let vmas = &self.procs[parent as usize].vmas;
            let victim = vmas[self.rng.index(vmas.len())];
            self.munmap_whole(victim);
            return;
        };
        let child = self.new_proc(true);
        self.ops.push(Op::Fork {
            parent,
            child,
            first_vma: first,
        });
        let mut list = std::mem::take(&mut self.procs[child as usize].vmas);
        list.clear();
        list.reserve(n as usize);
        for i in 0..n {
            let orig = self.procs[parent as usize].vmas[i as usize];
            let s = self.vmas[orig as usize];
            let copy = first + i;
            self.link(copy, VmaSlot { pid: child, ..s }, s.is_pfnmap());
            list.push(copy);
        }
        self.procs[child as usize].vmas = list;
    }

    fn act_exit(&mut self) -> bool {
        if self.children.is_empty() {
            return false;
        }
        let pid = self.children[self.rng.index(self.children.len())];
        self.exit(pid);
        true
    }

    fn act_fault(&mut self) -> bool {
        let Some(id) = self.random_pfnmap_vma() else {
            return false;
        };
        let s = self.vmas[id as usize];
        let burst = self
            .rng
            .range_u32(1, self.sc.fault_burst_pages_max.min(s.pages));
        let start = self.rng.range_u32(0, s.pages - burst);
        for off in start..start + burst {
            self.ops.push(Op::Fault {
                vma: id,
                off,
                pfn: s.pfn + u64::from(off),
            });
        }
        true
    }

    fn act_partial_remap(&mut self) -> bool {
        let Some(id) = self.random_pfnmap_vma() else {
            return false;
        };
        if self.vmas[id as usize].pages < 2 {
            self.ops.push(Op::Lookup { vma: id });
        } else {
            self.partial_remap_of(id);
        }
        true
    }

    fn act_lookup(&mut self) -> bool {
        let Some(id) = self.random_vma() else {
            return false;
        };
        self.ops.push(Op::Lookup { vma: id });
        true
    }

    /// A driver ioremaps a BAR window, or iounmaps one of its earlier ones.
    fn act_ioremap(&mut self) {
        let full = self.io_live.len() >= self.sc.max_worker_ioremaps as usize;
        if !self.io_live.is_empty() && (full || self.rng.chance(0.5)) {
            let i = self.rng.index(self.io_live.len());
            let id = self.io_live.swap_remove(i);
            self.ops.push(Op::Iounmap { id });
            self.io_free.push(id);
            return;
        }
        let bar = self.rng.index(self.bars.len()) as u32;
        let b = self.bars[bar as usize];
        let pages = self
            .rng
            .range_u32(1, self.sc.ioremap_pages_max.min(b.pages));
        let off = self.rng.range_u32(0, b.pages - pages);
        let mode = self.mode_for(bar);
        let id = self.io_free.pop().unwrap_or_else(|| {
            self.io_next += 1;
            self.io_next - 1
        });
        self.io_live.push(id);
        self.ops.push(Op::Ioremap {
            id,
            pfn: b.pfn + u64::from(off),
            pages,
            mode,
        });
    }

    // --- phases ---

    fn populate(&mut self) {
        let sc = self.sc;
        for _ in 0..sc.processes {
            let pid = self.new_proc(false);
            self.base.push(pid);
            self.ops.push(Op::Proc { pid });
            // A random interleaving with exactly K pfnmap and M ordinary.
            let (mut k, mut m) = (sc.pfnmap_vmas_per_process, sc.ordinary_vmas_per_process);
            while k + m > 0 {
                let pfnmap = self.rng.below(u64::from(k + m)) < u64::from(k);
                if pfnmap {
                    k -= 1;
                } else {
                    m -= 1;
                }
                self.mmap(pid, pfnmap);
            }
        }
    }

    fn churn(&mut self) {
        let Some(actions) = self.actions.take() else {
            return;
        };
        let start = self.ops.len();
        while self.ops.len() - start < self.sc.churn_ops as usize {
            let done = match Action::ALL[actions.pick(&mut self.rng)] {
                Action::Mmap => {
                    self.act_mmap();
                    true
                }
                Action::Munmap => self.act_munmap(),
                Action::MunmapPartial => self.act_munmap_partial(),
                Action::Split => self.act_split(),
                Action::Mremap => self.act_mremap(),
                Action::Fork => {
                    self.act_fork();
                    true
                }
                Action::Exit => self.act_exit(),
                Action::Fault => self.act_fault(),
                Action::PartialRemap => self.act_partial_remap(),
                Action::Lookup => self.act_lookup(),
                Action::Ioremap => {
                    self.act_ioremap();
                    true
                }
            };
            if !done {
                // Nothing to act on (no VMA, no child): map something,
                // which always emits an op.
                self.act_mmap();
            }
        }
        self.actions = Some(actions);
    }

    fn teardown(&mut self) {
        while let Some(&pid) = self.children.last() {
            self.exit(pid);
        }
        for i in 0..self.base.len() {
            self.exit(self.base[i]);
        }
        debug_assert!(self.live.is_empty() && self.live_procs.is_empty());
        let mut io = std::mem::take(&mut self.io_live);
        io.sort_unstable();
        self.ops.extend(io.into_iter().map(|id| Op::Iounmap { id }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::validate::{MmShadow, validate_workload};

    /// `run --threads N` generates once for N workers and runs the first
    /// t streams for t threads: that is only the same measurement if a
    /// worker's stream does not depend on the number of workers.
    #[test]
    fn a_workers_stream_does_not_depend_on_the_worker_count() {
        let sc = Scenario::preset("mixed").unwrap().quick();
        let three = generate(&sc, 11, 3);
        let five = generate(&sc, 11, 5);
        assert_eq!(three.setup, five.setup);
        assert_eq!(three.workers[..], five.workers[..3]);
        assert_ne!(five.workers[3], five.workers[4], "streams differ by worker");
    }

    /// The largest start a scenario may ask for leaves half the id space
    /// to churn (and `IdAlloc` never goes past it: see below); one more
    /// process is refused, naming the field.
    #[test]
    fn scenario_starts_are_bounded_by_the_id_limit() {
        assert!(crate::limits::MAX_START_VMAS * 2 <= u64::from(MAX_ID));
        let mut sc = Scenario::preset("split-churn").unwrap();
        sc.pfnmap_vmas_per_process = 1;
        sc.ordinary_vmas_per_process = 63;
        sc.processes = (crate::limits::MAX_START_VMAS / 64) as u32;
        sc.validate().unwrap();
        sc.processes += 1;
        let err = sc.validate().unwrap_err().to_string();
        assert!(err.contains("`processes`"), "{err}");
    }

    #[test]
    fn id_alloc_reuses_and_finds_runs() {
        let mut a = IdAlloc::default();
        assert_eq!(a.alloc(3), Some(0));
        assert_eq!(a.alloc(1), Some(3));
        a.free(1);
        // First fit: the hole.
        assert_eq!(a.alloc(1), Some(1));
        assert_eq!(a.alloc(1), Some(4));
        // A run of 2 does not fit a freed single: it goes above.
        a.free(2);
        assert_eq!(a.alloc(2), Some(5));
        assert_eq!(a.alloc(1), Some(2));
        // 130 ids across word boundaries, then a hole of exactly that size.
        let base = a.alloc(130).unwrap();
        assert_eq!(base, 7);
        assert_eq!(a.alloc(1), Some(137));
        for id in base..base + 130 {
            a.free(id);
        }
        a.free(0);
        assert_eq!(a.alloc(130), Some(base));
        assert_eq!(a.alloc(1), Some(0));
        assert_eq!(a.alloc(1), Some(138));
        // Never an id at or past MAX_ID, the trace parser's limit.
        assert_eq!(a.alloc(MAX_ID), None);
        let mut full = IdAlloc::default();
        assert_eq!(full.alloc(MAX_ID - 1), Some(0));
        assert_eq!(full.alloc(1), Some(MAX_ID - 1));
        assert_eq!(full.alloc(1), None);
        full.free(5);
        assert_eq!(full.alloc(2), None, "no run of two");
        assert_eq!(full.alloc(1), Some(5));
    }

    fn small(preset: &str) -> Scenario {
        let mut s = Scenario::preset(preset).unwrap();
        s.churn_ops = 3_000;
        s.ioremaps = 50;
        s.processes = s.processes.min(6);
        s
    }

    #[test]
    fn every_preset_generates_valid_streams() {
        for name in Scenario::PRESETS {
            let sc = small(name);
            let w = generate(&sc, 11, 2);
            assert_eq!(w.workers.len(), 2);
            let stats = validate_workload(&w).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(stats.end_live_vmas, 0, "{name}");
            assert_eq!(stats.end_live_processes, 0, "{name}");
            for ops in &w.workers {
                let churn_and_more = ops.len() as u64;
                assert!(churn_and_more >= u64::from(sc.churn_ops), "{name}");
            }
            assert_ne!(w.workers[0], w.workers[1], "{name}: workers differ");
        }
    }

    #[test]
    fn presets_do_what_they_say() {
        let st = |name: &str| validate_workload(&generate(&small(name), 1, 1)).unwrap();
        let d = st("driver-mmap");
        assert!(d.full_remaps > 500 && d.vma_frees > 500, "{d:?}");
        let f = st("fork-storm");
        assert!(f.forks > 500 && f.vma_dups > 50 * f.forks, "{f:?}");
        let s = st("split-churn");
        assert!(s.vma_dups > 1000, "{s:?}");
        let m = st("mremap");
        assert!(m.pfnmap_grows_refused > 0, "{m:?}");
        let h = st("fault-heavy");
        assert!(h.faults > 2000, "{h:?}");
        let x = st("mixed");
        assert!(
            x.forks > 0 && x.faults > 0 && x.ioremaps > 50 && x.partial_remaps > 0,
            "{x:?}"
        );
    }

    #[test]
    fn same_inputs_same_ops() {
        let sc = small("mixed");
        assert_eq!(generate(&sc, 5, 2), generate(&sc, 5, 2));
        // A worker's stream does not depend on how many workers there are.
        assert_eq!(
            generate(&sc, 5, 1).workers[0],
            generate(&sc, 5, 3).workers[0]
        );
        assert_ne!(generate(&sc, 5, 1), generate(&sc, 6, 1));
    }

    #[test]
    fn ids_stay_compact() {
        // Ids are reused: the largest VMA id stays near the peak live count.
        let sc = small("fork-storm");
        let w = generate(&sc, 2, 1);
        let stats = validate_workload(&w).unwrap();
        let max_id = w.workers[0]
            .iter()
            .filter_map(|op| match *op {
                Op::Mmap { vma, .. } => Some(vma),
                Op::Fork { first_vma, .. } => Some(first_vma + 200),
                Op::Split { new_vma, .. } => Some(new_vma),
                _ => None,
            })
            .max()
            .unwrap();
        assert!(
            u64::from(max_id) < 2 * stats.peak_live_vmas + 1000,
            "max id {max_id}, peak {}",
            stats.peak_live_vmas
        );
    }

    #[test]
    fn conflicts_only_when_asked() {
        let layout_modes = |sc: &Scenario| {
            let l = Layout::new(sc, 4);
            l.bars
        };
        let mut sc = small("driver-mmap");
        let bars = layout_modes(&sc);
        let bar_of = |pfn: u64| {
            bars.iter()
                .find(|b| b.pfn <= pfn && pfn < b.pfn + u64::from(b.pages))
                .unwrap()
        };
        let count_off = |w: &Workload| {
            w.workers[0]
                .iter()
                .filter(
                    |op| matches!(op, Op::Remap { pfn, mode, .. } if *mode != bar_of(*pfn).mode),
                )
                .count()
        };
        assert_eq!(count_off(&generate(&sc, 4, 1)), 0);
        sc.conflict_probability = 0.5;
        assert!(count_off(&generate(&sc, 4, 1)) > 100);
    }

    #[test]
    fn fork_storm_scales_to_a_million_vmas() {
        let mut sc = Scenario::preset("fork-storm").unwrap();
        sc.processes = 1000;
        sc.pfnmap_vmas_per_process = 100;
        sc.ordinary_vmas_per_process = 900;
        sc.churn_ops = 200;
        sc.ioremaps = 10;
        let w = generate(&sc, 1, 1);
        let mut sh = MmShadow::for_worker(&w.setup);
        let mut peak = 0;
        for op in &w.workers[0] {
            sh.apply(op).unwrap();
            if let Op::Fork { .. } = op {
                peak = peak.max(sh.stats().end_live_vmas);
            }
        }
        assert!(peak >= 1_000_000, "{peak}");
        assert!(sh.stats().peak_live_pfnmap_vmas >= 100_000);
    }

    /// FNV-1a over the ops' trace text: stable across platforms and Rust
    /// releases (unlike `DefaultHasher`).
    fn fingerprint(w: &Workload) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |s: &str| {
            for b in s.bytes().chain(*b"\n") {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat("setup");
        w.setup.iter().for_each(|op| eat(&op.to_string()));
        for (i, ops) in w.workers.iter().enumerate() {
            eat(&format!("worker {i}"));
            ops.iter().for_each(|op| eat(&op.to_string()));
        }
        h
    }

    /// The workload definition is pinned: these hashes change only when
    /// the ops for a (scenario, seed) change. That must be deliberate:
    /// bump `WORKLOAD_VERSION`, say why in the commit, then update them.
    #[test]
    fn workloads_are_pinned() {
        assert_eq!(WORKLOAD_VERSION, 2);
        let pinned: [(&str, u64); 7] = [
            ("driver-mmap", 5223270114742049908),
            ("fork-storm", 1342205571791753016),
            ("split-churn", 4453697127204960973),
            ("mremap", 8864313676706725501),
            ("fault-heavy", 1258674703261008698),
            ("mixed", 13629058983409619803),
            ("sysfs-bars", 11553728135211461729),
        ];
        let mut got = Vec::new();
        for (name, _) in pinned {
            let sc = Scenario::preset(name).unwrap().quick();
            got.push((name, fingerprint(&generate(&sc, 1, 2))));
        }
        assert_eq!(
            got, pinned,
            "the workload changed: see the comment on this test"
        );
    }
}
