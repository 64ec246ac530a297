//! `calibrate drive`: alternate the kernel side (`kbench`) and pfntrack's
//! side over fresh key files per trial, then print the table and write
//! `calibration.json`.
//!
//! Each side runs as its own process per key file, pinned with `taskset`
//! when `--pin` is given, so neither inherits the other's heap or caches;
//! which side goes first alternates with the trial. Inside a process each
//! phase runs `--reps` times on fresh structures and the fastest counts, so
//! a preemption by another process does not decide a trial. A phase's ratio is the
//! median over trials of ours / kernel measured in the same trial, which
//! cancels load that drifts between trials.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;

use std::collections::BTreeMap;

use crate::count::{CACHES, Counts, run_counted};
use crate::keyfile;

/// Trees at least this big run one round per trial (see `drive`).
const BIG_TREE: usize = 500_000;

/// The band a phase's ratio ours / kernel must fall in.
pub const BAND: (f64, f64) = (0.8, 1.25);

/// Arguments of `drive`.
#[derive(clap::Args)]
pub struct DriveArgs {
    /// The kernel-side benchmark built by scripts/calibrate.sh.
    #[arg(long)]
    kbench: PathBuf,
    /// Directory for the per-trial key files (emptied of them afterwards).
    #[arg(long)]
    work: PathBuf,
    /// Directory to write calibration.json into.
    #[arg(long)]
    out: PathBuf,
    /// Alternations of kernel and ours, each on fresh keys.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=1000))]
    trials: u64,
    /// Runs of every phase inside each process, each on a fresh structure;
    /// a trial keeps the fastest (the least disturbed by other processes).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    reps: u32,
    /// Processes per side and key file in each trial, alternating kernel
    /// and pfntrack; per side the fastest counts. This machine's speed
    /// changes from one process to the next (the host's doing), and
    /// several alternations make both sides of a trial likely to be seen at
    /// the same speed. Trees of 500,000 entries or more run one round.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// CPU to pin both sides to with taskset (none: not pinned).
    #[arg(long)]
    pin: Option<u32>,
    /// Keys per XArray set.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    xa_keys: u64,
    /// Interval-tree sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 1_000_000])]
    tree_sizes: Vec<usize>,
    /// What kernel source kbench was built from (recorded in the JSON).
    #[arg(long, default_value = "unknown")]
    kernel_source: String,
    /// Count instead of timing: run each side once per key file under
    /// callgrind's cache simulator and compare instructions and cache
    /// misses per op (counts.json); immune to the machine's load.
    #[arg(long)]
    count: bool,
    /// Time even when the machine is busy, without waiting for it to
    /// settle (a loud warning instead of a refusal; the JSON records the
    /// load).
    #[arg(long)]
    allow_busy: bool,
    /// Seconds to wait for the 1-minute load average to fall below the
    /// busy threshold before refusing (a build just before raises it).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(0..=3600))]
    settle_secs: u64,
}

/// The 1-, 5- and 15-minute load averages (/proc/loadavg).
fn load_average() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([f.next()??, f.next()??, f.next()??])
}

/// The 1-minute load average above which timing is refused: a quarter of
/// the CPUs, at least 0.5 (this run itself adds one task to the load once
/// it times, so a quiet machine sits below that before it starts).
fn busy_threshold() -> f64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus as f64 / 4.0).max(0.5)
}

fn show_load(l: Option<[f64; 3]>) -> String {
    l.map_or("unknown".into(), |l| {
        format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
    })
}

