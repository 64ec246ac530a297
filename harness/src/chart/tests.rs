//! Chart tests: every kind rendered from fixture documents into a temporary
//! directory and checked as files (PNG decodes at the chart size, SVG
//! carries the legend and axis texts, the index links every chart), plus
//! input loading, error reporting and the plot descriptions themselves.

use std::fs;
use std::path::{Path, PathBuf};

use super::fixture::{self, Fixture};
use super::render::SIZE;
use super::trend::TrendMetric;
use super::*;
use crate::measure::hook::Hook;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("pfntrack-chart-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write_doc(dir: &Path, name: &str, f: &Fixture) -> PathBuf {
    let path = dir.join(name);
    fixture::run(f).write_atomic(&path).expect("write fixture");
    path
}

/// Three runs over time, the middle one slower (a regression and its fix).
fn history(dir: &Path) -> Vec<PathBuf> {
    let mk = |i: usize, day: u32, slowdown: f64| {
        let f = Fixture {
            started_at: format!("2026-01-{day:02}T10:00:00Z"),
            commit: Some(format!("{i}{i}{i}aaaa0000000000000000000000000000000000")),
            seed: fixture::SEED + i as u64,
            slowdown,
            ..Fixture::default()
        };
        // The fixture's seed varies its noise; the runs did the same work
        // (the default seed), as a history's runs do.
        let mut r = fixture::run(&f);
        r.params.seed = fixture::SEED;
        for s in &mut r.scenarios {
            s.seed = Some(fixture::SEED);
        }
        // Written out of time order: loading must sort by started_at.
        let path = dir.join(format!("run-{}.json", 9 - i));
        r.write_atomic(&path).expect("write fixture");
        path
    };
    vec![mk(0, 1, 1.0), mk(1, 2, 1.4), mk(2, 3, 1.0)]
}

/// PNG signature, IHDR size, and a full decode of the pixel data.
fn check_png(path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header decodes");
    let info = reader.info();
    assert_eq!((info.width, info.height), SIZE, "{}", path.display());
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).expect("PNG pixels decode");
    let pixels = &buf[..frame.buffer_size()];
    // Not blank: a white background with dark text and coloured lines.
    assert!(pixels.iter().any(|b| *b < 64), "{} has ink", path.display());
    assert!(pixels.iter().filter(|b| **b == 255).count() > pixels.len() / 2);
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn renders_every_chart_kind_to_files() {
    let tmp = TempDir::new("all");
    let inputs = tmp.path().join("history");
    fs::create_dir_all(&inputs).unwrap();
    history(&inputs);
    let out = tmp.path().join("out/charts");
    let runs = load_runs(std::slice::from_ref(&inputs)).expect("load");
    let set = build(&runs, &ChartKind::ALL);
    for kind in ChartKind::ALL {
        assert!(
            set.charts.iter().any(|c| c.kind == kind),
            "a {kind} chart is built"
        );
    }
    let files = render(&runs, &set).expect("render");
    write(&out, &files).expect("write");

    let index = read(&out.join("index.html"));
    for c in &set.charts {
        let svg_path = out.join(format!("{}.svg", c.stem));
        let png_path = out.join(format!("{}.png", c.stem));
        check_png(&png_path);
        let svg = read(&svg_path);
        assert!(svg.starts_with("<svg"), "{}", svg_path.display());
        // Every string is a group of glyph outlines labelled with it; no
        // text is left to the viewer's fonts.
        assert!(!svg.contains("<text"), "{}: no <text> element", c.stem);
        let label = |s: &str| format!("aria-label=\"{}\"", super::text::xml_attr(s));
        for s in &c.plot.series {
            assert!(
                svg.contains(&label(&s.name)),
                "{}: legend {}",
                c.stem,
                s.name
            );
        }
        assert!(svg.contains(&label(&c.plot.title)), "{}: title", c.stem);
        assert!(svg.contains(&label(&c.plot.x.label)), "{}: x label", c.stem);
        assert!(svg.contains(&label(&c.plot.y.label)), "{}: y label", c.stem);
        assert!(
            index.contains(&format!("src=\"{}.svg\"", c.stem)),
            "{}",
            c.stem
        );
        assert!(
            index.contains(&format!("href=\"{}.png\"", c.stem)),
            "{}",
            c.stem
        );
    }
    // Exactly the charts plus the index, and no temporary files left.
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), set.charts.len() * 2 + 1, "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    // Metadata of the newest run, and the runs of the trend.
    assert!(index.contains("pfntrack 0.1.0"));
    assert!(index.contains("Fixture CPU"));
    assert!(index.contains("222aaaa0000"));
    assert!(index.contains(">Scenario fork-heavy</h2>"));
    assert!(index.contains("<a href=\"#scenario-1\">mremap-split</a>"));
}

