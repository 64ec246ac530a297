//! The comparison at the heart of `kernel-check`: run a model through the
//! same simulator the benchmark uses, op by op beside what a real kernel
//! reported for that op, and stop at the first op where they differ.
//!
//! The model runs over the guest's own physical map (its `System RAM` and
//! its BARs, with each trace pfn moved from device k's range to BAR k), so
//! model and kernel name the same addresses. After every op three things
//! are compared:
//! - the memtype entries overlapping the BARs (start, end, type), as
//!   multisets;
//! - the "freeing invalid memtype" messages for ranges in the BARs;
//! - whether the system call succeeded (and, for a BAR `mmap` and an
//!   `mremap` grow, the errno), when the op made one.
//!
//! A trace starts from whatever entries the kernel shows at its start
//! (left by an earlier trace, e.g. a reservation `VM_PAT` leaked): the
//! model starts from the same entries, made by `memtype_reserve_io()`.

use std::fmt;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use strategies::kmem::Cpu;
use strategies::memtype::{MemtypeEntry, PatConfig};
use strategies::memtype_log::InvalidFree;
use strategies::phys::{MtrrType, PAGE_SHIFT, PAGE_SIZE, PhysMap, PhysRegion, RegionKind};
use strategies::slab::SlabGeometry;
use strategies::{PfnmapTracking, TrackerConfig};

use super::express::Plan;
use super::model::ModelChoice;
use super::observe::{entries_overlapping, format_entry, overlaps_any, parse_invalid_free};
use super::protocol::{GuestBar, GuestMsg, Hello, OpReport, SysResult};
use crate::measure::hook::Hook;
use crate::sim::mm::{HookObserver, HookOutcome, Sim};
use crate::sim::slab::VmaSlab;
use crate::workload::rng::{Purpose, WorkloadRng};
use crate::workload::validate::MmShadow;
use crate::workload::{MremapKind, Op, Trace};

/// A trace as the host loaded it.
#[derive(Debug, Clone)]
pub struct LoadedTrace {
    /// Its name (the path given).
    pub name: String,
    /// Its text, as sent to the guest.
    pub text: String,
    /// Parsed.
    pub trace: Trace,
    /// Its device ranges.
    pub plan: Plan,
}

impl LoadedTrace {
    /// The line of worker `w`'s op `i`.
    pub fn lines_of(&self, w: usize, i: usize) -> usize {
        self.trace.lines.line(Some(w), i).unwrap_or(0)
    }
}

/// Where a model and a kernel first disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelDivergence {
    /// The trace.
    pub trace: String,
    /// Its line.
    pub line: usize,
    /// Worker stream.
    pub worker: usize,
    /// Op index.
    pub index: usize,
    /// The op as the trace writes it.
    pub op: Op,
    /// The kernel (`uname -r`).
    pub release: String,
    /// The model.
    pub model: ModelChoice,
    /// What differed, one line each.
    pub details: Vec<String>,
}

impl fmt::Display for KernelDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "DIVERGENCE at {}:{} (worker {}, op {}: `{}`): kernel {} vs model {}",
            self.trace, self.line, self.worker, self.index, self.op, self.release, self.model
        )?;
        for d in &self.details {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// What a clean comparison covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Traces compared.
    pub traces: usize,
    /// Ops compared.
    pub ops: u64,
    /// Ops that made a system call.
    pub syscalls: u64,
    /// Most memtype entries seen overlapping the BARs after one op.
    pub peak_entries: usize,
    /// Invalid-free messages seen (each matched by the model).
    pub invalid_frees: u64,
}

/// The outcome of comparing one kernel run with a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every op agreed.
    Agree(Agreement),
    /// The first op that did not.
    Diverge(Box<KernelDivergence>),
}

/// The model's physical map for a guest: its RAM and its BARs (MMIO,
/// uncachable by MTRR; the BAR files only ask for UC- and WC, which
/// `pat_x_mtrr_type()` leaves alone).
pub fn guest_phys_map(hello: &Hello) -> anyhow::Result<PhysMap> {
    let mut regions: Vec<PhysRegion> = hello
        .ram
        .iter()
        .map(|&(start, end)| PhysRegion {
            start,
            end,
            kind: RegionKind::Ram,
            mtrr: MtrrType::WrBack,
        })
        .collect();
    for b in &hello.bars {
        regions.push(PhysRegion {
            start: b.start,
            end: b.end.next_multiple_of(PAGE_SIZE),
            kind: RegionKind::Mmio,
            mtrr: MtrrType::Uncachable,
        });
    }
    PhysMap::new(regions, MtrrType::Uncachable)
        .map_err(|e| anyhow::anyhow!("the guest's memory map does not build: {e}"))
}

