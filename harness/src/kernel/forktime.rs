//! Fork timing: the guest's measurements per kernel, the same sequence
//! timed on the models, and the ratio tables `kernel-check --fork-timing`
//! prints. Guest times come from an emulated CPU, so only ratios are
//! shown: each kernel against itself as N grows, and kernel against kernel
//! at the same N, beside the same ratios of their models.

use std::fmt::Write as _;
use std::time::Instant;

use strategies::kmem::Cpu;
use strategies::phys::{PAGE_SHIFT, PhysMap};
use strategies::slab::SlabGeometry;
use strategies::{CacheMode, PfnmapTracking, TrackerConfig};

use super::model::ModelChoice;
use super::protocol::ForkTimingReport;
use super::series::{Family, Series};
use crate::sim::mm::{Sim, Unobserved};
use crate::sim::slab::VmaSlab;
use crate::workload::Op;
use crate::workload::rng::{Purpose, WorkloadRng};

/// A model timed on the guest's sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelForkTiming {
    /// The model.
    pub model: ModelChoice,
    /// N, as for the kernels.
    pub vmas: Vec<u32>,
    /// `fork` op of a process with N pfnmap VMAs, ns, every sample.
    pub fork_ns: Vec<Vec<u64>>,
    /// The child's `exit` op, ns.
    pub exit_ns: Vec<Vec<u64>>,
}

/// Time model `T` on the guest's sequence: for each N a process maps N
/// one-page pfnmap VMAs of its own pfn (each remapped whole, UC-); then,
/// round after round (the first untimed), each process forks and the
/// child exits, interleaved across the Ns as in the guest.
pub fn time_model<T: PfnmapTracking>(
    model: ModelChoice,
    vmas: &[u32],
    repeat: u32,
    geo: SlabGeometry,
) -> ModelForkTiming {
    let cfg = TrackerConfig::with_phys(PhysMap::typical_server());
    // Pages of the 32-bit PCI hole of the typical server.
    let base_pfn = (3u64 << 30) >> PAGE_SHIFT;
    let trackers: Vec<T> = vmas.iter().map(|_| T::new(&cfg)).collect();
    let obs = &mut Unobserved;
    let mut sims: Vec<Sim<'_, T>> = trackers
        .iter()
        .zip(vmas)
        .enumerate()
        .map(|(i, (tracker, &n))| {
            let mut sim = Sim::new(
                tracker,
                Cpu::new(0),
                VmaSlab::new(geo, WorkloadRng::substream(0, Purpose::VmaSlab, i as u32)),
            );
            sim.apply(obs, &Op::Proc { pid: 1 });
            for v in 0..n {
                sim.apply(
                    obs,
                    &Op::Mmap {
                        pid: 1,
                        vma: v,
                        pages: 1,
                        pfnmap: true,
                    },
                );
                sim.apply(
                    obs,
                    &Op::Remap {
                        vma: v,
                        off: 0,
                        pages: 1,
                        pfn: base_pfn + i as u64,
                        mode: CacheMode::UC_MINUS,
                    },
                );
            }
            sim
        })
        .collect();
    let mut out = ModelForkTiming {
        model,
        vmas: vmas.to_vec(),
        fork_ns: vec![Vec::new(); vmas.len()],
        exit_ns: vec![Vec::new(); vmas.len()],
    };
    for round in 0..=repeat {
        for (i, (sim, &n)) in sims.iter_mut().zip(vmas).enumerate() {
            let t0 = Instant::now();
            sim.apply(
                obs,
                &Op::Fork {
                    parent: 1,
                    child: 2,
                    first_vma: n,
                },
            );
            let t1 = Instant::now();
            sim.apply(obs, &Op::Exit { pid: 2 });
            let t2 = Instant::now();
            if round > 0 {
                out.fork_ns[i].push((t1 - t0).as_nanos() as u64);
                out.exit_ns[i].push((t2 - t1).as_nanos() as u64);
            }
        }
    }
    for sim in &mut sims {
        sim.teardown(obs);
    }
    out
}