#[test]
fn latency_svg_names_designs_axes_and_threads() {
    let run = fixture::run(&Fixture::default());
    let plot = latency_cdf::plot(&run, &run.scenarios[0], Hook::Dup, 1).expect("dup timed");
    let svg = plot.to_svg().expect("svg");
    for text in [
        "per-vma",
        "xarray",
        "memtype-ext",
        "null",
        "latency per call (log scale)",
        "percentile (tail-stretched)",
        "fork-heavy: dup latency, 1 thread",
        "99.9%",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
}

#[test]
fn latency_charts_cover_lowest_and_highest_thread_counts() {
    let run = fixture::run(&Fixture::default());
    let mut set = ChartSet {
        charts: Vec::new(),
        skipped: Vec::new(),
    };
    latency_cdf::build(&run, &mut set);
    let stems: Vec<&str> = set.charts.iter().map(|c| c.stem.as_str()).collect();
    assert!(
        stems.contains(&"latency-cdf-fork-heavy-dup-t1"),
        "{stems:?}"
    );
    assert!(
        stems.contains(&"latency-cdf-fork-heavy-dup-t4"),
        "{stems:?}"
    );
    assert!(!stems.iter().any(|s| s.ends_with("-t2")), "{stems:?}");
    // mremap-split has no fault samples: no chart rather than an empty one.
    assert!(stems.contains(&"latency-cdf-fork-heavy-fault-t1"));
    assert!(!stems.contains(&"latency-cdf-mremap-split-fault-t1"));
}

#[test]
fn latency_tail_is_capped_at_the_sample_count() {
    let run = fixture::run(&Fixture::default());
    let plot = latency_cdf::plot(&run, &run.scenarios[0], Hook::Track, 1).unwrap();
    // 3 repeats x 20,000 calls: the maximum sits at 1 - 1/60,000.
    let top = plot.series[0].segments[0].last().unwrap().0;
    assert!((top - (1.0 - 1.0 / 60_000.0)).abs() < 1e-12, "{top}");
    let nines = plot.x.pos(top);
    assert!((nines - 60_000f64.log10()).abs() < 1e-9);
    // Quantiles stay in order after capping.
    for s in &plot.series {
        assert!(s.segments[0].windows(2).all(|w| w[0].0 <= w[1].0));
    }
    // null's zero latencies are declared, not silently dropped.
    assert!(plot.notes.iter().any(|n| n.contains("0 ns")));
}

#[test]
fn memory_uses_single_worker_samples_and_declares_the_axis() {
    let run = fixture::run(&Fixture::default());
    let plot = memory::plot(&run.scenarios[0]).expect("samples");
    assert!(plot.x.label.contains("nr_vmas"));
    assert!(plot.y.label.contains("KiB") || plot.y.label.contains("MiB"));
    assert!(plot.subtitle.contains("threads = 1"));
    // null holds no kernel memory: not drawn.
    let names: Vec<&str> = plot.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["per-vma", "xarray", "memtype-ext"]);
    // The spacing is the recorded one.
    let spacing = format!("a point every {} ops", latency_cdf::fmt_count(2_000));
    assert!(plot.subtitle.contains(&spacing), "{}", plot.subtitle);
    assert!(!plot.notes.iter().any(|n| n.contains("identical samples")));
    // The x axis starts near the data, not at zero; equal designs are named.
    let mut run = fixture::run(&Fixture::default());
    let designs = &mut run.scenarios[0].designs;
    let per_vma = designs
        .iter()
        .find(|d| d.strategy == Strategy::PerVma && !d.memory.samples.is_empty())
        .unwrap()
        .memory
        .samples
        .clone();
    for d in designs.iter_mut() {
        if d.strategy == Strategy::MemtypeExt && !d.memory.samples.is_empty() {
            d.memory.samples = per_vma.clone();
        }
        for m in &mut d.memory.samples {
            m.nr_vmas += 100_000;
        }
    }
    // An empty address space at the end does not pull the axis to zero.
    for d in designs.iter_mut().filter(|d| !d.memory.samples.is_empty()) {
        d.memory.samples.push(crate::results::MemorySample {
            ops: 1_000_000,
            nr_vmas: 0,
            nr_tracked_vmas: 0,
            kernel_bytes: 0,
        });
    }
    let plot = memory::plot(&run.scenarios[0]).expect("samples");
    assert!(plot.notes.iter().any(|n| n.contains("are not drawn")));
    assert!(
        plot.x.lo > 50_000.0 && plot.x.lo <= 100_000.0,
        "{}",
        plot.x.lo
    );
    assert!(
        plot.notes
            .iter()
            .any(|n| n.contains("per-vma and memtype-ext have identical samples")),
        "{:?}",
        plot.notes
    );
    // A run with only multi-worker results has no samples: skipped, said why.
    let run = fixture::run(&Fixture {
        threads: vec![2, 4],
        ..Fixture::default()
    });
    let mut set = ChartSet {
        charts: Vec::new(),
        skipped: Vec::new(),
    };
    memory::build(&run, &mut set);
    assert!(set.charts.is_empty());
    assert_eq!(set.skipped.len(), 2);
    assert!(set.skipped[0].reason.contains("single-worker"));
}

