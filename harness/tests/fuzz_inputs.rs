//! Property-based fuzzing of everything a user can hand pfntrack: command
//! lines, trace files, TOML scenarios, pahole output and results JSON. No
//! input may panic or abort; a bad one must be an error. Each property
//! mutates a valid input (byte flips, deleted and duplicated lines, words
//! replaced by extreme numbers) or builds one from a vocabulary of flags
//! and values, then runs it through what the command does before any
//! measuring: parsing, validation, the size check, and (when the estimate
//! is small) the generator, the reports and the comparison.
//!
//! The suite runs 64 cases per property. The campaign of the issue runs
//! 20,000 per property (100,000 in all):
//!
//!     PFNTRACK_FUZZ_CASES=20000 cargo test --release -p pfntrack --test fuzz_inputs
//!
//! A panic fails the property (proptest shrinks it and prints the input);
//! an abort ends the test binary, which fails the run.
//!
//! The inputs flow from a fixed seed, so `cargo test` checks the same
//! cases on every run (a test suite that fails on unchanged code by
//! luck is no gate); a campaign explores new ones with another seed:
//!
//!     PFNTRACK_FUZZ_SEED=7 PFNTRACK_FUZZ_CASES=20000 cargo test --release -p pfntrack --test fuzz_inputs

use std::path::Path;

use clap::Parser;
use proptest::prelude::*;

use pfntrack::cli::{Cli, Command};
use pfntrack::limits;
use pfntrack::workload::{Scenario, generate, parse_trace};

