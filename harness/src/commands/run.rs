//! `pfntrack run` and `pfntrack replay`: measure the designs on generated
//! scenarios or a recorded trace, write the results document, print the
//! report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use strategies::memtype::PatConfig;
use strategies::{Strategy, TrackerConfig};

use crate::cli::{MeasureArgs, ReplayArgs, RunArgs};
use crate::measure::env::now_rfc3339;
use crate::measure::memory::MemoryModel;
use crate::measure::progress::Progress;
use crate::measure::timer::Timer;
use crate::output;
use crate::report::render;
use crate::results::{EnvInfo, ToolInfo};
use crate::results::{RunParams, RunResults, SCHEMA_VERSION, ScenarioResult};
use crate::runner::{Prepared, RunOptions, run_scenario};
use crate::workload::generator::{DEFAULT_SEED, generate};
use crate::workload::rng::RNG_NAME;
use crate::workload::scenario::Scenario;
use crate::workload::trace::read_trace_file;

/// Where results go unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "bench-results/latest";

/// A scenario ready to generate.
struct Planned {
    name: String,
    scenario: Scenario,
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=.,/:+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The measurement options shared by `run` and `replay`, resolved.
struct Resolved {
    strategies: Vec<Strategy>,
    repeats: u32,
    threads: Vec<u32>,
    memory: MemoryModel,
    out: PathBuf,
}

/// Check and resolve the measurement options; `threads` is `run`'s
/// `--threads` (a replay runs the trace's own streams: 1 here).
fn resolve_measure(m: &MeasureArgs, threads: u32) -> anyhow::Result<Resolved> {
    anyhow::ensure!(m.repeat >= 1, "--repeat must be at least 1");
    anyhow::ensure!(
        (1..=strategies::percpu::MAX_CPUS as u32 - 1).contains(&threads),
        "--threads must be between 1 and {}",
        strategies::percpu::MAX_CPUS - 1
    );
    anyhow::ensure!(
        m.xa_key_shift == 0 || m.xa_key_shift == 6,
        "--xa-key-shift must be 0 (raw VMA pointer) or 6 (pointer >> 6)"
    );
    let mut strategies: Vec<Strategy> = Vec::new();
    for s in &m.strategies {
        anyhow::ensure!(
            !s.is_oracle(),
            "--strategies {s}: the reference models are test oracles, not designs to \
             benchmark (use `pfntrack check`)"
        );
        if !strategies.contains(s) {
            strategies.push(*s);
        }
    }
    anyhow::ensure!(!strategies.is_empty(), "--strategies names no design");
    let memory = MemoryModel::new(&m.layout_config, m.slab_cpus).with_context(|| {
        format!(
            "--layout-config {} --slab-cpus {}",
            m.layout_config, m.slab_cpus
        )
    })?;
    let out = m.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    // Before any generating or measuring: a bad --out must not cost a run.
    output::check_out_dir("--out", &out)?;
    Ok(Resolved {
        strategies,
        repeats: m.repeat,
        threads: (1..=threads).collect(),
        memory,
        out,
    })
}

/// The measurement flags, spelled out for the reproduce line.
fn measure_flags(m: &MeasureArgs, r: &Resolved) -> String {
    let names: Vec<&str> = r.strategies.iter().map(|s| s.name()).collect();
    format!(
        "--strategies {} --repeat {} --layout-config {} --slab-cpus {} --xa-key-shift {}",
        names.join(","),
        m.repeat,
        shell_quote(&m.layout_config),
        m.slab_cpus,
        m.xa_key_shift
    )
}

struct Job {
    name: String,
    params: serde_json::Value,
    seed: Option<u64>,
    tracker: TrackerConfig,
    prepared: Vec<Prepared>,
}

/// Measure every job and write + print the results.
fn measure(
    jobs: Vec<Job>,
    m: &MeasureArgs,
    r: &Resolved,
    seed: u64,
    quick: bool,
    command: String,
) -> anyhow::Result<ExitCode> {
    let started_at = now_rfc3339();
    let t0 = Instant::now();
    let timer = Timer::calibrate();
    let total = jobs.len() as u64
        * r.threads.len() as u64
        * u64::from(r.repeats)
        * r.strategies.len() as u64;
    let progress = Progress::new(total, "measuring", m.quiet);
    let mut scenarios: Vec<ScenarioResult> = Vec::new();
    for job in jobs {
        let opts = RunOptions {
            strategies: r.strategies.clone(),
            repeats: r.repeats,
            tracker: job.tracker,
            memory: r.memory.clone(),
            seed: job.seed.unwrap_or(seed),
            quiet: m.quiet,
        };
        let res = run_scenario(
            &job.name,
            job.params,
            job.seed,
            &job.prepared,
            &opts,
            &timer,
            &progress,
        )
        .with_context(|| format!("scenario {}", job.name))?;
        scenarios.push(res);
    }
    progress.finish();
    let results = RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        env: EnvInfo::capture(&timer),
        command,
        started_at,
        duration_s: t0.elapsed().as_secs_f64(),
        params: RunParams {
            repeats: r.repeats,
            threads: r.threads.clone(),
            quick,
            seed,
            rng: RNG_NAME.to_string(),
            strategies: r.strategies.clone(),
            layout_config: r.memory.config_name.clone(),
            slab_nr_cpus: r.memory.nr_cpus,
            xa_key_shift: m.xa_key_shift,
            refcount_max: strategies::kref::REFCOUNT_MAX,
        },
        scenarios,
    };
    let path = r.out.join("results.json");
    results
        .write_atomic(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    output::print(&render(&results, m.format))?;
    if !m.quiet {
        output::note(format_args!("results: {}", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}

fn tracker_config(
    pat_enabled: bool,
    phys: strategies::phys::PhysMap,
    xa_key_shift: u32,
) -> TrackerConfig {
    TrackerConfig {
        pat: PatConfig {
            enabled: pat_enabled,
            phys: std::sync::Arc::new(phys),
        },
        xa_key_shift,
        ..TrackerConfig::default()
    }
}

/// `pfntrack run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let r = resolve_measure(&args.measure, args.threads)?;
    let seed = args.seed.unwrap_or(DEFAULT_SEED);
    let names: Vec<String> = if args.scenario.is_empty() {
        Scenario::PRESETS.iter().map(|s| s.to_string()).collect()
    } else {
        args.scenario.clone()
    };
    let mut planned = Vec::new();
    for name in &names {
        let mut scenario = Scenario::resolve(name)?;
        if args.quick {
            scenario = scenario.quick();
        }
        for p in &args.param {
            scenario.apply_param(p)?;
        }
        scenario
            .validate()
            .with_context(|| format!("scenario {name}"))?;
        crate::limits::check_scenario_fits(&scenario, args.threads, 1, "--threads")
            .with_context(|| format!("scenario {name}"))?;
        let display = Path::new(name)
            .file_stem()
            .filter(|_| name.ends_with(".toml"))
            .map_or(name.clone(), |s| s.to_string_lossy().into_owned());
        planned.push(Planned {
            name: display,
            scenario,
        });
    }
    let mut command = String::from("pfntrack run");
    for name in &args.scenario {
        command += &format!(" --scenario {}", shell_quote(name));
    }
    for p in &args.param {
        command += &format!(" --param {}", shell_quote(p));
    }
    if args.quick {
        command += " --quick";
    }
    command += &format!(
        " --seed {seed} --threads {} {}",
        args.threads,
        measure_flags(&args.measure, &r)
    );

    let mut jobs = Vec::new();
    for p in planned {
        // One workload for the most threads; each thread count runs its
        // first streams (see `Prepared`).
        let most = r.threads.iter().copied().max().unwrap_or(1);
        let workload = std::sync::Arc::new(generate(&p.scenario, seed, most));
        let prepared = r
            .threads
            .iter()
            .map(|&t| Prepared {
                threads: t,
                workload: workload.clone(),
            })
            .collect();
        jobs.push(Job {
            tracker: tracker_config(
                p.scenario.pat_enabled,
                p.scenario.phys_map(),
                args.measure.xa_key_shift,
            ),
            params: p.scenario.to_json(),
            name: p.name,
            seed: Some(seed),
            prepared,
        });
    }
    measure(jobs, &args.measure, &r, seed, args.quick, command)
}

/// `pfntrack replay`.
pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let r = resolve_measure(&args.measure, 1)?;
    let trace = read_trace_file(&args.trace)?;
    crate::limits::check_trace_fits(&trace.workload, 1, &args.trace)?;
    let seed = trace
        .header
        .meta("seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let name = args
        .trace
        .file_name()
        .map_or_else(|| "trace".to_string(), |n| n.to_string_lossy().into_owned());
    let params = serde_json::json!({
        "trace": args.trace.display().to_string(),
        "meta": trace.header.meta.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    });
    let threads = trace.workload.workers.len() as u32;
    let command = format!(
        "pfntrack replay {} {}",
        shell_quote(&args.trace.display().to_string()),
        measure_flags(&args.measure, &r)
    );
    let job = Job {
        name,
        params,
        seed: None,
        tracker: tracker_config(
            trace.header.pat_enabled,
            trace.header.phys_map(),
            args.measure.xa_key_shift,
        ),
        prepared: vec![Prepared {
            threads,
            workload: std::sync::Arc::new(trace.workload),
        }],
    };
    let mut r = r;
    r.threads = vec![threads];
    measure(vec![job], &args.measure, &r, seed, false, command)
}
