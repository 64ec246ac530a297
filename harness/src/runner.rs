//! The measurement runner: runs a generated (or replayed) workload through
//! each design, `repeats` times, at each thread count, timing every hook
//! call and sampling memory, and turns that into a [`ScenarioResult`].
//!
//! Fairness rules it keeps: the op streams are generated once per thread
//! count, before any timing, and replayed unchanged to every design; the
//! designs are interleaved within each repeat (with a rotating order) so
//! drift on a noisy machine spreads over all of them; the design type is
//! chosen once per run (`with_tracker!`), so the timed loop is
//! monomorphic; and after each run the design must hold nothing but the
//! setup's ioremaps and what its own model says its kernel leaks (the
//! `legacy` design's VM_PAT leaks, by its own count of reservations no
//! free erased), or the run fails loudly (an unmodelled leak would
//! flatter it).

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use strategies::kmem::{Cpu, KObj};
use strategies::{Footprint, PfnmapTracking, Strategy, TrackerConfig, with_tracker};

use crate::measure::heap;
use crate::measure::histogram::HookHistograms;
use crate::measure::hook::Hook;
use crate::measure::memory::{MemoryModel, footprint_minus};
use crate::measure::progress::Progress;
use crate::measure::timer::{ClockUser, CycleTimer, Timer};
use crate::results::{
    DesignResult, KernelMemory, MemoryResult, MemorySample, RepeatResult, ScenarioResult,
};
use crate::sim::mm::{HookObserver, HookOutcome, Sim, Unobserved};
use crate::sim::slab::VmaSlab;
use crate::workload::Op;
use crate::workload::Workload;
use crate::workload::rng::{Purpose, WorkloadRng};

/// Memory is sampled at most every this many ops of worker 0 (outside any
/// timed region; a footprint read is a lock and a few loads), and the
/// heap peak is folded in at this cadence.
const MEMORY_SAMPLE_EVERY: usize = 4096;
/// Memory samples aimed at per run: short (`--quick`) streams are sampled
/// more often than every [`MEMORY_SAMPLE_EVERY`] ops, so the memory chart
/// shows a curve at every size, not three points.
const MEMORY_SAMPLES_WANTED: usize = 256;
/// Points kept of the memory-over-time series.
const MAX_MEMORY_SAMPLES: usize = 400;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Designs, baseline first.
    pub strategies: Vec<Strategy>,
    /// Repeats per design and thread count.
    pub repeats: u32,
    /// The design configuration (PAT, physical map, limits).
    pub tracker: TrackerConfig,
    /// Prices objects and the per-VMA field.
    pub memory: MemoryModel,
    /// Seed for everything the runner itself draws (slab pages).
    pub seed: u64,
    /// No progress bar.
    pub quiet: bool,
}

/// A workload to measure, at one thread count.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Worker threads: the first `threads` streams of `workload` run.
    pub threads: u32,
    /// The ops. Worker `w`'s stream does not depend on how many workers
    /// a workload has, so one workload generated for the most threads
    /// serves every thread count of a run: memory grows with the threads,
    /// not with their sum.
    pub workload: Arc<Workload>,
}

impl Prepared {
    /// The streams that run: the first `threads` of the workload.
    pub fn workers(&self) -> &[Vec<Op>] {
        let n = (self.threads as usize).min(self.workload.workers.len());
        &self.workload.workers[..n]
    }
}

/// Times hook calls into per-hook histograms with the bare clock `C`
/// (no branch on the clock kind inside a timed region).
struct Timing<'a, C: CycleTimer> {
    clock: &'a C,
    hists: HookHistograms,
}

impl<C: CycleTimer> HookObserver for Timing<'_, C> {
    #[inline(always)]
    fn start(&mut self) -> u64 {
        self.clock.start()
    }

    #[inline(always)]
    fn stop(&mut self) -> u64 {
        self.clock.stop()
    }

    #[inline(always)]
    fn record(&mut self, hook: Hook, start: u64, stop: u64, _outcome: &HookOutcome) {
        // Raw ticks: the overhead comes off when summarising (see
        // measure::histogram for why not here).
        self.hists.record(hook, stop.wrapping_sub(start));
    }
}