/// Wait for a quiet machine; refuse (or warn, with `--allow-busy`) if it
/// stays busy. Returns whether the run is taken on a busy machine.
fn wait_for_quiet(args: &DriveArgs) -> Result<bool> {
    let limit = busy_threshold();
    let start = std::time::Instant::now();
    loop {
        let Some(l) = load_average() else {
            eprintln!(
                "calibrate: WARNING: /proc/loadavg unreadable; cannot tell whether the machine is quiet"
            );
            return Ok(false);
        };
        if l[0] < limit {
            return Ok(false);
        }
        // --allow-busy does not wait: whoever passes it has chosen to time now.
        if args.allow_busy || start.elapsed().as_secs() >= args.settle_secs {
            let msg = format!(
                "the machine is busy: load average {} (1-minute {:.2} >= {limit:.2}) after waiting {} s; \
                 timings taken now are noise (other processes share the CPUs)",
                show_load(Some(l)),
                l[0],
                start.elapsed().as_secs()
            );
            if !args.allow_busy {
                bail!(
                    "{msg}. Re-run on a quiet machine, use --count (immune to load), or pass --allow-busy to time anyway"
                );
            }
            eprintln!(
                "calibrate: WARNING: {msg}; --allow-busy: timing anyway, the results record it"
            );
            return Ok(true);
        }
        eprintln!(
            "calibrate: load average {} >= {limit:.2}; waiting for it to settle ({} s of {} s)",
            show_load(Some(l)),
            start.elapsed().as_secs(),
            args.settle_secs
        );
        std::thread::sleep(std::time::Duration::from_secs(10));
    }
}

/// Refuse tree sizes the key files cannot hold or that would take hours.
pub fn check_tree_sizes(sizes: &[usize]) -> Result<()> {
    for &n in sizes {
        ensure!(
            (100..=10_000_000).contains(&n),
            "--tree-sizes: {n} is outside 100..=10000000"
        );
    }
    Ok(())
}

/// One phase of one key set, over all trials.
#[derive(Serialize)]
pub struct Phase {
    /// `xarray` or `interval_tree`.
    pub structure: String,
    /// XArray key set name, or the tree size.
    pub set: String,
    /// Phase name (`store`, `load`, `miss`, `erase`; `fill`, `stab`,
    /// `stab_all`, `insert`, `remove`, `drain`).
    pub phase: String,
    /// Kernel ns per op, one per trial.
    pub kernel_ns_per_op: Vec<f64>,
    /// pfntrack ns per op, one per trial.
    pub ours_ns_per_op: Vec<f64>,
    /// Median of `kernel_ns_per_op`.
    pub kernel_median_ns: f64,
    /// Median of `ours_ns_per_op`.
    pub ours_median_ns: f64,
    /// Median over trials of ours / kernel in the same trial.
    pub ratio_median: f64,
    /// Smallest and largest per-trial ratio: a wide spread means the
    /// trials were disturbed.
    pub ratio_range: (f64, f64),
    /// Live nodes on the kernel side when the phase ended, per trial.
    pub kernel_nodes: Vec<u64>,
    /// Live nodes on pfntrack's side when the phase ended, per trial.
    pub ours_nodes: Vec<u64>,
    /// Whether the node counts agree in every trial.
    pub nodes_equal: bool,
    /// Whether `ratio_median` is inside [`BAND`].
    pub in_band: bool,
}