/// A kernel's guest timing, with what it is.
#[derive(Debug, Clone)]
pub struct KernelForkTiming {
    /// The series.
    pub series: Series,
    /// Its family.
    pub family: Family,
    /// The model compared with it, if any.
    pub model: Option<ModelChoice>,
    /// The guest's samples.
    pub report: ForkTimingReport,
}

/// Median of `v` (0 for an empty list).
pub fn median(v: &[u64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m] as f64
    } else {
        (s[m - 1] as f64 + s[m] as f64) / 2.0
    }
}

/// Cost per pfnmap VMA in a guest at each N: `(median(N) - median(0)) / N`
/// (`None` when noise made it non-positive).
fn kernel_per_vma(samples: &[Vec<u64>], base: &[u64], vmas: &[u32]) -> Vec<Option<f64>> {
    let b = median(base);
    samples
        .iter()
        .zip(vmas)
        .map(|(s, &n)| {
            let d = (median(s) - b) / f64::from(n.max(1));
            (d > 0.0).then_some(d)
        })
        .collect()
}

/// Cost per VMA of a model at each N: `median(N) / N`.
fn model_per_vma(samples: &[Vec<u64>], vmas: &[u32]) -> Vec<Option<f64>> {
    samples
        .iter()
        .zip(vmas)
        .map(|(s, &n)| {
            let d = median(s) / f64::from(n.max(1));
            (d > 0.0).then_some(d)
        })
        .collect()
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".to_string(),
    }
}

/// The ratio tables for one metric (`fork` or `exit`).
fn tables(
    out: &mut String,
    what: &str,
    vmas: &[u32],
    kernels: &[(String, Vec<Option<f64>>)],
    models: &[(String, Option<Vec<Option<f64>>>)],
) {
    let n0 = vmas.first().copied().unwrap_or(1);
    let _ = writeln!(
        out,
        "\n{what} cost per pfnmap VMA relative to N={n0}, each against itself:"
    );
    let mut head = format!("{:>7}", "N");
    for ((k, _), (m, _)) in kernels.iter().zip(models) {
        let _ = write!(head, "  {k:>18}  {:>18}", format!("model {m}"));
    }
    let _ = writeln!(out, "{head}");
    for (i, n) in vmas.iter().enumerate() {
        let mut row = format!("{n:>7}");
        for ((_, kv), (_, mv)) in kernels.iter().zip(models) {
            let m = match mv {
                Some(mv) => ratio(mv[i], mv[0]),
                None => "no model".to_string(),
            };
            let _ = write!(row, "  {:>18}  {m:>18}", ratio(kv[i], kv[0]));
        }
        let _ = writeln!(out, "{row}");
    }
    if kernels.len() < 2 {
        return;
    }
    let (base_k, base_kv) = kernels.last().expect("two kernels");
    let (base_m, base_mv) = models.last().expect("parallel");
    let _ = writeln!(
        out,
        "\n{what} cost per pfnmap VMA of each kernel / {base_k}'s (and model / model):"
    );
    let mut head = format!("{:>7}", "N");
    for ((k, _), (m, _)) in kernels.iter().zip(models).take(kernels.len() - 1) {
        let _ = write!(
            head,
            "  {:>18}  {:>22}",
            format!("{k} / {base_k}"),
            format!("{m} / {base_m}")
        );
    }
    let _ = writeln!(out, "{head}");
    for (i, n) in vmas.iter().enumerate() {
        let mut row = format!("{n:>7}");
        for ((_, kv), (_, mv)) in kernels.iter().zip(models).take(kernels.len() - 1) {
            let m = match (mv, base_mv) {
                (Some(mv), Some(bv)) => ratio(mv[i], bv[i]),
                _ => "no model".to_string(),
            };
            let _ = write!(row, "  {:>18}  {m:>22}", ratio(kv[i], base_kv[i]));
        }
        let _ = writeln!(out, "{row}");
    }
}