/// What one worker brings back.
struct WorkerOut {
    hists: HookHistograms,
    errors: BTreeMap<String, u64>,
    cpu: Cpu,
    /// This worker's counts at its own peak and after its last op.
    peak: Counts,
    end: Counts,
    samples: Vec<MemorySample>,
    /// Most memtype entries this worker's allocations held at once.
    reservations_peak: u64,
    /// When this worker started and finished its stream.
    began: Instant,
    finished: Instant,
}

/// Keep at most `max` evenly spread points (always the last one).
fn decimate(v: Vec<MemorySample>, max: usize) -> Vec<MemorySample> {
    if v.len() <= max {
        return v;
    }
    let step = v.len().div_ceil(max);
    let last = *v.last().expect("non-empty");
    let mut out: Vec<_> = v.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// What the allocator counters of one worker say at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Counts {
    fp: Footprint,
    nr_vmas: u64,
    nr_tracked: u64,
}

impl Counts {
    fn of<T: PfnmapTracking>(sim: &Sim<'_, T>) -> Counts {
        Counts {
            fp: MemoryModel::footprint_of(sim.cpu(), T::VMA_FIELD_BYTES),
            nr_vmas: sim.nr_vmas(),
            nr_tracked: sim.nr_tracked_vmas(),
        }
    }

    /// Whether some figure is above `other`'s: only then can the kernel
    /// bytes be higher (they grow with every count), so the pricing is
    /// skipped on the ops where nothing grew.
    fn exceeds(&self, other: &Counts) -> bool {
        let (a, b) = (&self.fp, &other.fp);
        a.pfnmap_track_ctx > b.pfnmap_track_ctx
            || a.memtype > b.memtype
            || a.xa_node > b.xa_node
            || a.memtype_vma_link > b.memtype_vma_link
            || self.nr_vmas > other.nr_vmas
    }

    fn price(&self, model: &MemoryModel) -> KernelMemory {
        model.price(&self.fp, self.nr_vmas, self.nr_tracked)
    }

    fn plus(&self, o: &Counts) -> Counts {
        let (a, b) = (&self.fp, &o.fp);
        Counts {
            fp: Footprint {
                pfnmap_track_ctx: a.pfnmap_track_ctx + b.pfnmap_track_ctx,
                memtype: a.memtype + b.memtype,
                xa_node: a.xa_node + b.xa_node,
                memtype_vma_link: a.memtype_vma_link + b.memtype_vma_link,
                vma_field_bytes: a.vma_field_bytes.max(b.vma_field_bytes),
            },
            nr_vmas: self.nr_vmas + o.nr_vmas,
            nr_tracked: self.nr_tracked + o.nr_tracked,
        }
    }
}