/// The document `drive` writes.
#[derive(Serialize)]
pub struct Calibration {
    /// Format version of this document.
    pub schema_version: u32,
    /// The kernel source kbench was built from.
    pub kernel_source: String,
    /// Trials (alternations).
    pub trials: u64,
    /// Runs per phase inside each process (the fastest is kept).
    pub reps: u32,
    /// Processes per side and key file in each trial (the fastest is
    /// kept); trees of 500,000 entries or more run one.
    pub rounds: u32,
    /// CPU both sides were pinned to, if any.
    pub pinned_cpu: Option<u32>,
    /// Keys per XArray set.
    pub xa_keys: u64,
    /// Interval-tree sizes.
    pub tree_sizes: Vec<usize>,
    /// Lower and upper bound of the accepted ratio.
    pub band: (f64, f64),
    /// 1-, 5- and 15-minute load averages when timing started.
    pub load_average_start: Option<[f64; 3]>,
    /// The same when it ended.
    pub load_average_end: Option<[f64; 3]>,
    /// Whether the machine was busy (1-minute load at or above
    /// `busy_threshold`) when timing started: then the ratios are noise.
    pub busy: bool,
    /// The 1-minute load average counted as busy.
    pub busy_threshold: f64,
    /// Every phase.
    pub phases: Vec<Phase>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Fold one run's lines into `best`: per phase the fastest time and the
/// latest node count (the counts of one key file never differ between runs).
fn keep_fastest(
    best: &mut Option<Vec<(String, f64, u64)>>,
    run: Vec<(String, f64, u64)>,
    side: &str,
) -> Result<()> {
    let Some(b) = best else {
        *best = Some(run);
        return Ok(());
    };
    ensure!(
        b.len() == run.len() && b.iter().zip(&run).all(|(x, y)| x.0 == y.0),
        "{side} side: two runs on one key file printed different phases"
    );
    for (x, y) in b.iter_mut().zip(run) {
        x.1 = x.1.min(y.1);
        x.2 = y.2;
    }
    Ok(())
}

/// glibc malloc settings both sides run with: freed memory stays mapped
/// (no trimming of the heap top, no `mmap` for big blocks), so a repetition
/// reuses the pages the previous one freed instead of faulting them in
/// again. A page fault costs microseconds on this kind of VM, and the
/// kernel's slab allocator never takes one (its pages come mapped from the
/// page allocator), so faults would measure the host, not the code.
const MALLOC_TUNABLES: &str =
    "glibc.malloc.trim_threshold=18446744073709551615:glibc.malloc.mmap_threshold=33554432";

/// Run one side on one file; parse its `PHASE NS NODES` lines.
fn run_side(argv: &[String], pin: Option<u32>) -> Result<Vec<(String, f64, u64)>> {
    let mut cmd = match pin {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).args(argv);
            c
        }
        None => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    cmd.env("GLIBC_TUNABLES", MALLOC_TUNABLES);
    let shown = argv.join(" ");
    let out = cmd
        .output()
        .with_context(|| format!("starting `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8(out.stdout).with_context(|| format!("`{shown}`: output"))?;
    parse_lines(&text, &shown)
}

/// Parse a side's `PHASE NS NODES` lines.
fn parse_lines(text: &str, shown: &str) -> Result<Vec<(String, f64, u64)>> {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let parsed = match f.as_slice() {
                [p, ns, nodes] => ns
                    .parse::<f64>()
                    .ok()
                    .zip(nodes.parse::<u64>().ok())
                    .map(|(ns, nodes)| (p.to_string(), ns, nodes)),
                _ => None,
            };
            parsed.with_context(|| format!("`{shown}`: output line {}: {l:?}", i + 1))
        })
        .collect()
}

/// Record one trial's lines of both sides into `phases`.
fn record(
    phases: &mut Vec<Phase>,
    structure: &str,
    set: &str,
    kernel: &[(String, f64, u64)],
    ours: &[(String, f64, u64)],
) -> Result<()> {
    ensure!(
        kernel.len() == ours.len() && kernel.iter().zip(ours).all(|(k, o)| k.0 == o.0),
        "{structure}/{set}: the two sides ran different phases"
    );
    for (k, o) in kernel.iter().zip(ours) {
        let at = phases
            .iter()
            .position(|p| p.structure == structure && p.set == set && p.phase == k.0);
        let p = match at {
            Some(i) => &mut phases[i],
            None => {
                phases.push(Phase {
                    structure: structure.to_string(),
                    set: set.to_string(),
                    phase: k.0.clone(),
                    kernel_ns_per_op: vec![],
                    ours_ns_per_op: vec![],
                    kernel_median_ns: 0.0,
                    ours_median_ns: 0.0,
                    ratio_median: 0.0,
                    ratio_range: (0.0, 0.0),
                    kernel_nodes: vec![],
                    ours_nodes: vec![],
                    nodes_equal: true,
                    in_band: false,
                });
                phases.last_mut().expect("just pushed")
            }
        };
        p.kernel_ns_per_op.push(k.1);
        p.ours_ns_per_op.push(o.1);
        p.kernel_nodes.push(k.2);
        p.ours_nodes.push(o.2);
    }
    Ok(())
}