fn cases() -> u32 {
    std::env::var("PFNTRACK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// The seed of proptest's generator (its default algorithm, ChaCha).
fn seed() -> u64 {
    std::env::var("PFNTRACK_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed()),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Values that have broken parsers before: extremes, signs, junk.
fn nasty_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..70).prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("4294967295".to_string()),
        Just("18446744073709551616".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("0x10000".to_string()),
        Just("1e300".to_string()),
        Just("nan".to_string()),
        Just("".to_string()),
        Just("\u{1F600}".to_string()),
    ]
}

/// Replace, delete, duplicate or corrupt parts of `text`.
fn mutate(text: String) -> impl Strategy<Value = String> {
    let n = text.len().max(1);
    let lines = text.lines().count().max(1);
    prop::collection::vec((0..4u8, 0..n, 0..lines, any::<u8>(), nasty_number()), 1..6).prop_map(
        move |edits| {
            let mut t = text.clone();
            for (kind, at, line, byte, num) in edits {
                match kind {
                    0 => {
                        // Flip a byte (kept valid UTF-8 by replacing lossily).
                        let mut b = t.clone().into_bytes();
                        if !b.is_empty() {
                            let i = at % b.len();
                            b[i] = byte;
                        }
                        t = String::from_utf8_lossy(&b).into_owned();
                    }
                    1 => {
                        let mut ls: Vec<&str> = t.lines().collect();
                        if !ls.is_empty() {
                            ls.remove(line % ls.len());
                        }
                        t = ls.join("\n") + "\n";
                    }
                    2 => {
                        let mut ls: Vec<String> = t.lines().map(String::from).collect();
                        if !ls.is_empty() {
                            let i = line % ls.len();
                            let dup = ls[i].clone();
                            ls.insert(i, dup);
                        }
                        t = ls.join("\n") + "\n";
                    }
                    _ => {
                        // Replace the first number-like word of a line.
                        let mut ls: Vec<String> = t.lines().map(String::from).collect();
                        if !ls.is_empty() {
                            let i = line % ls.len();
                            let words: Vec<String> = ls[i]
                                .split(' ')
                                .map(|w| {
                                    if !w.is_empty()
                                        && w.bytes().all(|c| c.is_ascii_hexdigit() || c == b'x')
                                    {
                                        num.clone()
                                    } else {
                                        w.to_string()
                                    }
                                })
                                .collect();
                            ls[i] = words.join(" ");
                        }
                        t = ls.join("\n") + "\n";
                    }
                }
            }
            t
        },
    )
}

fn repo_file(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join(rel);
    std::fs::read_to_string(p).unwrap()
}

/// Generate only what is cheap in a test: the size check decides first.
fn small_enough(sc: &Scenario, workers: u32) -> bool {
    let est = limits::Estimate::of_scenario(sc, workers, 1);
    est.ops_per_worker.saturating_mul(u64::from(est.workers)) < 50_000
        && est.vmas_per_worker < 20_000
}

/// What `gen`/`check`/`run` do with a scenario before measuring.
fn exercise_scenario(sc: &Scenario, threads: u32) {
    if sc.validate().is_err() {
        return;
    }
    if limits::check_scenario_fits(sc, threads, 5, "--threads").is_err() {
        return;
    }
    if small_enough(sc, threads) {
        let w = generate(sc, 1, threads);
        pfntrack::workload::validate_workload(&w).expect("generated streams are valid");
    }
}

fn cli_word() -> impl Strategy<Value = String> {
    let words = [
        "run",
        "gen",
        "check",
        "list",
        "layout",
        "replay",
        "report",
        "compare",
        "chart",
        "--scenario",
        "--param",
        "--seed",
        "--threads",
        "--quick",
        "--repeat",
        "--out",
        "--strategies",
        "--xa-key-shift",
        "--slab-cpus",
        "--layout-config",
        "--format",
        "--config",
        "--set",
        "--cpus",
        "--vmas",
        "--matrix",
        "--add-field",
        "--after",
        "--pahole",
        "fork-storm",
        "mixed",
        "split-churn",
        "driver-mmap",
        "per-vma,xarray",
        "reference",
        "lkml",
        "processes=",
        "churn_ops=",
        "bars=",
        "ioremaps=",
        "max_children=",
        "fault_burst_pages_max=",
        "bar_pages_max=",
        "pfnmap_vmas_per_process=",
        "nope=",
        "USERFAULTFD=y",
        "void *x:8",
        "x:",
        "char x[1]:",
        "vm_mm",
        "-q",
        "--help",
    ];
    prop_oneof![
        4 => prop::sample::select(words.to_vec()).prop_map(String::from),
        2 => (prop::sample::select(words.to_vec()), nasty_number())
            .prop_map(|(w, n)| format!("{w}{n}")),
        1 => nasty_number(),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Command lines: parse; then everything a command checks before it
    /// works (scenario resolution, parameters, the size estimate, layout
    /// reports, which need no output files).
    #[test]
    fn command_lines(words in prop::collection::vec(cli_word(), 0..10)) {
        let argv = std::iter::once("pfntrack".to_string()).chain(words);
        let Ok(cli) = Cli::try_parse_from(argv) else { return Ok(()) };
        match cli.command {
            Command::Gen(a) => {
                if let Ok(sc) = pfntrack::commands::r#gen::resolve_scenario(&a.scenario, a.quick, &a.params) {
                    exercise_scenario(&sc, a.threads);
                }
            }
            Command::Check(a) => {
                if let Some(name) = &a.scenario
                    && let Ok(sc) =
                        pfntrack::commands::r#gen::resolve_scenario(name, a.quick, &a.param)
                {
                    exercise_scenario(&sc, a.threads.clamp(1, limits::MAX_WORKERS));
                }
            }
            Command::Run(a) => {
                for name in &a.scenario {
                    if let Ok(sc) = pfntrack::commands::r#gen::resolve_scenario(name, a.quick, &a.param) {
                        exercise_scenario(&sc, a.threads.clamp(1, limits::MAX_WORKERS));
                    }
                }
            }
            Command::Layout(a) if a.pahole.is_none() && !a.matrix => {
                let _ = pfntrack::commands::layout::config_report(a.config.as_deref(), &a.set, a.cpus, a.vmas);
            }
            _ => {}
        }
    }

    /// Trace files: mutated copies of the documented example.
    #[test]
    fn traces(text in mutate(repo_file("harness/tests/data/example.trace"))) {
        let path = Path::new("fuzz.trace");
        if let Ok(t) = parse_trace(text.as_bytes(), path) {
            let _ = limits::check_trace_fits(&t.workload, 5, path);
            let _ = pfntrack::workload::validate_workload(&t.workload);
        }
    }

    /// TOML scenario files: a preset's fields with mutated values.
    #[test]
    fn scenario_files(text in mutate(scenario_toml()), threads in 1u32..64) {
        if let Ok(sc) = Scenario::from_toml_str(&text, Path::new("fuzz.toml")) {
            exercise_scenario(&sc, threads);
        }
    }

    /// pahole output and --add-field/--after specs.
    #[test]
    fn pahole_text(
        text in mutate(repo_file("strategies/tests/data/pahole-vm_area_struct-x86_64.txt")),
        size in nasty_number(),
        after in prop::option::of(prop::sample::select(vec!["vm_mm", "shared", "nope", ""])),
    ) {
        let dir = std::env::temp_dir().join(format!("pfntrack-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{:?}.txt", std::thread::current().id()).replace(['(', ')'], ""));
        std::fs::write(&file, &text).unwrap();
        let edits = pfntrack::commands::layout::FieldEditArgs {
            edits: vec![(format!("char x[1]:{size}"), after.map(String::from))],
        };
        let _ = pfntrack::commands::layout::pahole_report(&file, &edits, 4, Some(1000));
        let _ = strategies::layout::pahole::parse(&text);
    }

    /// Results documents: mutated copies of a synthetic one, rendered in
    /// every format and compared with the original.
    #[test]
    fn results_json(text in mutate(results_json_text())) {
        let path = Path::new("fuzz.json");
        if let Ok(r) = pfntrack::results::RunResults::from_json(&text, path) {
            for f in pfntrack::report::ReportFormat::ALL {
                let _ = pfntrack::report::render(&r, f);
            }
            let _ = pfntrack::report::verdict::verdict(&r);
            let base = pfntrack::run_summary::RunSummary::of(
                &pfntrack::report::fixture::Fixture::new().build(),
            );
            let new = pfntrack::run_summary::RunSummary::of(&r);
            for different in [pfntrack::compare::Different::Refuse, pfntrack::compare::Different::Allow] {
                if let Ok(c) = pfntrack::compare::compare(&base, &new, different) {
                    for f in pfntrack::compare::CompareFormat::ALL {
                        let _ = c.render(("base", &base), ("new", &new), f);
                    }
                    let _ = pfntrack::compare::regression_report(&c, 10.0);
                }
            }
        }
    }
}

fn scenario_toml() -> String {
    let sc = Scenario::preset("mixed").unwrap().quick();
    let mut t = toml::to_string(&sc).unwrap();
    t.push('\n');
    t
}

fn results_json_text() -> String {
    let r = pfntrack::report::fixture::Fixture::new().build();
    serde_json::to_string_pretty(&r).unwrap()
}