#[test]
fn throughput_is_the_median_with_min_max_bars() {
    let run = fixture::run(&Fixture::default());
    let scenario = &run.scenarios[0];
    let plot = throughput::plot(scenario).unwrap();
    let per_vma = &plot.series[0];
    assert_eq!(per_vma.name, "per-vma");
    let d = design_at(scenario, strategies::Strategy::PerVma, 2).unwrap();
    let ops: Vec<f64> = d.repeats.iter().map(|r| r.ops_per_sec).collect();
    // Points are in the axis unit (M ops/s for the fixture).
    assert!(plot.y.label.contains("Mops/s"), "{}", plot.y.label);
    let mid = crate::stats::median(&ops).unwrap() / 1e6;
    let p = per_vma.segments[0][1];
    assert!((p.1 - mid).abs() < 1e-9, "{p:?} vs {mid}");
    let bar = per_vma.error_bars[1];
    let lo = ops.iter().copied().fold(f64::INFINITY, f64::min) / 1e6;
    let hi = ops.iter().copied().fold(0.0, f64::max) / 1e6;
    assert!((bar.1 - lo).abs() < 1e-9 && (bar.2 - hi).abs() < 1e-9);
    // The floor is a note, not a line that squeezes the designs.
    assert!(plot.series.iter().all(|s| s.name != "null"));
    let null = design_at(scenario, strategies::Strategy::Null, 1).unwrap();
    let null_ops: Vec<f64> = null.repeats.iter().map(|r| r.ops_per_sec).collect();
    let floor = render::fmt_num(crate::stats::median(&null_ops).unwrap() / 1e6);
    assert!(
        plot.notes
            .iter()
            .any(|n| n.contains("null") && n.contains(&format!("{floor} Mops/s at 1"))),
        "{:?}",
        plot.notes
    );
    // One thread count: no chart, and the page says why.
    let run = fixture::run(&Fixture {
        threads: vec![1],
        ..Fixture::default()
    });
    let set = build(
        &[Run::full(PathBuf::from("r.json"), run)],
        &[ChartKind::Throughput],
    );
    assert!(set.charts.is_empty());
    assert!(
        set.skipped
            .iter()
            .all(|s| s.kind == ChartKind::Throughput && s.reason.contains("one thread count (1)"))
    );
}