fn write_json(out: &Path, doc: &Calibration) -> Result<PathBuf> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("calibration.json");
    let tmp = out.join(".calibration.json.tmp");
    let mut text = serde_json::to_string_pretty(doc)?;
    text.push('\n');
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}

fn print_table(doc: &Calibration) {
    println!(
        "{:<14} {:<19} {:<9} {:>11} {:>11} {:>7} {:>11} {:>12} {:>12}",
        "structure",
        "set",
        "phase",
        "kernel ns",
        "ours ns",
        "ratio",
        "range",
        "nodes kernel",
        "nodes ours"
    );
    for p in &doc.phases {
        let flag = if p.in_band { ' ' } else { '!' };
        println!(
            "{:<14} {:<19} {:<9} {:>11.1} {:>11.1} {:>6.2}{flag} {:>5.2}-{:<5.2} {:>12} {:>12}",
            p.structure,
            p.set,
            p.phase,
            p.kernel_median_ns,
            p.ours_median_ns,
            p.ratio_median,
            p.ratio_range.0,
            p.ratio_range.1,
            p.kernel_nodes.last().copied().unwrap_or(0),
            p.ours_nodes.last().copied().unwrap_or(0),
        );
    }
}

/// Run the calibration (see the file header).
pub fn drive(args: &DriveArgs) -> Result<()> {
    check_tree_sizes(&args.tree_sizes)?;
    ensure!(
        args.kbench.is_file(),
        "--kbench {}: no such file (run scripts/calibrate.sh)",
        args.kbench.display()
    );
    let me = std::env::current_exe().context("locating the calibrate binary")?;
    let me = me.to_string_lossy().into_owned();
    let kbench = args.kbench.to_string_lossy().into_owned();
    fs::create_dir_all(&args.work).with_context(|| format!("creating {}", args.work.display()))?;
    if args.count {
        return drive_count(args, &me, &kbench);
    }
    let busy = wait_for_quiet(args)?;
    let load_start = load_average();
    println!("load average at start: {}", show_load(load_start));
    let mut phases = Vec::new();
    for trial in 0..args.trials {
        eprintln!("calibrate: trial {}/{}", trial + 1, args.trials);
        let mut files: Vec<(&str, String, PathBuf)> =
            keyfile::write_xa(&args.work, args.xa_keys, trial)?
                .into_iter()
                .map(|(set, p)| ("xarray", set, p))
                .collect();
        for &n in &args.tree_sizes {
            files.push((
                "interval_tree",
                n.to_string(),
                keyfile::write_tree(&args.work, n, trial)?,
            ));
        }
        for (structure, set, path) in &files {
            let file = path.to_string_lossy().into_owned();
            let (kkind, okind) = if *structure == "xarray" {
                ("xa", "xa")
            } else {
                ("it", "tree")
            };
            let reps = args.reps.to_string();
            let kernel_argv = vec![
                kbench.clone(),
                kkind.to_string(),
                file.clone(),
                reps.clone(),
            ];
            let ours_argv = vec![
                me.clone(),
                "ours".into(),
                okind.to_string(),
                file.clone(),
                "--reps".into(),
                reps,
            ];
            // `rounds` alternations of the two processes, the first side
            // alternating with the trial; per side and phase the fastest
            // counts, so a trial compares each side at its least disturbed.
            let mut kernel: Option<Vec<(String, f64, u64)>> = None;
            let mut ours: Option<Vec<(String, f64, u64)>> = None;
            // A big tree's phases last a second or more each, long enough
            // to average over the machine's changes of speed; one round.
            let rounds = if *structure == "interval_tree" && set.parse::<usize>()? >= BIG_TREE {
                1
            } else {
                args.rounds
            };
            for round in 0..rounds {
                let kernel_first = (trial + u64::from(round)) % 2 == 0;
                for side in [kernel_first, !kernel_first] {
                    if side {
                        keep_fastest(&mut kernel, run_side(&kernel_argv, args.pin)?, "kernel")?;
                    } else {
                        keep_fastest(&mut ours, run_side(&ours_argv, args.pin)?, "pfntrack")?;
                    }
                }
            }
            let (kernel, ours) = (
                kernel.context("no kernel run")?,
                ours.context("no pfntrack run")?,
            );
            record(&mut phases, structure, set, &kernel, &ours)?;
            fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for p in &mut phases {
        p.kernel_median_ns = median(&p.kernel_ns_per_op);
        p.ours_median_ns = median(&p.ours_ns_per_op);
        let ratios: Vec<f64> = p
            .ours_ns_per_op
            .iter()
            .zip(&p.kernel_ns_per_op)
            .map(|(o, k)| o / k)
            .collect();
        p.ratio_median = median(&ratios);
        p.ratio_range = ratios
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                (lo.min(r), hi.max(r))
            });
        p.nodes_equal = p.kernel_nodes == p.ours_nodes;
        p.in_band = (BAND.0..=BAND.1).contains(&p.ratio_median);
    }
    let load_end = load_average();
    let doc = Calibration {
        schema_version: 3,
        kernel_source: args.kernel_source.clone(),
        trials: args.trials,
        reps: args.reps,
        rounds: args.rounds,
        pinned_cpu: args.pin,
        xa_keys: args.xa_keys,
        tree_sizes: args.tree_sizes.clone(),
        band: BAND,
        load_average_start: load_start,
        load_average_end: load_end,
        busy,
        busy_threshold: busy_threshold(),
        phases,
    };
    print_table(&doc);
    println!("load average at end:   {}", show_load(load_end));
    // At the end the 1-minute average still holds this run's own task
    // (one CPU busy timing for minutes): only load beyond it is others'.
    let end_limit = busy_threshold() + 1.0;
    if busy {
        println!(
            "WARNING: the machine was busy at the start (1-minute load >= {:.2}); these ratios are not a calibration",
            busy_threshold()
        );
    } else if load_end.is_some_and(|l| l[0] >= end_limit) {
        println!(
            "WARNING: the machine got busy while timing (1-minute load at the end >= {end_limit:.2}, this run's own task included); these ratios are not a calibration"
        );
    }
    let path = write_json(&args.out, &doc)?;
    let outside = doc.phases.iter().filter(|p| !p.in_band).count();
    println!(
        "{} phases, {} outside {:.2}..{:.2} (marked !); results in {}",
        doc.phases.len(),
        outside,
        BAND.0,
        BAND.1,
        path.display()
    );
    let unequal: Vec<String> = doc
        .phases
        .iter()
        .filter(|p| !p.nodes_equal)
        .map(|p| format!("{}/{}/{}", p.structure, p.set, p.phase))
        .collect();
    ensure!(
        unequal.is_empty(),
        "node counts differ in {}",
        unequal.join(", ")
    );
    Ok(())
}