/// The report: for fork and for exit, growth with N per kernel and model,
/// and kernel against the last kernel listed.
pub fn render(kernels: &[KernelForkTiming], models: &[ModelForkTiming]) -> String {
    let mut out = String::new();
    let Some(first) = kernels.first() else {
        return out;
    };
    let vmas = &first.report.vmas;
    let samples = first.report.base_fork_ns.len();
    let _ = writeln!(
        out,
        "Fork timing: a process maps one BAR page N times (N whole-VMA remaps of one range), \
         forks, the child exits.\nGuest CPUs are emulated (TCG) and clocked by QEMU's \
         instruction counter (-icount shift=0): guest \"times\" count guest instructions, so \
         they mean\nnothing in absolute terms, only ratios do. Models run on this host, timed \
         by its clock.\nKernel cost per VMA = (median with N - median with none) / N over \
         {samples} samples; model cost per VMA = median / N."
    );
    let label = |k: &KernelForkTiming| format!("{} {}", k.series, k.family);
    let model_of = |k: &KernelForkTiming| {
        k.model
            .and_then(|m| models.iter().find(|t| t.model == m))
            .map(|t| (t.model.to_string(), t))
    };
    for (what, pick) in [("fork", true), ("exit", false)] {
        let kv: Vec<(String, Vec<Option<f64>>)> = kernels
            .iter()
            .map(|k| {
                let r = &k.report;
                let (s, b) = if pick {
                    (&r.fork_ns, &r.base_fork_ns)
                } else {
                    (&r.exit_ns, &r.base_exit_ns)
                };
                (label(k), kernel_per_vma(s, b, &r.vmas))
            })
            .collect();
        let mv: Vec<(String, Option<Vec<Option<f64>>>)> = kernels
            .iter()
            .map(|k| match model_of(k) {
                Some((name, t)) => {
                    let s = if pick { &t.fork_ns } else { &t.exit_ns };
                    (name, Some(model_per_vma(s, &t.vmas)))
                }
                None => ("none".to_string(), None),
            })
            .collect();
        tables(&mut out, what, vmas, &kv, &mv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::memory::MemoryModel;
    use strategies::designs::per_vma::PerVma;

    fn report(vmas: Vec<u32>, per_vma_ns: impl Fn(u32) -> u64) -> ForkTimingReport {
        ForkTimingReport {
            fork_ns: vmas
                .iter()
                .map(|&n| vec![1000 + per_vma_ns(n) * u64::from(n); 3])
                .collect(),
            exit_ns: vmas
                .iter()
                .map(|&n| vec![500 + 10 * u64::from(n); 3])
                .collect(),
            base_fork_ns: vec![1000; 3],
            base_exit_ns: vec![500; 3],
            vmas,
        }
    }

    #[test]
    fn ratios_come_from_the_samples() {
        let vmas = vec![16, 64];
        let quadratic = KernelForkTiming {
            series: "6.1".parse().unwrap(),
            family: Family::VmPat,
            model: None,
            report: report(vmas.clone(), |n| 10 * u64::from(n)),
        };
        let flat = KernelForkTiming {
            series: "7.3".parse().unwrap(),
            family: Family::PfnmapTrackCtx,
            model: None,
            report: report(vmas.clone(), |_| 10),
        };
        let text = render(&[quadratic, flat], &[]);
        // 6.1: 160 -> 640 ns per VMA (x4.00); 7.3 flat; 6.1 / 7.3 = 16, 64.
        assert!(text.contains("only ratios do"), "{text}");
        let fork_growth = text
            .lines()
            .find(|l| l.trim_start().starts_with("64"))
            .unwrap();
        assert!(
            fork_growth.contains("4.00") && fork_growth.contains("1.00"),
            "{text}"
        );
        assert!(text.contains("16.00") && text.contains("64.00"), "{text}");
        assert!(text.contains("no model"), "{text}");
    }

    #[test]
    fn model_timing_has_every_sample() {
        let geo = MemoryModel::new("default", 4)
            .unwrap()
            .vma_slab_geometry(false);
        let t = time_model::<PerVma>(
            ModelChoice::Design(strategies::Strategy::PerVma),
            &[1, 8],
            3,
            geo,
        );
        assert_eq!(t.fork_ns.len(), 2);
        assert!(t.fork_ns.iter().all(|s| s.len() == 3));
        assert_eq!(median(&[3, 1, 2]), 2.0);
        assert_eq!(median(&[4, 1, 2, 3]), 2.5);
    }
}