#[test]
fn trend_follows_runs_in_time_order_with_commit_labels() {
    let tmp = TempDir::new("trend");
    let paths = history(tmp.path());
    let runs = load_runs(&paths).unwrap();
    let starts: Vec<&str> = runs.iter().map(|r| r.summary.started_at.as_str()).collect();
    assert_eq!(
        starts,
        [
            "2026-01-01T10:00:00Z",
            "2026-01-02T10:00:00Z",
            "2026-01-03T10:00:00Z"
        ]
    );
    let plot = trend::plot(&runs, "fork-heavy", TrendMetric::DupMean).unwrap();
    let labels: Vec<&str> = plot.x.ticks.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(labels, ["000aaaa", "111aaaa", "222aaaa"]);
    // The slow middle run shows as a bump in every design.
    for s in &plot.series {
        let y: Vec<f64> = s.segments[0].iter().map(|p| p.1).collect();
        assert!(y[1] > y[0] * 1.2 && y[1] > y[2] * 1.2, "{}: {y:?}", s.name);
    }
    // Every metric charted for a scenario with faults; mremap-split has none.
    let mut set = ChartSet {
        charts: Vec::new(),
        skipped: Vec::new(),
    };
    trend::build(&runs, &mut set);
    let n = |scenario: &str| set.charts.iter().filter(|c| c.scenario == scenario).count();
    assert_eq!(n("fork-heavy"), TrendMetric::ALL.len());
    assert_eq!(n("mremap-split"), TrendMetric::ALL.len() - 1);
}

#[test]
fn trend_leaves_a_gap_for_a_run_without_the_scenario() {
    let tmp = TempDir::new("gap");
    let mut paths = history(tmp.path());
    paths.push(write_doc(
        tmp.path(),
        "other.json",
        &Fixture {
            scenarios: vec!["other".to_string()],
            started_at: "2026-01-02T12:00:00Z".to_string(),
            ..Fixture::default()
        },
    ));
    let runs = load_runs(&paths).unwrap();
    let plot = trend::plot(&runs, "fork-heavy", TrendMetric::Throughput).unwrap();
    // Runs 0, 1, (2 lacks it), 3: two segments per design.
    for s in &plot.series {
        assert_eq!(s.segments.len(), 2, "{}", s.name);
        assert_eq!(s.segments[1][0].0.round(), 3.0);
    }
}

#[test]
fn trend_warns_when_runs_come_from_different_machines() {
    let tmp = TempDir::new("machines");
    let paths = history(tmp.path());
    let mut runs = load_runs(&paths).unwrap();
    runs[1].summary.env.cpu_model = "Other CPU".to_string();
    let plot = trend::plot(&runs, "fork-heavy", TrendMetric::TrackMean).unwrap();
    assert!(
        plot.notes
            .iter()
            .any(|n| n.contains("2 different machines"))
    );
}

#[test]
fn one_run_skips_the_trend_and_says_why() {
    let run = Run::full(PathBuf::from("r.json"), fixture::run(&Fixture::default()));
    let set = build(std::slice::from_ref(&run), &ChartKind::ALL);
    assert!(set.charts.iter().all(|c| c.kind != ChartKind::Trend));
    assert!(
        set.skipped
            .iter()
            .any(|s| s.kind == ChartKind::Trend && s.reason.contains("two or more"))
    );
    let html = index::html(std::slice::from_ref(&run), &set);
    assert!(html.contains("two or more results documents"));
}

#[test]
fn kinds_filter_what_is_built() {
    let run = Run::full(PathBuf::from("r.json"), fixture::run(&Fixture::default()));
    let set = build(std::slice::from_ref(&run), &[ChartKind::Memory]);
    assert!(!set.charts.is_empty());
    assert!(set.charts.iter().all(|c| c.kind == ChartKind::Memory));
    assert_eq!("throughput".parse::<ChartKind>(), Ok(ChartKind::Throughput));
    assert!("pie".parse::<ChartKind>().is_err());
    for k in ChartKind::ALL {
        assert_eq!(k.to_string().parse::<ChartKind>(), Ok(k));
    }
}