/// One phase of one key set in the counted mode (one trial).
#[derive(Serialize)]
pub struct CountedPhase {
    /// `xarray` or `interval_tree`.
    pub structure: String,
    /// XArray key set name, or the tree size.
    pub set: String,
    /// Phase name.
    pub phase: String,
    /// Operations in the phase.
    pub ops: u64,
    /// The kernel side's counts, per op.
    pub kernel_per_op: PerOp,
    /// pfntrack's counts, per op.
    pub ours_per_op: PerOp,
    /// ours / kernel instructions.
    pub instructions_ratio: f64,
    /// ours / kernel L1 data misses (NaN when the kernel side has none).
    pub d1_misses_ratio: f64,
    /// ours / kernel last-level data misses (NaN when the kernel side has none).
    pub ll_misses_ratio: f64,
    /// Live nodes at the end of the phase, kernel side.
    pub kernel_nodes: u64,
    /// Live nodes at the end of the phase, pfntrack.
    pub ours_nodes: u64,
}

/// Counts divided by the phase's operations.
#[derive(Serialize, Clone, Copy)]
pub struct PerOp {
    /// Instructions per op.
    pub instructions: f64,
    /// L1 data-cache misses per op.
    pub d1_misses: f64,
    /// Last-level data-cache misses per op.
    pub ll_misses: f64,
}

