//! `pfntrack report` and `pfntrack compare` run as a binary on synthetic
//! results documents (`pfntrack::report::fixture`) written to a scratch
//! directory: every format renders, comparisons gate on regressions with
//! the documented exit status, and broken or mismatched documents are
//! refused with a message naming the file (and line and column for bad
//! json), never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};

use pfntrack::measure::hook::Hook;
use pfntrack::report::fixture::Fixture;
use pfntrack::report::lkml::fits_lkml;
use pfntrack::results::RunResults;
use strategies::Strategy;

fn pfntrack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .args(args)
        .output()
        .expect("run pfntrack")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pfntrack-report-cli-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn doc(&self, name: &str, run: &RunResults) -> String {
        let path = self.0.join(name);
        run.write_atomic(&path).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn text(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A command that must fail cleanly with status 2 and `expect` in its
/// error message.
fn fails(args: &[&str], expect: &str) -> String {
    let o = pfntrack(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}:\n{}{err}", stdout(&o));
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected `{expect}` in:\n{err}"
    );
    err
}

#[test]
fn every_format_renders_a_document() {
    let dir = Scratch::new("formats");
    let doc = dir.doc("run.json", &Fixture::new().build());
    for format in [
        "lkml",
        "markdown",
        "csv",
        "json",
        "github-benchmark",
        "bencher",
    ] {
        let o = pfntrack(&["report", &doc, "--format", format]);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let out = stdout(&o);
        match format {
            "lkml" => fits_lkml(&out).unwrap(),
            "csv" => assert!(out.starts_with("scenario,threads,design,repeat,metric,unit,value\n")),
            "json" | "github-benchmark" | "bencher" => {
                serde_json::from_str::<serde_json::Value>(&out).unwrap();
            }
            _ => assert!(out.contains("| metric | per-vma | xarray | memtype-ext |")),
        }
    }
    // lkml is the default.
    let o = pfntrack(&["report", &doc]);
    assert_eq!(
        stdout(&o),
        pfntrack::report::render(
            &RunResults::load(std::path::Path::new(&doc)).unwrap(),
            pfntrack::report::ReportFormat::Lkml
        )
    );
}

#[test]
fn broken_documents_are_refused_with_their_place() {
    let dir = Scratch::new("broken");
    let good = serde_json::to_string_pretty(&Fixture::new().build()).unwrap();
    let cut = dir.text("cut.json", &good[..good.len() / 2]);
    let err = fails(&["report", &cut], "not a pfntrack results document");
    // file:line:column of the problem.
    let place = format!("{cut}:");
    let rest = err.split(&place).nth(1).expect("file named");
    let mut nums = rest.split(':').take(2).map(|n| n.parse::<usize>());
    assert!(
        matches!((nums.next(), nums.next()), (Some(Ok(_)), Some(Ok(_)))),
        "{err}"
    );
    let garbage = dir.text("garbage.json", "{\"schema_version\": 2,\n  \"tool\": 7 }\n");
    fails(&["report", &garbage], &format!("{garbage}:2:"));
    let newer = dir.text(
        "newer.json",
        &good.replacen("\"schema_version\": 2", "\"schema_version\": 3", 1),
    );
    fails(
        &["report", &newer],
        "schema version 3, but this pfntrack reads version 2",
    );
    fails(
        &["report", "/nonexistent/run.json"],
        "/nonexistent/run.json",
    );
    let doc = dir.doc("run.json", &Fixture::new().build());
    fails(
        &["report", &doc, "--format", "html"],
        "unknown report format `html`",
    );
}

#[test]
fn a_run_compared_with_itself_passes_the_gate() {
    let dir = Scratch::new("self");
    let doc = dir.doc("run.json", &Fixture::new().build());
    let o = pfntrack(&["compare", &doc, &doc, "--fail-on-regression", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    fits_lkml(&out).unwrap();
    assert!(out.contains("no significant regression over 5%"), "{out}");
    let o = pfntrack(&["compare", &doc, &doc, "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("| design | metric | BASE | NEW | change | verdict |"));
}

#[test]
fn one_hook_thirty_percent_slower_fails_the_gate() {
    let dir = Scratch::new("slow");
    let base = dir.doc("base.json", &Fixture::new().build());
    let slow = dir.doc(
        "slow.json",
        &Fixture::new()
            .slow(Strategy::Xarray, Hook::Dup, 1.3)
            .build(),
    );
    let o = pfntrack(&["compare", &base, &slow, "--fail-on-regression", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    fits_lkml(&out).unwrap();
    assert!(out.contains("significant regression"), "{out}");
    assert!(
        out.contains("fork-exec, 1 thread, xarray, dup tmean: "),
        "{out}"
    );
    // Beyond the threshold nothing counts; without one the exit is 0.
    let o = pfntrack(&["compare", &base, &slow, "--fail-on-regression", "50"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = pfntrack(&["compare", &base, &slow]);
    assert_eq!(o.status.code(), Some(0));
    // The other way round it is an improvement.
    let o = pfntrack(&["compare", &slow, &base, "--fail-on-regression", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("better"));
}

#[test]
fn mismatched_documents_are_refused_by_name() {
    let dir = Scratch::new("mismatch");
    let base = dir.doc(
        "base.json",
        &Fixture::new().scenarios(&["fork-exec", "mremap"]).build(),
    );
    let other = dir.doc(
        "other.json",
        &Fixture::new().scenarios(&["fork-exec"]).build(),
    );
    let err = fails(&["compare", &base, &other], "NEW lacks `mremap`");
    assert!(err.contains("cannot compare"), "{err}");
    let fewer = dir.doc(
        "fewer.json",
        &Fixture::new()
            .scenarios(&["fork-exec", "mremap"])
            .designs(&[Strategy::PerVma, Strategy::Null])
            .build(),
    );
    fails(
        &["compare", &base, &fewer],
        "NEW lacks xarray at 1 thread, memtype-ext at 1 thread",
    );
    let good = std::fs::read_to_string(&base).unwrap();
    let newer = dir.text(
        "newer.json",
        &good.replacen("\"schema_version\": 2", "\"schema_version\": 3", 1),
    );
    fails(&["compare", &base, &newer], "schema version 3");
    let cut = dir.text("cut.json", &good[..100]);
    fails(&["compare", &cut, &base], &format!("{cut}:"));
    fails(
        &["compare", &base, &base, "--fail-on-regression=-1"],
        "--fail-on-regression wants a percentage of 0 or more",
    );
    fails(
        &["compare", &base, &base, "--fail-on-regression", "NaN"],
        "--fail-on-regression wants a percentage of 0 or more",
    );
    fails(
        &["compare", &base, &base, "--format", "csv"],
        "unknown comparison format `csv`",
    );
}

#[test]
fn runs_of_other_work_are_refused_naming_the_setting() {
    let dir = Scratch::new("settings");
    let base = dir.doc("base.json", &Fixture::new().build());
    let mut shifted = Fixture::new().build();
    shifted.params.xa_key_shift = 6;
    let shifted = dir.doc("shift6.json", &shifted);
    let err = fails(
        &["compare", &base, &shifted],
        "xa_key_shift (BASE 0, NEW 6)",
    );
    assert!(err.contains("--allow-different"), "{err}");
    let o = pfntrack(&["compare", &base, &shifted, "--allow-different"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("xarray>>6") || stdout(&o).contains("xa_key_shift"));
    let other_seed = dir.doc("seed.json", &Fixture::new().seed(7).build());
    fails(&["compare", &base, &other_seed], "seed (BASE 42, NEW 7)");
}

#[test]
fn summaries_gate_and_compare_like_full_results() {
    let dir = Scratch::new("gate");
    let runs: Vec<String> = (0..3)
        .map(|i| {
            let mut r = Fixture::new().noise_pct(3.0).seed(100 + i).build();
            r.params.seed = 42;
            for s in &mut r.scenarios {
                s.seed = Some(42);
            }
            dir.doc(&format!("run{i}.json"), &r)
        })
        .collect();
    let instr = dir.text("instr.json", "{\n  \"dup/10k/xarray-shift0\": 900.5\n}\n");
    let baseline = dir.0.join("baseline.json");
    let baseline = baseline.to_str().unwrap();
    let mut args = vec!["summarize"];
    args.extend(runs.iter().map(String::as_str));
    args.extend(["--instructions", &instr, "--out", baseline]);
    let o = pfntrack(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("summary of 3 run(s)"), "{}", stdout(&o));
    let full = std::fs::metadata(&runs[0]).unwrap().len();
    let small = std::fs::metadata(baseline).unwrap().len();
    assert!(
        small < full,
        "3-run summary {small} bytes, one full run {full}"
    );

    // The same work passes; 20% more instructions in one case fails.
    let o = pfntrack(&["gate", baseline, &runs[1], "--instructions", &instr]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).ends_with("gate: PASS\n"), "{}", stdout(&o));
    let more = dir.text("more.json", "{\"dup/10k/xarray-shift0\": 1080.6}");
    let o = pfntrack(&["gate", baseline, &runs[1], "--instructions", &more]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("instructions dup/10k/xarray-shift0: 900.500 -> 1080.600"),
        "{}",
        stdout(&o)
    );

    // compare reads summaries too.
    let o = pfntrack(&["compare", baseline, &runs[2], "--fail-on-regression", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // Bad input is named and nothing is written.
    fails(
        &["gate", baseline, &runs[1], "--instructions", &runs[0]],
        "not a number of instructions",
    );
    let broken = dir.text("broken.json", "{\"a\": }");
    fails(
        &["gate", baseline, &runs[1], "--instructions", &broken],
        "broken.json",
    );
    fails(
        &["gate", baseline, &runs[1], "--instr-threshold=-3"],
        "--instr-threshold",
    );
    let out = dir.0.join("never.json");
    fails(
        &[
            "summarize",
            &runs[0],
            "--tree",
            "maybe",
            "--gate",
            "pass",
            "--out",
            out.to_str().unwrap(),
        ],
        "--tree wants clean or dirty",
    );
    assert!(!out.exists());
    let mut shifted = Fixture::new().build();
    shifted.params.xa_key_shift = 6;
    let shifted = dir.doc("shift6.json", &shifted);
    fails(
        &["gate", baseline, &shifted],
        "xa_key_shift (BASE 0, NEW 6)",
    );
    fails(
        &[
            "summarize",
            &runs[0],
            &shifted,
            "--out",
            out.to_str().unwrap(),
        ],
        "xa_key_shift",
    );
    assert!(!out.exists());
}