#[test]
fn stems_are_unique_and_file_safe() {
    let run = Run::full(
        PathBuf::from("r.json"),
        fixture::run(&Fixture {
            // Two names with the same slug, and one that is all punctuation.
            scenarios: vec![
                "a/b c".to_string(),
                "a b/c".to_string(),
                "../..".to_string(),
            ],
            ..Fixture::default()
        }),
    );
    let set = build(std::slice::from_ref(&run), &ChartKind::ALL);
    let mut stems: Vec<&str> = set.charts.iter().map(|c| c.stem.as_str()).collect();
    assert!(stems.iter().all(|s| {
        !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    }));
    let n = stems.len();
    stems.sort_unstable();
    stems.dedup();
    assert_eq!(stems.len(), n, "stems are unique");
    assert_eq!(slug("fork heavy (x2)"), "fork-heavy-x2");
    assert_eq!(slug("../.."), "scenario");
    assert_eq!(slug("traces/a.trace"), "traces-a.trace");
    let long = format!("traces/{}/gpu.trace", "x".repeat(300));
    assert_eq!(slug(&long).len(), 80);
    assert!(slug(&long).ends_with("-gpu.trace"));
}

#[test]
fn corrupt_input_names_file_line_and_column_and_writes_nothing() {
    let tmp = TempDir::new("corrupt");
    let good = write_doc(tmp.path(), "good.json", &Fixture::default());
    let bad = tmp.path().join("bad.json");
    fs::write(&bad, "{\n  \"schema_version\": 1,\n  \"tool\": [\n").unwrap();
    let err = load_runs(&[good.clone(), bad.clone()]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}:", bad.display())), "{msg}");
    assert!(msg.contains(":4:"), "line of the problem: {msg}");

    // Through the command: an error, and the output directory untouched.
    let out = tmp.path().join("out");
    let args = crate::commands::chart::ChartArgs {
        inputs: vec![good, bad],
        out: out.clone(),
        kinds: Vec::new(),
    };
    assert!(crate::commands::chart::run(args).is_err());
    assert!(!out.exists());
}

#[test]
fn missing_and_empty_inputs_are_clear_errors() {
    let tmp = TempDir::new("missing");
    let missing = tmp.path().join("nope.json");
    let msg = load_runs(std::slice::from_ref(&missing))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("nope.json"), "{msg}");
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    fs::write(empty.join("notes.txt"), "not json").unwrap();
    let msg = load_runs(std::slice::from_ref(&empty))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no *.json"), "{msg}");
    assert!(matches!(load_runs(&[]), Err(ChartError::NoInput)));
    // A document of another schema version says so.
    let old = tmp.path().join("old.json");
    fs::write(&old, "{\"schema_version\": 0}").unwrap();
    let msg = load_runs(std::slice::from_ref(&old))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("schema version 0"), "{msg}");
}

#[test]
fn output_over_a_file_is_an_error_not_a_panic() {
    let tmp = TempDir::new("outfile");
    let blocker = tmp.path().join("taken");
    fs::write(&blocker, "a file, not a directory").unwrap();
    let run = Run::full(
        PathBuf::from("r.json"),
        fixture::run(&Fixture {
            scenarios: vec!["s".to_string()],
            ..Fixture::default()
        }),
    );
    let set = build(std::slice::from_ref(&run), &[ChartKind::Throughput]);
    let files = render(std::slice::from_ref(&run), &set).unwrap();
    let err = write(&blocker, &files).unwrap_err().to_string();
    assert!(err.contains("taken"), "{err}");
}

