//! `pfntrack gen` and `pfntrack list`, run as the built binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pfntrack::workload::{TraceError, read_trace_file};

fn pfntrack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .args(args)
        .output()
        .expect("run pfntrack")
}

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli_gen-{test}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn gen_writes_a_trace_that_parses_and_is_deterministic() {
    let dir = scratch("det");
    let a = dir.join("a.trace");
    let b = dir.join("sub/b.trace");
    for out in [&a, &b] {
        let o = pfntrack(&[
            "gen",
            "--scenario",
            "mixed",
            "--quick",
            "--seed",
            "7",
            "--threads",
            "2",
            "--param",
            "churn_ops=500",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    let t = read_trace_file(&a).unwrap();
    assert_eq!(t.workload.workers.len(), 2);
    assert_eq!(t.header.meta("seed"), Some("7"));
    assert_eq!(t.header.meta("scenario"), Some("mixed"));
    // No temporary file left behind by the atomic write.
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn gen_to_stdout() {
    let o = pfntrack(&[
        "gen",
        "--scenario",
        "fault-heavy",
        "--param",
        "churn_ops=50",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("pfntrack-trace v1\n"));
    assert!(text.ends_with("end\n"));
    assert!(text.contains("\nfault "));
}

#[test]
fn a_corrupted_trace_is_rejected_with_its_line() {
    let dir = scratch("corrupt");
    let good = dir.join("good.trace");
    let o = pfntrack(&[
        "gen",
        "--scenario",
        "driver-mmap",
        "--param",
        "churn_ops=200",
        "--out",
        good.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(&good).unwrap();
    // Point the first remap at a VMA that never existed.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines.iter().position(|l| l.starts_with("remap ")).unwrap();
    let mut words: Vec<&str> = lines[at].split(' ').collect();
    words[1] = "999999";
    lines[at] = words.join(" ");
    let bad = dir.join("bad.trace");
    fs::write(&bad, lines.join("\n") + "\n").unwrap();
    match read_trace_file(&bad) {
        Err(e @ TraceError::Line { .. }) => {
            assert_eq!(e.line(), Some(at + 1));
            let msg = e.to_string();
            assert!(msg.contains(&format!("bad.trace:{}:", at + 1)), "{msg}");
            assert!(msg.contains("vma 999999 does not exist"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_or_bad_params_are_rejected() {
    let o = pfntrack(&["gen", "--scenario", "mixed", "--param", "procs=3"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.starts_with("Error: "), "{e}");
    assert!(e.contains("unknown scenario parameter `procs`"), "{e}");
    assert!(e.contains("processes"), "{e}");

    let o = pfntrack(&["gen", "--scenario", "mixed", "--param", "processes=lots"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("processes"), "{}", stderr(&o));

    let o = pfntrack(&[
        "gen",
        "--scenario",
        "mixed",
        "--param",
        "conflict_probability=2",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("conflict_probability"),
        "{}",
        stderr(&o)
    );

    let o = pfntrack(&["gen", "--scenario", "no-such-preset"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("fork-storm"), "{}", stderr(&o));
}

#[test]
fn scenario_files_override_a_preset_and_name_bad_lines() {
    let dir = scratch("toml");
    let good = dir.join("big.toml");
    fs::write(
        &good,
        "# a bigger fork storm\npreset = \"fork-storm\"\nprocesses = 3\nchurn_ops = 100\n",
    )
    .unwrap();
    let out = dir.join("big.trace");
    let o = pfntrack(&[
        "gen",
        "--scenario",
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = read_trace_file(&out).unwrap();
    let procs = t.workload.workers[0]
        .iter()
        .filter(|op| matches!(op, pfntrack::workload::Op::Proc { .. }))
        .count();
    assert_eq!(procs, 3);

    let bad = dir.join("bad.toml");
    fs::write(&bad, "preset = \"fork-storm\"\nprocesses = 3\nforks = 9\n").unwrap();
    let o = pfntrack(&["gen", "--scenario", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("bad.toml:3: unknown field `forks`"), "{e}");
}

#[test]
fn list_shows_every_scenario() {
    let o = pfntrack(&["list"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    for name in pfntrack::workload::Scenario::PRESETS {
        assert!(text.contains(&format!("  {name} ")), "{name}: {text}");
    }
}