/// Run one worker's stream on its own mm world.
///
/// Memory is followed with this worker's allocator counters (no locks, no
/// shared state): after every op in every repeat, so the peak is exact and
/// every repeat pays the same bookkeeping. The counters are net of the
/// setup's background ioremaps, which another CPU allocated.
#[allow(clippy::too_many_arguments)]
fn run_worker<T: PfnmapTracking, C: CycleTimer>(
    tracker: &T,
    ops: &[Op],
    worker: usize,
    opts: &RunOptions,
    clock: &C,
    start: &Barrier,
    background: &Footprint,
    alone: bool,
) -> anyhow::Result<WorkerOut> {
    let geo = opts.memory.vma_slab_geometry(T::VMA_FIELD_BYTES > 0);
    let slab = VmaSlab::new(
        geo,
        WorkloadRng::substream(opts.seed, Purpose::VmaSlab, worker as u32),
    );
    let mut sim = Sim::new(tracker, Cpu::new(worker), slab);
    let mut obs = Timing {
        clock,
        hists: HookHistograms::new(),
    };
    let model = &opts.memory;
    let (mut peak, mut peak_bytes) = (Counts::default(), 0u64);
    let mut reservations_peak = 0u64;
    let mut samples = Vec::new();
    let sample_every = ops
        .len()
        .div_ceil(MEMORY_SAMPLES_WANTED)
        .clamp(1, MEMORY_SAMPLE_EVERY);
    // This worker takes part in RCU grace periods (strategies::rcu): its
    // read-side sections cost a nesting count, and it reports a quiescent
    // state after every op, untimed, where the kernel's task would return
    // to user space or switch context between system calls. RCU callbacks
    // whose grace period that completes run there, as the kernel runs them
    // from RCU_SOFTIRQ after the system call that queued them.
    let rcu = strategies::rcu::Online::new();
    start.wait();
    let began = Instant::now();
    for (i, op) in ops.iter().enumerate() {
        sim.apply(&mut obs, op);
        strategies::rcu::quiescent_state();
        let now = Counts::of(&sim);
        reservations_peak = reservations_peak.max(now.fp.memtype);
        if now.exceeds(&peak) {
            let bytes = model.kernel_bytes(&now.fp, now.nr_vmas);
            // Highest kernel bytes; among equals (a design holding
            // nothing) the most VMAs, so the peak shows the workload's.
            if (bytes, now.nr_vmas) > (peak_bytes, peak.nr_vmas) {
                (peak, peak_bytes) = (now, bytes);
            }
        }
        let last = i + 1 == ops.len();
        if (i + 1) % sample_every == 0 || last {
            samples.push(MemorySample {
                ops: i as u64 + 1,
                nr_vmas: now.nr_vmas,
                nr_tracked_vmas: now.nr_tracked,
                kernel_bytes: model.kernel_bytes(&now.fp, now.nr_vmas),
            });
        }
        if (i + 1) % MEMORY_SAMPLE_EVERY == 0 || last {
            heap::sample();
        }
    }
    let finished = Instant::now();
    drop(rcu);
    let end = Counts::of(&sim);
    if alone {
        // The design's own account must match the allocator's (one
        // worker only: others would move it between the two reads).
        let own = footprint_minus(&tracker.footprint(), background);
        let mut counted = end.fp;
        counted.vma_field_bytes = own.vma_field_bytes;
        anyhow::ensure!(
            own == counted,
            "{} reports {own:?} but its allocations add up to {counted:?}",
            T::STRATEGY
        );
    }
    let errors = sim.errors().clone();
    // Whatever the stream left alive is freed untimed, so every design ends
    // in the same state and leaks show.
    sim.teardown(&mut Unobserved);
    let cpu = sim.cpu().clone();
    // Hand this thread's heap count to the global one before it ends.
    heap::sample();
    Ok(WorkerOut {
        hists: obs.hists,
        errors,
        cpu,
        peak,
        end,
        samples: decimate(samples, MAX_MEMORY_SAMPLES),
        reservations_peak,
        began,
        finished,
    })
}

