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

use crate::keyfile;

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
    /// CPU both sides were pinned to, if any.
    pub pinned_cpu: Option<u32>,
    /// Keys per XArray set.
    pub xa_keys: u64,
    /// Interval-tree sizes.
    pub tree_sizes: Vec<usize>,
    /// Lower and upper bound of the accepted ratio.
    pub band: (f64, f64),
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
        "{:<14} {:<19} {:<9} {:>11} {:>11} {:>7} {:>12} {:>12}",
        "structure", "set", "phase", "kernel ns", "ours ns", "ratio", "nodes kernel", "nodes ours"
    );
    for p in &doc.phases {
        let flag = if p.in_band { ' ' } else { '!' };
        println!(
            "{:<14} {:<19} {:<9} {:>11.1} {:>11.1} {:>6.2}{flag} {:>12} {:>12}",
            p.structure,
            p.set,
            p.phase,
            p.kernel_median_ns,
            p.ours_median_ns,
            p.ratio_median,
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
            // Alternate which side runs first.
            let (kernel, ours) = if trial % 2 == 0 {
                let k = run_side(&kernel_argv, args.pin)?;
                (k, run_side(&ours_argv, args.pin)?)
            } else {
                let o = run_side(&ours_argv, args.pin)?;
                (run_side(&kernel_argv, args.pin)?, o)
            };
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
        p.nodes_equal = p.kernel_nodes == p.ours_nodes;
        p.in_band = (BAND.0..=BAND.1).contains(&p.ratio_median);
    }
    let doc = Calibration {
        schema_version: 1,
        kernel_source: args.kernel_source.clone(),
        trials: args.trials,
        reps: args.reps,
        pinned_cpu: args.pin,
        xa_keys: args.xa_keys,
        tree_sizes: args.tree_sizes.clone(),
        band: BAND,
        phases,
    };
    print_table(&doc);
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