#[test]
fn runs_of_different_work_are_separate_series() {
    let tmp = TempDir::new("settings");
    let mut runs = load_runs(&history(tmp.path())).unwrap();
    // The newest run keyed the XArray by pointer >> 6: other work.
    runs[2].summary.params.xa_key_shift = 6;
    let plot = trend::plot(&runs, "fork-heavy", TrendMetric::DupMean).unwrap();
    let names: Vec<&str> = plot.series.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"xarray"), "{names:?}");
    assert!(names.contains(&"xarray>>6"), "{names:?}");
    let shifted = plot.series.iter().find(|s| s.name == "xarray>>6").unwrap();
    assert_eq!(shifted.segments.len(), 1);
    assert_eq!(shifted.segments[0].len(), 1);
    assert_eq!(shifted.segments[0][0].0.round(), 2.0);
    let plain = plot.series.iter().find(|s| s.name == "xarray").unwrap();
    assert!(
        plain.segments.iter().flatten().all(|p| p.0 < 1.5),
        "{plain:?}"
    );
    assert!(
        plot.notes
            .iter()
            .any(|n| n.contains("did not all do the same work"))
    );

    // Quick against full: every design splits, named by the setting.
    let mut runs = load_runs(&history(tmp.path())).unwrap();
    assert!(
        runs[0].summary.params.quick,
        "the chart fixture is a quick run"
    );
    runs[0].summary.params.quick = false;
    let plot = trend::plot(&runs, "fork-heavy", TrendMetric::TrackMean).unwrap();
    let names: Vec<&str> = plot.series.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"per-vma (quick=true)"), "{names:?}");
    assert!(names.contains(&"per-vma (quick=false)"), "{names:?}");
    let quick = plot
        .series
        .iter()
        .find(|s| s.name == "per-vma (quick=true)")
        .unwrap();
    let full = plot
        .series
        .iter()
        .find(|s| s.name == "per-vma (quick=false)")
        .unwrap();
    assert_ne!(quick.look, full.look, "the two series must look different");
}

#[test]
fn a_summary_and_its_full_results_are_one_run() {
    let tmp = TempDir::new("dedupe");
    let paths = history(tmp.path());
    let full = crate::results::RunResults::load(&paths[0]).unwrap();
    let summary_path = tmp.path().join("summary.json");
    crate::run_summary::RunSummary::of(&full)
        .write_atomic(&summary_path)
        .unwrap();
    let mut inputs = paths.clone();
    inputs.push(summary_path);
    let runs = load_runs(&inputs).unwrap();
    assert_eq!(runs.len(), paths.len());
    assert!(runs.iter().all(|r| r.results.is_some()));
    // Summaries alone still draw trends, and say why the rest is missing.
    let only = load_runs(&[tmp.path().join("summary.json")]).unwrap();
    let set = build(&only, &[ChartKind::Memory]);
    assert!(set.charts.is_empty());
    assert!(
        set.skipped[0].reason.contains("only summaries"),
        "{:?}",
        set.skipped
    );
}

#[test]
fn index_opens_with_the_verdict_and_contents_and_leads_with_trends() {
    let tmp = TempDir::new("order");
    let inputs = tmp.path().join("history");
    fs::create_dir_all(&inputs).unwrap();
    history(&inputs);
    let runs = load_runs(std::slice::from_ref(&inputs)).expect("load");
    let set = build(&runs, &ChartKind::ALL);
    let html = index::html(&runs, &set);
    assert!(html.contains("<meta name=\"viewport\""));
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} in the page"))
    };
    // The verdict table: the lkml report's rows, baseline first.
    let (_, newest) = newest_full(&runs).expect("a full run");
    let v = crate::report::verdict::verdict(newest).expect("a verdict");
    let verdict = at("<table class=\"verdict\">");
    for row in &v.rows {
        assert!(html.contains(&format!("<tr><th>{}</th>", row.strategy)));
        for cell in crate::report::verdict::Verdict::cells(row) {
            assert!(html.contains(&format!("<code>{}</code>", index_esc(cell.trim_end()))));
        }
    }
    let contents = at("<nav id=\"contents\">");
    let first_figure = at("<figure");
    let first_trend = set
        .charts
        .iter()
        .find(|c| c.kind == ChartKind::Trend)
        .expect("a trend chart");
    assert!(verdict < contents && contents < first_figure);
    assert!(at(&format!("<figure id=\"{}\"", first_trend.stem)) == first_figure);
    // Every per-run chart comes after every trend chart.
    let last_trend = set
        .charts
        .iter()
        .filter(|c| c.kind == ChartKind::Trend)
        .map(|c| at(&format!("<figure id=\"{}\"", c.stem)))
        .max()
        .unwrap();
    for c in set.charts.iter().filter(|c| c.kind != ChartKind::Trend) {
        assert!(
            at(&format!("<figure id=\"{}\"", c.stem)) > last_trend,
            "{}",
            c.stem
        );
    }
    // Every contents link has its target.
    let nav = &html[contents..html.find("</nav>").unwrap()];
    for link in nav.split("href=\"#").skip(1) {
        let id = &link[..link.find('"').unwrap()];
        assert!(html.contains(&format!("id=\"{id}\"")), "target {id}");
    }
}

