//! `pfntrack report` and `pfntrack compare` run as a binary on synthetic
//! results documents (`pfntrack::report::fixture`) written to a scratch
//! directory: every format renders, comparisons gate on regressions with
//! the documented exit status, and broken or mismatched documents are
//! refused with a message naming the file (and line and column for bad
//! json), never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};

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
    let garbage = dir.text("garbage.json", "{\"schema_version\": 1,\n  \"tool\": 7 }\n");
    fails(&["report", &garbage], &format!("{garbage}:2:"));
    let newer = dir.text(
        "newer.json",
        &good.replacen("\"schema_version\": 1", "\"schema_version\": 2", 1),
    );
    fails(
        &["report", &newer],
        "schema version 2, but this pfntrack reads version 1",
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
fn latencies_twenty_percent_worse_fail_the_gate() {
    let dir = Scratch::new("slow");
    let base = dir.doc("base.json", &Fixture::new().build());
    let slow = dir.doc(
        "slow.json",
        &Fixture::new().seed(7).latency_scale(1.2).build(),
    );
    let o = pfntrack(&["compare", &base, &slow, "--fail-on-regression", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    fits_lkml(&out).unwrap();
    assert!(out.contains("significant regressions over 5%:"), "{out}");
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
        &good.replacen("\"schema_version\": 1", "\"schema_version\": 3", 1),
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
