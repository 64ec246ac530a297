//! The measuring commands end to end, as a user runs them: `run` writes a
//! results document every other command reads, `gen` + `check` agree,
//! `replay` measures a trace, and bad input stops them with the file and
//! line, without a results file half written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pfntrack::results::RunResults;
use strategies::Strategy;

fn pfntrack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .args(args)
        .output()
        .expect("run pfntrack")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pfntrack-run-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn run_writes_a_results_document_and_prints_the_report() {
    let dir = scratch("run");
    let o = pfntrack(&[
        "run",
        "--scenario",
        "split-churn",
        "--quick",
        "--param",
        "churn_ops=3000",
        "--repeat",
        "2",
        "--quiet",
        "--out",
        s(&dir),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let report = text(&o.stdout);
    assert!(
        report.contains("split-churn: 1 thread, 2 repeats"),
        "{report}"
    );
    assert!(report.contains("harness floor (null design)"), "{report}");
    for line in report.lines() {
        assert!(line.is_ascii() && line.len() <= 80, "not lkml: {line:?}");
    }
    let r = RunResults::load(&dir.join("results.json")).unwrap();
    assert_eq!(r.scenarios.len(), 1);
    let sc = &r.scenarios[0];
    assert_eq!(sc.designs.len(), 5, "three designs, legacy and null");
    // Every design ran the same hook calls (untrack and free are one site).
    let calls = |d: &pfntrack::results::DesignResult| -> u64 {
        d.repeats[0].hooks.values().map(|h| h.count).sum()
    };
    let want = calls(&sc.designs[0]);
    assert!(want > 0);
    for d in &sc.designs {
        assert_eq!(calls(d), want, "{} made other hook calls", d.strategy);
        assert_eq!(d.repeats.len(), 2);
        assert!(!d.memory.samples.is_empty());
    }
    // split-churn unmaps pieces of tracked VMAs: the VM_PAT design frees
    // ranges nothing reserved and leaks what the pieces leave; the merged
    // design does neither. Both reserve.
    let by = |st: Strategy| sc.designs.iter().find(|d| d.strategy == st).unwrap();
    let (per_vma, legacy) = (by(Strategy::PerVma), by(Strategy::Legacy));
    assert!(per_vma.reservations_peak > 0 && legacy.reservations_peak > 0);
    assert_eq!((per_vma.invalid_frees, per_vma.reservations_leaked), (0, 0));
    assert!(legacy.invalid_frees > 0, "{}", legacy.invalid_frees);
    assert!(
        legacy.reservations_leaked > 0,
        "{}",
        legacy.reservations_leaked
    );
    assert!(report.contains("memtype entries: at peak"), "{report}");
    assert!(
        r.command.contains("--scenario split-churn"),
        "{}",
        r.command
    );
    // No temporary file left beside the document.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["results.json"], "{names:?}");
}

#[test]
fn gen_check_replay_and_corrupted_traces() {
    let dir = scratch("trace");
    let trace = dir.join("mixed.trace");
    let o = pfntrack(&[
        "gen",
        "--scenario",
        "mixed",
        "--quick",
        "--param",
        "churn_ops=2000",
        "--seed",
        "7",
        "--out",
        s(&trace),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let o = pfntrack(&["check", s(&trace)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("agree with the reference model"));

    let out = dir.join("replay");
    let o = pfntrack(&[
        "replay",
        s(&trace),
        "--repeat",
        "1",
        "--quiet",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r = RunResults::load(&out.join("results.json")).unwrap();
    assert_eq!(r.scenarios[0].name, "mixed.trace");
    assert_eq!(r.scenarios[0].seed, None, "a replay has no workload seed");

    // Corrupt one op line: a VMA that does not exist.
    let good = std::fs::read_to_string(&trace).unwrap();
    let (n, line) = good
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("remap "))
        .unwrap();
    let mut words: Vec<&str> = line.split(' ').collect();
    words[1] = "4000000";
    let bad_line = words.join(" ");
    let bad: String = good
        .lines()
        .enumerate()
        .map(|(i, l)| if i == n { bad_line.clone() } else { l.to_string() } + "\n")
        .collect();
    let bad_path = dir.join("bad.trace");
    std::fs::write(&bad_path, bad).unwrap();
    for args in [
        vec!["check", s(&bad_path)],
        vec!["replay", s(&bad_path), "--quiet"],
    ] {
        let cmd = args[0];
        let o = pfntrack(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!("bad.trace:{}:", n + 1)),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn bad_run_options_are_refused_before_any_work() {
    let dir = scratch("bad");
    for (args, says) in [
        (vec!["run", "--repeat", "0"], "--repeat"),
        (vec!["run", "--threads", "64"], "--threads"),
        (vec!["run", "--strategies", "reference"], "oracle"),
        (
            vec!["run", "--param", "nope=1"],
            "unknown scenario parameter",
        ),
        (vec!["run", "--scenario", "nope"], "unknown scenario"),
        (vec!["run", "--xa-key-shift", "3"], "--xa-key-shift"),
    ] {
        let mut a = args.clone();
        a.extend(["--quick", "--out", s(&dir)]);
        let o = pfntrack(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    assert!(!dir.join("results.json").exists());
}
