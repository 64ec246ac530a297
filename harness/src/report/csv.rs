//! The `csv` export: every raw figure of a results document in one tidy
//! long table (RFC 4180, header row, `\n` line ends), for R, pandas or a
//! spreadsheet. No statistics: those are the reader's to choose.
//!
//! Columns:
//!
//! | column | meaning |
//! |---|---|
//! | `scenario` | scenario name |
//! | `threads` | worker threads |
//! | `design` | `per-vma`, `xarray`, `memtype-ext`, `legacy`, `null` |
//! | `repeat` | 0-based repeat index; empty for figures taken once per design (memory, reservations) |
//! | `metric` | what was measured (below) |
//! | `unit` | `ns`, `ops/s`, `calls`, `count`, `bytes`, `objects`, `vmas` |
//! | `value` | the number, shortest exact decimal |
//!
//! Metrics per repeat: `wall_ns`, `ops_per_sec`, `hook_ns_total`;
//! `hook.<hook>.{count,mean_ns,tmean_ns,p50_ns,p90_ns,p99_ns,p999_ns,max_ns}` for
//! each hook that ran; `errors.<name>` for each hook error or refusal.
//! Per design (empty `repeat`), for `<when>` in `peak` and `end`:
//! `memory.<when>.kernel_bytes`, `memory.<when>.bytes_per_tracked_vma`,
//! `memory.<when>.nr_vmas`, `memory.<when>.nr_tracked_vmas`,
//! `memory.<when>.bytes.<kind>` and `memory.<when>.objects.<kind>`;
//! `memory.sim_heap_peak_bytes`, `memory.sim_heap_end_bytes`; and
//! `reservations_peak`, `invalid_frees`, `reservations_leaked` (`count`).
//!
//! Rows come in document order: scenarios, designs, repeats, hooks in
//! report order. The latency CDFs and memory series are left to the json
//! document, which charts read.

use crate::measure::hook::Hook;
use crate::report::Exporter;
use crate::results::{DesignResult, KernelMemory, RunResults, ScenarioResult};

/// The `csv` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Csv;

/// The header row.
pub const COLUMNS: [&str; 7] = [
    "scenario", "threads", "design", "repeat", "metric", "unit", "value",
];

/// One figure of the table.
struct Figure<'a> {
    scenario: &'a ScenarioResult,
    design: &'a DesignResult,
    repeat: Option<usize>,
    metric: String,
    unit: &'static str,
    value: String,
}