/// The document `drive --count` writes.
#[derive(Serialize)]
pub struct CountDoc {
    /// Format version of this document.
    pub schema_version: u32,
    /// The kernel source kbench was built from.
    pub kernel_source: String,
    /// The caches callgrind simulated.
    pub simulated_caches: Vec<String>,
    /// Keys per XArray set.
    pub xa_keys: u64,
    /// Interval-tree sizes.
    pub tree_sizes: Vec<usize>,
    /// Every phase.
    pub phases: Vec<CountedPhase>,
}

/// Operations per phase of a key file, as both sides count them.
fn ops_of(structure: &str, path: &Path) -> Result<BTreeMap<String, u64>> {
    let mut m = BTreeMap::new();
    if structure == "xarray" {
        let k = keyfile::read_xa(path)?;
        let (h, x) = (k.hits.len() as u64, k.misses.len() as u64);
        m.extend(
            [("store", h), ("load", h), ("miss", x), ("erase", h)].map(|(p, n)| (p.to_string(), n)),
        );
    } else {
        let k = keyfile::read_tree(path)?;
        let (b, s, f, v) = (
            k.base.len() as u64,
            k.stab.len() as u64,
            k.fresh.len() as u64,
            k.victims.len() as u64,
        );
        m.extend(
            [
                ("fill", b),
                ("stab", s),
                ("stab_all", s),
                ("insert", f),
                ("remove", v),
                ("drain", b),
            ]
            .map(|(p, n)| (p.to_string(), n)),
        );
    }
    Ok(m)
}