/// Records what every hook of one op returned.
#[derive(Debug, Default)]
struct Outcomes(Vec<(Hook, HookOutcome)>);

impl HookObserver for Outcomes {
    fn start(&mut self) -> u64 {
        0
    }
    fn stop(&mut self) -> u64 {
        0
    }
    fn record(&mut self, hook: Hook, _: u64, _: u64, outcome: &HookOutcome) {
        self.0.push((hook, *outcome));
    }
}

/// What the model says the op's system call returns.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// No system call (a pfnmap `mmap`, made with its `remap`).
    NoSyscall,
    /// Success.
    Ok,
    /// Failure with this errno, when the model knows it.
    Fail(Option<&'static str>),
}

fn expect(op: &Op, outcomes: &Outcomes, shadow: &MmShadow) -> Expect {
    let dup_failed = outcomes
        .0
        .iter()
        .any(|(_, o)| matches!(o, HookOutcome::Dup(Err(_))));
    match *op {
        Op::Mmap { pfnmap: true, .. } => Expect::NoSyscall,
        Op::Remap { .. } => match outcomes.0.first() {
            Some((_, HookOutcome::Remap(Err(e)))) => Expect::Fail(Some(e.name())),
            _ => Expect::Ok,
        },
        Op::Mremap {
            vma,
            kind: MremapKind::Grow { .. },
        } if shadow.vma(vma).is_some_and(|(_, pfnmap)| pfnmap) => Expect::Fail(Some("EFAULT")),
        _ if dup_failed => Expect::Fail(None),
        _ => Expect::Ok,
    }
}

/// Compare a kernel's result with the model's expectation. Return: what
/// differs, if anything.
fn compare_result(kernel: &SysResult, want: &Expect) -> Option<String> {
    let bad = match (kernel, want) {
        // The op named a VMA whose mapping failed earlier (that failure
        // was compared when it happened).
        (SysResult::NoSyscall, _) | (SysResult::Ok, Expect::Ok) => false,
        (SysResult::Err(_), Expect::Fail(None)) => false,
        (SysResult::Err(e), Expect::Fail(Some(m))) => e != m,
        _ => true,
    };
    bad.then(|| {
        let k = match kernel {
            SysResult::Ok => "succeeded".to_string(),
            SysResult::Err(e) => format!("failed with {e}"),
            SysResult::NoSyscall => "made no system call".to_string(),
        };
        let m = match want {
            Expect::Ok => "success".to_string(),
            Expect::Fail(Some(e)) => format!("failure with {e}"),
            Expect::Fail(None) => "failure".to_string(),
            Expect::NoSyscall => "no system call".to_string(),
        };
        format!("system call: kernel {k}, model expects {m}")
    })
}

/// The op with its pfns moved into the guest's BARs.
fn translate(op: &Op, plan: &Plan, bars: &[GuestBar]) -> anyhow::Result<Op> {
    Ok(match *op {
        Op::Remap {
            vma,
            off,
            pages,
            pfn,
            mode,
        } => {
            let (k, off_pages) = plan
                .locate(pfn, u64::from(pages))
                .context("a remap outside the device ranges")?;
            let bar = bars.get(k).context("a device without a guest BAR")?;
            Op::Remap {
                vma,
                off,
                pages,
                pfn: (bar.start >> PAGE_SHIFT) + off_pages,
                mode,
            }
        }
        other => other,
    })
}

/// What each of two sorted multisets has that the other has not.
fn multiset_difference<T: Ord + Copy>(a: &[T], b: &[T]) -> (Vec<T>, Vec<T>) {
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                only_a.push(*x);
                i += 1;
            }
            (Some(_), Some(y)) => {
                only_b.push(*y);
                j += 1;
            }
            (Some(x), None) => {
                only_a.push(*x);
                i += 1;
            }
            (None, Some(y)) => {
                only_b.push(*y);
                j += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    (only_a, only_b)
}