/// One repeat of one design: returns the raw figures, and memory when
/// `with_memory`.
fn run_design<T: PfnmapTracking, C: CycleTimer>(
    prepared: &Prepared,
    opts: &RunOptions,
    timer: &Timer,
    clock: &C,
    with_memory: bool,
) -> anyhow::Result<DesignOutput> {
    let tracker = T::new(&opts.tracker);
    let threads = prepared.workers().len();
    // Background ioremaps first, untimed, from their own world.
    let geo = opts.memory.vma_slab_geometry(T::VMA_FIELD_BYTES > 0);
    let mut setup = Sim::new(
        &tracker,
        Cpu::new(strategies::percpu::MAX_CPUS - 1),
        VmaSlab::new(
            geo,
            WorkloadRng::substream(opts.seed, Purpose::VmaSlab, u32::MAX),
        ),
    );
    for op in &prepared.workload.setup {
        setup.apply(&mut Unobserved, op);
    }
    let background = tracker.footprint();
    let background_outstanding = tracker.reservations_outstanding();
    heap::sample();
    heap::reset_peak();
    let heap_before = heap::current_bytes();

    let barrier = Barrier::new(threads);
    let outs: Vec<WorkerOut> = std::thread::scope(|s| {
        let handles: Vec<_> = prepared
            .workers()
            .iter()
            .enumerate()
            .map(|(w, ops)| {
                let (tracker, barrier, background) = (&tracker, &barrier, &background);
                s.spawn(move || {
                    run_worker(
                        tracker,
                        ops,
                        w,
                        opts,
                        clock,
                        barrier,
                        background,
                        threads == 1,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    // From the first worker's start to the last one's end, as the workers
    // saw it (the spawning thread may be descheduled at any point).
    let began = outs.iter().map(|o| o.began).min().expect("a worker");
    let finished = outs.iter().map(|o| o.finished).max().expect("a worker");
    let wall_ns = finished.duration_since(began).as_nanos() as u64;

    let mut hists = HookHistograms::new();
    let mut errors: BTreeMap<String, u64> = setup.errors().clone();
    let mut cpus = vec![setup.cpu().clone()];
    // One worker: its exact peak. Several: the sum of their peaks, an
    // upper bound of the simultaneous peak (they run the same kind of
    // stream at the same time), and no time series.
    let (mut peak, mut end) = (Counts::default(), Counts::default());
    let mut samples = Vec::new();
    let mut reservations = Reservations::default();
    for out in outs {
        reservations.peak += out.reservations_peak;
        hists.add(&out.hists);
        for (k, v) in out.errors {
            *errors.entry(k).or_insert(0) += v;
        }
        cpus.push(out.cpu);
        peak = peak.plus(&out.peak);
        end = end.plus(&out.end);
        if threads == 1 {
            samples = out.samples;
        }
    }
    // Everything the setup, the workers and their teardowns logged.
    reservations.invalid_frees = tracker.invalid_free_log().count();
    reservations.leaked = modelled_leak(tracker.reservations_outstanding(), background_outstanding);
    check_no_leaks::<T>(
        &tracker.footprint(),
        &background,
        reservations.leaked,
        &cpus,
    )?;
    let nr_ops: u64 = prepared.workers().iter().map(|w| w.len() as u64).sum();
    let repeat = RepeatResult {
        wall_ns,
        ops_per_sec: nr_ops as f64 / (wall_ns.max(1) as f64 / 1e9),
        hook_ns_total: hists.total_ns_all(timer).round() as u64,
        timer_overhead_ticks: timer.overhead_ticks(),
        hooks: hists.summary(timer),
        errors,
    };
    let memory = with_memory.then(|| {
        heap::sample();
        MemoryResult {
            peak: peak.price(&opts.memory),
            end: end.price(&opts.memory),
            sim_heap_peak_bytes: heap::peak_bytes().saturating_sub(heap_before),
            sim_heap_end_bytes: heap::current_bytes().saturating_sub(heap_before),
            samples,
        }
    });
    drop(setup);
    Ok(DesignOutput {
        repeat,
        memory,
        reservations,
        hists,
    })
}

/// Memtype reservation counts of one repeat (identical in every repeat:
/// the workload is deterministic).
#[derive(Debug, Clone, Copy, Default)]
struct Reservations {
    peak: u64,
    invalid_frees: u64,
    leaked: u64,
}

/// What the design's own count says its kernel left behind since the
/// background was set up (0 for a design that keeps no count).
fn modelled_leak(now: Option<u64>, background: Option<u64>) -> u64 {
    now.unwrap_or(0).saturating_sub(background.unwrap_or(0))
}

/// One repeat of one design.
struct DesignOutput {
    repeat: RepeatResult,
    memory: Option<MemoryResult>,
    reservations: Reservations,
    /// All workers' histograms merged (for the CDF over repeats).
    hists: HookHistograms,
}

/// One repeat of one design, run with the timer's bare clock.
struct DesignRun<'a> {
    strategy: Strategy,
    prepared: &'a Prepared,
    opts: &'a RunOptions,
    timer: &'a Timer,
    with_memory: bool,
}

impl ClockUser for DesignRun<'_> {
    type Output = anyhow::Result<DesignOutput>;

    fn run<C: CycleTimer>(self, clock: &C) -> Self::Output {
        let DesignRun {
            strategy,
            prepared,
            opts,
            timer,
            with_memory,
        } = self;
        let timer = &timer.recalibrated(clock);
        with_tracker!(strategy, T => run_design::<T, C>(prepared, opts, timer, clock, with_memory))
    }
}

/// After a run, a design may hold only what the setup reserved plus the
/// `leaked` memtype entries its own model says its kernel leaks, and every
/// other object the allocator handed out for the workers must be back.
fn check_no_leaks<T: PfnmapTracking>(
    now: &Footprint,
    background: &Footprint,
    leaked: u64,
    cpus: &[Cpu],
) -> anyhow::Result<()> {
    let design = T::STRATEGY;
    let expected = Footprint {
        memtype: background.memtype + leaked,
        ..*background
    };
    anyhow::ensure!(
        *now == expected,
        "{design} leaked: it holds {now:?} after every VMA was freed, but only {background:?} \
         (the background ioremaps) and {leaked} memtype entries its kernel leaks by its own \
         count should remain"
    );
    for obj in [KObj::PfnmapTrackCtx, KObj::XaNode, KObj::MemtypeVmaLink] {
        let live = Cpu::live_total(cpus, obj);
        anyhow::ensure!(
            live == 0,
            "{design} leaked {live} {} objects (allocator count)",
            obj.kernel_name()
        );
    }
    Ok(())
}

/// Measure every design on one workload at every prepared thread count.
pub fn run_scenario(
    name: &str,
    params: serde_json::Value,
    seed: Option<u64>,
    prepared: &[Prepared],
    opts: &RunOptions,
    timer: &Timer,
    progress: &Progress,
) -> anyhow::Result<ScenarioResult> {
    let mut designs = Vec::new();
    for p in prepared {
        let n = opts.strategies.len();
        let mut repeats: Vec<Vec<RepeatResult>> = vec![Vec::new(); n];
        let mut memory: Vec<Option<MemoryResult>> = vec![None; n];
        let mut reservations: Vec<Reservations> = vec![Reservations::default(); n];
        let mut merged: Vec<HookHistograms> = (0..n).map(|_| HookHistograms::new()).collect();
        for repeat in 0..opts.repeats as usize {
            for k in 0..n {
                // Rotate the order each repeat: no design always runs first
                // (cold caches) or last (thermal drift).
                let i = (k + repeat) % n;
                let strategy = opts.strategies[i];
                progress.set_message_with(|| {
                    format!("{name}: {strategy} x{} repeat {}", p.threads, repeat + 1)
                });
                let out = timer.with_clock(DesignRun {
                    strategy,
                    prepared: p,
                    opts,
                    timer,
                    with_memory: repeat == 0,
                })?;
                repeats[i].push(out.repeat);
                if out.memory.is_some() {
                    memory[i] = out.memory;
                    reservations[i] = out.reservations;
                }
                merged[i].add(&out.hists);
                progress.inc(1);
            }
        }
        for (i, strategy) in opts.strategies.iter().enumerate() {
            // The merged histogram spans repeats with slightly different
            // overheads: subtract their mean.
            let overhead = repeats[i]
                .iter()
                .map(|r| r.timer_overhead_ticks)
                .sum::<f64>()
                / repeats[i].len().max(1) as f64;
            let cdf_timer = timer.with_overhead(overhead);
            let latency_cdf = Hook::ALL
                .into_iter()
                .filter(|&h| merged[i].count(h) > 0)
                .map(|h| (h, merged[i].percentile_samples(h, &cdf_timer)))
                .collect();
            designs.push(DesignResult {
                strategy: *strategy,
                threads: p.threads,
                repeats: std::mem::take(&mut repeats[i]),
                latency_cdf,
                memory: memory[i].take().expect("the first repeat records memory"),
                reservations_peak: reservations[i].peak,
                invalid_frees: reservations[i].invalid_frees,
                reservations_leaked: reservations[i].leaked,
            });
        }
    }
    Ok(ScenarioResult {
        name: name.to_string(),
        params,
        seed,
        nr_ops: prepared
            .first()
            .map_or(0, |p| p.workers().first().map_or(0, |w| w.len() as u64)),
        designs,
    })
}