fn per_op(c: &Counts, ops: u64) -> PerOp {
    let n = ops.max(1) as f64;
    PerOp {
        instructions: c.instructions as f64 / n,
        d1_misses: c.d1_misses as f64 / n,
        ll_misses: c.ll_misses as f64 / n,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// The counted mode (see count.rs): trial 0's key files, each side once.
fn drive_count(args: &DriveArgs, me: &str, kbench: &str) -> Result<()> {
    let mut files: Vec<(&str, String, PathBuf)> = keyfile::write_xa(&args.work, args.xa_keys, 0)?
        .into_iter()
        .map(|(set, p)| ("xarray", set, p))
        .collect();
    for &n in &args.tree_sizes {
        files.push((
            "interval_tree",
            n.to_string(),
            keyfile::write_tree(&args.work, n, 0)?,
        ));
    }
    let mut phases = Vec::new();
    for (structure, set, path) in &files {
        eprintln!("calibrate: counting {structure} {set} (under valgrind, slow)");
        let file = path.to_string_lossy().into_owned();
        let (kkind, okind) = if *structure == "xarray" {
            ("xa", "xa")
        } else {
            ("it", "tree")
        };
        let ops = ops_of(structure, path)?;
        let kargv = vec![
            kbench.to_string(),
            kkind.to_string(),
            file.clone(),
            "1".into(),
        ];
        let oargv = vec![
            me.to_string(),
            "ours".into(),
            okind.to_string(),
            file.clone(),
            "--reps".into(),
            "1".into(),
        ];
        let kout = args
            .work
            .join(format!("callgrind.kernel.{structure}.{set}"));
        let oout = args.work.join(format!("callgrind.ours.{structure}.{set}"));
        let (ktext, kc) = run_counted(&kargv, &kout, "phase_*")?;
        let (otext, oc) = run_counted(&oargv, &oout, "calibrate::ours::phase_*")?;
        let klines = parse_lines(&ktext, &kargv.join(" "))?;
        let olines = parse_lines(&otext, &oargv.join(" "))?;
        ensure!(
            klines.len() == olines.len() && klines.iter().zip(&olines).all(|(k, o)| k.0 == o.0),
            "{structure}/{set}: the two sides ran different phases"
        );
        for (k, o) in klines.iter().zip(&olines) {
            let phase = &k.0;
            let n = *ops
                .get(phase)
                .with_context(|| format!("{structure}: unknown phase {phase}"))?;
            let kc = kc.get(phase).with_context(|| {
                format!("kernel side: no phase_*_{phase} function in the profile")
            })?;
            let oc = oc.get(phase).with_context(|| {
                format!("pfntrack side: no phase_*_{phase} function in the profile")
            })?;
            let (kp, op) = (per_op(kc, n), per_op(oc, n));
            phases.push(CountedPhase {
                structure: structure.to_string(),
                set: set.clone(),
                phase: phase.clone(),
                ops: n,
                kernel_per_op: kp,
                ours_per_op: op,
                instructions_ratio: ratio(op.instructions, kp.instructions),
                d1_misses_ratio: ratio(op.d1_misses, kp.d1_misses),
                ll_misses_ratio: ratio(op.ll_misses, kp.ll_misses),
                kernel_nodes: k.2,
                ours_nodes: o.2,
            });
        }
        fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    let doc = CountDoc {
        schema_version: 1,
        kernel_source: args.kernel_source.clone(),
        simulated_caches: CACHES.iter().map(|s| s.to_string()).collect(),
        xa_keys: args.xa_keys,
        tree_sizes: args.tree_sizes.clone(),
        phases,
    };
    println!(
        "{:<14} {:<19} {:<9} {:>9} {:>9} {:>6} {:>8} {:>8} {:>6} {:>8} {:>8} {:>6} {:>9} {:>9}",
        "structure",
        "set",
        "phase",
        "Ir kern",
        "Ir ours",
        "ratio",
        "D1 kern",
        "D1 ours",
        "ratio",
        "LL kern",
        "LL ours",
        "ratio",
        "nodes k",
        "nodes o"
    );
    for p in &doc.phases {
        let flag = if (BAND.0..=BAND.1).contains(&p.instructions_ratio) {
            ' '
        } else {
            '!'
        };
        println!(
            "{:<14} {:<19} {:<9} {:>9.1} {:>9.1} {:>5.2}{flag} {:>8.3} {:>8.3} {:>6.2} {:>8.3} {:>8.3} {:>6.2} {:>9} {:>9}",
            p.structure,
            p.set,
            p.phase,
            p.kernel_per_op.instructions,
            p.ours_per_op.instructions,
            p.instructions_ratio,
            p.kernel_per_op.d1_misses,
            p.ours_per_op.d1_misses,
            p.d1_misses_ratio,
            p.kernel_per_op.ll_misses,
            p.ours_per_op.ll_misses,
            p.ll_misses_ratio,
            p.kernel_nodes,
            p.ours_nodes,
        );
    }
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("counts.json");
    let tmp = args.out.join(".counts.json.tmp");
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    let outside = doc
        .phases
        .iter()
        .filter(|p| !(BAND.0..=BAND.1).contains(&p.instructions_ratio))
        .count();
    println!(
        "per op; Ir = instructions, D1/LL = simulated data-cache misses. {} phases, {} with an instruction ratio outside {:.2}..{:.2} (marked !); results in {}",
        doc.phases.len(),
        outside,
        BAND.0,
        BAND.1,
        path.display()
    );
    let unequal: Vec<String> = doc
        .phases
        .iter()
        .filter(|p| p.kernel_nodes != p.ours_nodes)
        .map(|p| format!("{}/{}/{}", p.structure, p.set, p.phase))
        .collect();
    ensure!(
        unequal.is_empty(),
        "node counts differ in {}",
        unequal.join(", ")
    );
    Ok(())
}