fn list(entries: &[MemtypeEntry]) -> String {
    if entries.is_empty() {
        return "(none)".to_string();
    }
    entries
        .iter()
        .map(format_entry)
        .collect::<Vec<_>>()
        .join("; ")
}

fn frees(v: &[InvalidFree]) -> String {
    if v.is_empty() {
        return "(none)".to_string();
    }
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A source of guest messages (a running VM or a transcript): `Ok(None)`
/// at the end.
pub trait MsgSource {
    /// The next message.
    fn next_msg(&mut self) -> anyhow::Result<Option<GuestMsg>>;
}

fn need(src: &mut dyn MsgSource, what: &str) -> anyhow::Result<GuestMsg> {
    match src.next_msg()? {
        Some(GuestMsg::Error { message }) => bail!("the guest failed: {message}"),
        Some(m) => Ok(m),
        None => bail!("the guest's messages ended before {what}"),
    }
}

/// Compare model `T` (named `model`) with the kernel that said `hello`,
/// over the messages for `traces` that `src` yields after the hello.
/// Errors: a broken or truncated message stream, or a guest failure (not
/// a divergence).
pub fn compare<T: PfnmapTracking>(
    model: ModelChoice,
    hello: &Hello,
    traces: &[LoadedTrace],
    src: &mut dyn MsgSource,
    geo: SlabGeometry,
) -> anyhow::Result<Verdict> {
    let phys = Arc::new(guest_phys_map(hello)?);
    let bar_ranges: Vec<(u64, u64)> = hello.bars.iter().map(|b| (b.start, b.end)).collect();
    let mut agreement = Agreement::default();
    for (t, lt) in traces.iter().enumerate() {
        let start_entries = match need(src, "a trace's start")? {
            GuestMsg::Start {
                trace,
                plan,
                entries,
            } => {
                ensure!(trace == t, "the guest started trace {trace}, expected {t}");
                ensure!(
                    plan == lt.plan,
                    "{}: the guest derived another device plan than the host",
                    lt.name
                );
                entries
            }
            other => bail!("expected the start of trace {t}, got {other:?}"),
        };
        let cfg = TrackerConfig {
            pat: PatConfig {
                enabled: true,
                phys: Arc::clone(&phys),
            },
            ..TrackerConfig::default()
        };
        let tracker = T::new(&cfg);
        let mut cpu = Cpu::new(strategies::percpu::MAX_CPUS - 1);
        for e in &start_entries {
            let got = tracker.memtype_reserve_io(&mut cpu, e.start, e.end, e.ty);
            ensure!(
                got == Ok(e.ty),
                "{}: the model cannot start from the kernel's entry {} ({got:?})",
                lt.name,
                format_entry(e)
            );
        }
        tracker.invalid_free_log().take();
        for (w, ops) in lt.trace.workload.workers.iter().enumerate() {
            let mut sim = Sim::new(
                &tracker,
                Cpu::new(w % strategies::percpu::MAX_CPUS),
                VmaSlab::new(geo, WorkloadRng::substream(0, Purpose::VmaSlab, w as u32)),
            );
            let mut shadow = MmShadow::for_worker(&[]);
            for (i, op) in ops.iter().enumerate() {
                let rep: OpReport = match need(src, "an op's report")? {
                    GuestMsg::Op(r) => r,
                    other => bail!("expected the report of worker {w} op {i}, got {other:?}"),
                };
                let line = lt.lines_of(w, i);
                ensure!(
                    (rep.trace, rep.worker, rep.index, rep.line) == (t, w, i, line),
                    "the guest reported trace {} worker {} op {} (line {}), expected trace {t} \
                     worker {w} op {i} (line {line})",
                    rep.trace,
                    rep.worker,
                    rep.index,
                    rep.line
                );
                let mut outcomes = Outcomes::default();
                let want = {
                    // The shadow must see the op after expect() looked at
                    // the VMA it names.
                    sim.apply(&mut outcomes, &translate(op, &lt.plan, &hello.bars)?);
                    let want = expect(op, &outcomes, &shadow);
                    shadow
                        .apply(op)
                        .map_err(|e| anyhow::anyhow!("{}:{line}: {e}", lt.name))?;
                    want
                };
                let model_entries = entries_overlapping(&tracker.memtype_entries(), &bar_ranges);
                let drained = tracker.invalid_free_log().take();
                ensure!(
                    drained.lost == 0,
                    "{}:{line}: the model logged more \"freeing invalid memtype\" messages in \
                     one op than its log holds ({} lost): they cannot be compared",
                    lt.name,
                    drained.lost
                );
                let mut model_frees: Vec<InvalidFree> = drained
                    .messages
                    .into_iter()
                    .filter(|f| overlaps_any(f.start, f.end, &bar_ranges))
                    .collect();
                let mut kernel_frees: Vec<InvalidFree> = rep
                    .klog
                    .iter()
                    .filter_map(|l| parse_invalid_free(l))
                    .filter(|f| overlaps_any(f.start, f.end, &bar_ranges))
                    .collect();
                model_frees.sort_unstable();
                kernel_frees.sort_unstable();
                let mut kernel_entries = rep.entries.clone();
                kernel_entries.sort_unstable();

                let mut details = Vec::new();
                if kernel_entries != model_entries {
                    details.push(format!(
                        "memtype entries overlapping the BARs: kernel {}, model {}",
                        kernel_entries.len(),
                        model_entries.len()
                    ));
                    let (only_kernel, only_model) =
                        multiset_difference(&kernel_entries, &model_entries);
                    details.push(format!("  only the kernel's: {}", list(&only_kernel)));
                    details.push(format!("  only the model's:  {}", list(&only_model)));
                }
                if kernel_frees != model_frees {
                    details.push("\"freeing invalid memtype\" messages:".to_string());
                    details.push(format!("  kernel: {}", frees(&kernel_frees)));
                    details.push(format!("  model:  {}", frees(&model_frees)));
                }
                if let Some(d) = compare_result(&rep.result, &want) {
                    details.push(d);
                }
                if !details.is_empty() {
                    let other_log: Vec<&String> = rep
                        .klog
                        .iter()
                        .filter(|l| parse_invalid_free(l).is_none())
                        .collect();
                    if !other_log.is_empty() {
                        details.push("other x86/PAT kernel lines:".to_string());
                        details.extend(other_log.iter().map(|l| format!("  {l}")));
                    }
                    return Ok(Verdict::Diverge(Box::new(KernelDivergence {
                        trace: lt.name.clone(),
                        line,
                        worker: w,
                        index: i,
                        op: *op,
                        release: hello.release.clone(),
                        model,
                        details,
                    })));
                }
                agreement.ops += 1;
                agreement.syscalls += u64::from(rep.result != SysResult::NoSyscall);
                agreement.peak_entries = agreement.peak_entries.max(kernel_entries.len());
                agreement.invalid_frees += kernel_frees.len() as u64;
            }
        }
        match need(src, "a trace's end")? {
            GuestMsg::End { trace } if trace == t => {}
            other => bail!("expected the end of trace {t}, got {other:?}"),
        }
        agreement.traces += 1;
    }
    Ok(Verdict::Agree(agreement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multisets_differ_by_count() {
        let (a, b) = multiset_difference(&[1, 2, 2, 3], &[2, 3, 3, 4]);
        assert_eq!((a, b), (vec![1, 2], vec![3, 4]));
        let (a, b) = multiset_difference::<u8>(&[], &[]);
        assert!(a.is_empty() && b.is_empty());
    }

    #[test]
    fn results_are_compared_where_the_model_knows() {
        let fail = |e: &str| SysResult::Err(e.to_string());
        assert_eq!(compare_result(&SysResult::Ok, &Expect::Ok), None);
        assert_eq!(compare_result(&SysResult::NoSyscall, &Expect::Ok), None);
        assert_eq!(compare_result(&fail("ENOMEM"), &Expect::Fail(None)), None);
        assert_eq!(
            compare_result(&fail("EFAULT"), &Expect::Fail(Some("EFAULT"))),
            None
        );
        let d = compare_result(&fail("EINVAL"), &Expect::Fail(Some("EFAULT"))).unwrap();
        assert!(d.contains("EINVAL") && d.contains("EFAULT"), "{d}");
        assert!(compare_result(&SysResult::Ok, &Expect::Fail(None)).is_some());
        assert!(compare_result(&fail("EBUSY"), &Expect::Ok).is_some());
    }
}
