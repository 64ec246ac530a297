//! Property tests of trace files: any generated workload survives
//! write -> parse unchanged, and the parser never panics on damaged input
//! (lines deleted, duplicated, swapped, words replaced, random bytes).

use std::path::Path;

use pfntrack::workload::{
    Scenario, TraceHeader, Workload, generate, parse_trace, validate_workload, write_trace,
};
use proptest::prelude::*;

/// A small scenario with every knob drawn at random (what validates).
fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::sample::select(Scenario::PRESETS.to_vec()),
        (1u32..4, 0u32..5, 0u32..5, 0u32..400),
        prop::collection::vec(0u32..4, 11),
        (0u32..3, 0u32..3, 0u32..3),
        (0.0f64..=1.0, 0.0f64..=0.3, any::<bool>(), any::<bool>()),
        (1u32..6, 1u32..20, 0u32..6),
    )
        .prop_map(
            |(
                preset,
                (p, k, m, churn),
                w,
                (rf, rp, rn),
                (pfp, conflict, reserve, pat),
                (burst, maxpages, ioremaps),
            )| {
                let mut s = Scenario::preset(preset).unwrap();
                s.processes = p;
                s.pfnmap_vmas_per_process = k;
                s.ordinary_vmas_per_process = m;
                s.churn_ops = churn;
                s.pfnmap_vma_pages_max = maxpages;
                s.ordinary_vma_pages_max = maxpages;
                s.bar_pages_min = 32;
                s.bar_pages_max = 64;
                s.mmap_weight = w[0];
                s.munmap_weight = w[1];
                s.munmap_partial_weight = w[2];
                s.split_weight = w[3];
                s.mremap_weight = w[4];
                s.fork_weight = w[5];
                s.exit_weight = w[6];
                s.fault_weight = w[7];
                s.partial_remap_weight = w[8];
                s.lookup_weight = w[9];
                s.ioremap_weight = w[10];
                s.driver_remap_full_weight = rf;
                s.driver_remap_partial_weight = rp;
                s.driver_fault_only_weight = rn;
                s.churn_pfnmap_probability = pfp;
                s.conflict_probability = conflict;
                s.reserve_bars = reserve;
                s.pat_enabled = pat;
                s.fault_burst_pages_max = burst;
                s.max_children = 2;
                s.max_worker_ioremaps = 3;
                s.ioremaps = ioremaps;
                s.bars = 3;
                s
            },
        )
        .prop_filter("valid scenario", |s| s.validate().is_ok())
}

fn to_text(header: &TraceHeader, w: &Workload) -> String {
    let mut out = Vec::new();
    write_trace(&mut out, header, w).unwrap();
    String::from_utf8(out).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generate_write_parse_round_trips(sc in scenario(), seed in any::<u64>(), workers in 1u32..3) {
        let w = generate(&sc, seed, workers);
        let stats = validate_workload(&w).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(stats.end_live_vmas, 0);
        let header = TraceHeader::for_scenario(&sc.preset, &sc, seed, workers);
        let text = to_text(&header, &w);
        let t = parse_trace(text.as_bytes(), Path::new("p.trace"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.header, header);
        prop_assert_eq!(t.workload, w);
    }
}

/// One way of damaging a trace.
#[derive(Debug, Clone)]
enum Damage {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Word(usize, usize, String),
    Bytes(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Delete),
        any::<usize>().prop_map(Damage::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Damage::Swap(a, b)),
        (
            any::<usize>(),
            any::<usize>(),
            prop_oneof![
                Just(String::new()),
                Just("0".to_string()),
                Just("4294967295".to_string()),
                Just("0xffffffffffffffff".to_string()),
                Just("18446744073709551616".to_string()),
                Just("-1".to_string()),
                Just("UC-".to_string()),
                Just("end".to_string()),
                Just("worker".to_string()),
                "[a-z0-9#]{1,6}",
            ]
        )
            .prop_map(|(l, w, s)| Damage::Word(l, w, s)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, b)| Damage::Bytes(at, b)),
    ]
}

fn apply(text: &str, d: &Damage) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len();
    match d {
        Damage::Delete(i) => {
            lines.remove(i % n);
        }
        Damage::Duplicate(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Damage::Swap(a, b) => lines.swap(a % n, b % n),
        Damage::Word(l, w, s) => {
            let mut words: Vec<&str> = lines[l % n].split(' ').collect();
            let k = words.len();
            words[w % k] = s;
            lines[l % n] = words.join(" ");
        }
        Damage::Bytes(at, b) => {
            let mut bytes = text.as_bytes().to_vec();
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
            return bytes;
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn damaged_traces_never_panic(seed in 0u64..4, damages in prop::collection::vec(damage(), 1..4)) {
        let mut sc = Scenario::preset("mixed").unwrap();
        sc.processes = 2;
        sc.churn_ops = 60;
        sc.ioremaps = 3;
        sc.fork_weight = 10;
        let w = generate(&sc, seed, 2);
        let text = to_text(&TraceHeader::for_scenario("mixed", &sc, seed, 2), &w);
        let mut bytes = text.into_bytes();
        for d in &damages {
            let t = String::from_utf8_lossy(&bytes).into_owned();
            bytes = apply(&t, d);
        }
        match parse_trace(bytes.as_slice(), Path::new("d.trace")) {
            // What parses must be a workload the simulator can run.
            Ok(t) => prop_assert!(validate_workload(&t.workload).is_ok()),
            Err(e) => {
                let line = e.line().expect("a parse error has a line");
                let nr_lines = bytes.split(|&b| b == b'\n').count();
                prop_assert!(line >= 1 && line <= nr_lines, "line {} of {}", line, nr_lines);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_trace(bytes.as_slice(), Path::new("r.trace"));
        let mut with_magic = b"pfntrack-trace v1\n".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = parse_trace(with_magic.as_slice(), Path::new("r.trace"));
    }
}

#[test]
fn the_example_trace_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/example.trace");
    let t = pfntrack::workload::read_trace_file(&path).unwrap();
    assert_eq!(t.workload.workers.len(), 2);
    let stats = validate_workload(&t.workload).unwrap();
    assert_eq!(stats.end_live_processes, 0);
    assert!(stats.full_remaps > 0 && stats.forks > 0 && stats.faults > 0);
}

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_documented_example_parses() {
    let text = doc("trace-format.md");
    let example = text.split("## Example").nth(1).unwrap();
    let body = example
        .split("```")
        .nth(1)
        .unwrap()
        .trim_start_matches('\n');
    let t = parse_trace(body.as_bytes(), Path::new("trace-format.md")).unwrap();
    let stats = validate_workload(&t.workload).unwrap();
    assert_eq!(
        (stats.forks, stats.full_remaps, stats.end_live_vmas),
        (1, 1, 0)
    );
}

#[test]
fn every_scenario_field_is_documented() {
    let text = doc("scenarios.md");
    for key in Scenario::keys() {
        assert!(
            text.contains(&format!("`{key}`")),
            "docs/scenarios.md lacks `{key}`"
        );
    }
    for preset in Scenario::PRESETS {
        assert!(text.contains(&format!("| `{preset}` |")), "{preset}");
    }
}