fn figures<'a>(scenario: &'a ScenarioResult, d: &'a DesignResult) -> Vec<Figure<'a>> {
    let mut out = Vec::new();
    let mut push = |repeat: Option<usize>, metric: String, unit: &'static str, value: String| {
        out.push(Figure {
            scenario,
            design: d,
            repeat,
            metric,
            unit,
            value,
        })
    };
    for (i, r) in d.repeats.iter().enumerate() {
        let at = Some(i);
        push(at, "wall_ns".into(), "ns", r.wall_ns.to_string());
        push(at, "ops_per_sec".into(), "ops/s", r.ops_per_sec.to_string());
        push(
            at,
            "hook_ns_total".into(),
            "ns",
            r.hook_ns_total.to_string(),
        );
        for hook in Hook::ALL {
            let Some(s) = r.hooks.get(&hook) else {
                continue;
            };
            let k = |what: &str| format!("hook.{hook}.{what}");
            push(at, k("count"), "calls", s.count.to_string());
            push(at, k("mean_ns"), "ns", s.mean_ns.to_string());
            push(at, k("tmean_ns"), "ns", s.tmean_ns.to_string());
            push(at, k("p50_ns"), "ns", s.p50_ns.to_string());
            push(at, k("p90_ns"), "ns", s.p90_ns.to_string());
            push(at, k("p99_ns"), "ns", s.p99_ns.to_string());
            push(at, k("p999_ns"), "ns", s.p999_ns.to_string());
            push(at, k("max_ns"), "ns", s.max_ns.to_string());
        }
        for (name, n) in &r.errors {
            push(at, format!("errors.{name}"), "count", n.to_string());
        }
    }
    let m = &d.memory;
    let mut memory = |when: &str, k: &KernelMemory| {
        let key = |what: &str| format!("memory.{when}.{what}");
        push(
            None,
            key("kernel_bytes"),
            "bytes",
            k.kernel_bytes.to_string(),
        );
        push(
            None,
            key("bytes_per_tracked_vma"),
            "bytes",
            k.bytes_per_tracked_vma.to_string(),
        );
        push(None, key("nr_vmas"), "vmas", k.nr_vmas.to_string());
        push(
            None,
            key("nr_tracked_vmas"),
            "vmas",
            k.nr_tracked_vmas.to_string(),
        );
        for (kind, b) in &k.bytes {
            push(None, key(&format!("bytes.{kind}")), "bytes", b.to_string());
        }
        let o = &k.objects;
        for (kind, n) in [
            ("pfnmap_track_ctx", o.pfnmap_track_ctx),
            ("memtype", o.memtype),
            ("xa_node", o.xa_node),
            ("memtype_vma_link", o.memtype_vma_link),
        ] {
            push(
                None,
                key(&format!("objects.{kind}")),
                "objects",
                n.to_string(),
            );
        }
    };
    memory("peak", &m.peak);
    memory("end", &m.end);
    push(
        None,
        "memory.sim_heap_peak_bytes".into(),
        "bytes",
        m.sim_heap_peak_bytes.to_string(),
    );
    push(
        None,
        "memory.sim_heap_end_bytes".into(),
        "bytes",
        m.sim_heap_end_bytes.to_string(),
    );
    for (key, n) in [
        ("reservations_peak", d.reservations_peak),
        ("invalid_frees", d.invalid_frees),
        ("reservations_leaked", d.reservations_leaked),
    ] {
        push(None, key.into(), "count", n.to_string());
    }
    out
}

impl Exporter for Csv {
    fn render(&self, results: &RunResults) -> String {
        let mut w = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        // Writing to a Vec cannot fail; the writer's errors are I/O ones.
        w.write_record(COLUMNS).expect("write to memory");
        for s in &results.scenarios {
            for d in &s.designs {
                for f in figures(s, d) {
                    let repeat = f.repeat.map(|r| r.to_string()).unwrap_or_default();
                    w.write_record([
                        f.scenario.name.as_str(),
                        &f.design.threads.to_string(),
                        f.design.strategy.name(),
                        &repeat,
                        &f.metric,
                        f.unit,
                        &f.value,
                    ])
                    .expect("write to memory");
                }
            }
        }
        let bytes = w.into_inner().expect("flush to memory");
        String::from_utf8(bytes).expect("csv of UTF-8 fields is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn long_format_has_one_value_per_row() {
        let run = Fixture::new().scenarios(&["with,comma \"q\""]).build();
        let out = Csv.render(&run);
        let mut r = ::csv::Reader::from_reader(out.as_bytes());
        assert_eq!(r.headers().unwrap(), COLUMNS.as_slice());
        let rows: Vec<::csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert!(rows.iter().all(|row| row.len() == 7));
        assert!(rows.iter().all(|row| &row[0] == "with,comma \"q\""));
        // Every number parses; memory and reservation rows have no repeat.
        for row in &rows {
            row[6].parse::<f64>().unwrap();
            let once = row[4].starts_with("memory.")
                || row[4].contains("reservations")
                || &row[4] == "invalid_frees";
            assert_eq!(once, row[3].is_empty(), "{row:?}");
        }
        assert!(
            rows.iter()
                .any(|row| &row[4] == "reservations_peak" && &row[6] == "260")
        );
        let track: Vec<f64> = rows
            .iter()
            .filter(|row| &row[2] == "per-vma" && &row[4] == "hook.track.mean_ns")
            .map(|row| row[6].parse().unwrap())
            .collect();
        let want: Vec<f64> = run.scenarios[0].designs[0]
            .repeats
            .iter()
            .map(|r| r.hooks[&Hook::Track].mean_ns)
            .collect();
        assert_eq!(track, want, "values round-trip exactly");
    }
}