#[test]
fn trend_only_pages_do_not_claim_per_run_charts() {
    let tmp = TempDir::new("trend-only");
    let inputs = tmp.path().join("history");
    fs::create_dir_all(&inputs).unwrap();
    history(&inputs);
    let runs = load_runs(std::slice::from_ref(&inputs)).expect("load");
    let set = build(&runs, &[ChartKind::Trend]);
    let html = index::html(&runs, &set);
    assert!(!html.contains("latency, memory and throughput charts"));
    let with_all = index::html(&runs, &build(&runs, &ChartKind::ALL));
    assert!(with_all.contains("latency, memory and throughput charts"));
    let memory_only = index::html(&runs, &build(&runs, &[ChartKind::Memory]));
    assert!(memory_only.contains("The verdict and the memory charts show this run"));
}

fn index_esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[test]
fn trend_designs_sit_side_by_side_and_equal_ones_are_named() {
    let tmp = TempDir::new("sideways");
    let runs = load_runs(&history(tmp.path())).unwrap();
    let plot = trend::plot(&runs, "fork-heavy", TrendMetric::DupMean).unwrap();
    assert!(plot.series.len() > 1);
    for run in 0..runs.len() {
        // Each design's point and bar at this run share one x, and no two
        // designs share it.
        let mut xs: Vec<f64> = Vec::new();
        for s in &plot.series {
            let p = s
                .segments
                .iter()
                .flatten()
                .find(|p| p.0.round() == run as f64);
            let Some(p) = p else { continue };
            for b in s.error_bars.iter().filter(|b| b.0.round() == run as f64) {
                assert_eq!(b.0, p.0, "{}: bar on its point", s.name);
            }
            assert!((p.0 - run as f64).abs() < 0.3, "{}: near its run", s.name);
            assert!(
                xs.iter().all(|x| (x - p.0).abs() > 0.05),
                "{}: apart",
                s.name
            );
            xs.push(p.0);
        }
        assert!(xs.len() > 1);
        assert!(plot.x.lo <= xs.iter().copied().fold(f64::INFINITY, f64::min));
        assert!(plot.x.hi >= xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
    assert!(
        !plot.notes.iter().any(|n| n.contains("same value")),
        "{:?}",
        plot.notes
    );

    // Two designs with equal figures in every run are named in a note.
    let mut runs = runs;
    for run in &mut runs {
        for sc in &mut run.summary.scenarios {
            let copy = sc
                .designs
                .iter()
                .find(|d| d.strategy == Strategy::PerVma)
                .cloned()
                .unwrap();
            for d in &mut sc.designs {
                if d.strategy == Strategy::Xarray && d.threads == copy.threads {
                    let strategy = d.strategy;
                    *d = copy.clone();
                    d.strategy = strategy;
                }
            }
        }
    }
    let plot = trend::plot(&runs, "fork-heavy", TrendMetric::DupMean).unwrap();
    assert!(
        plot.notes
            .iter()
            .any(|n| n.contains("per-vma and xarray have the same value")),
        "{:?}",
        plot.notes
    );
}
