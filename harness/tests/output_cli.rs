//! Every command's stdout when it cannot be written: a reader that went
//! away (a pipe closed before the first write, so the outcome does not
//! depend on timing) ends the command quietly with status 141, and a full
//! device is a clear `Error:` with status 1. Neither may panic (101) or
//! abort. Output paths are checked before any work: a bad `--out` is
//! refused at once, naming the flag.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pfntrack::output::{CLOSED_PIPE_EXIT, WRITE_ERROR_EXIT};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pfntrack-output-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run pfntrack with stdout going to `stdout`.
fn run_with(args: &[String], stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("run pfntrack")
}

/// A pipe whose read end is already closed: the first write gets EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// One command line per command that prints on stdout, set up in `dir`.
fn commands(dir: &Path) -> Vec<Vec<String>> {
    let trace = dir.join("t.trace");
    let o = run_with(
        &[
            "gen",
            "--scenario",
            "split-churn",
            "--quick",
            "--param",
            "churn_ops=200",
            "--out",
            s(&trace),
        ]
        .map(String::from),
        Stdio::null(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let results = dir.join("r");
    let quick_run = |out: &Path| -> Vec<String> {
        [
            "run",
            "--quick",
            "--scenario",
            "split-churn",
            "--param",
            "churn_ops=200",
            "--repeat",
            "1",
            "--quiet",
            "--out",
            s(out),
        ]
        .map(String::from)
        .to_vec()
    };
    let o = run_with(&quick_run(&results), Stdio::null());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json = results.join("results.json");
    let owned = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
    vec![
        owned(vec!["list"]),
        owned(vec!["--help"]),
        owned(vec!["layout"]),
        owned(vec![
            "gen",
            "--scenario",
            "split-churn",
            "--quick",
            "--param",
            "churn_ops=200",
        ]),
        owned(vec!["check", s(&trace)]),
        owned(vec![
            "replay",
            s(&trace),
            "--repeat",
            "1",
            "--quiet",
            "--out",
        ])
        .into_iter()
        .chain([s(&dir.join("replay")).to_string()])
        .collect(),
        quick_run(&dir.join("run2")),
        owned(vec!["report", s(&json)]),
        owned(vec!["compare", s(&json), s(&json)]),
        owned(vec!["chart", s(&json), "--out", s(&dir.join("charts"))]),
    ]
}

#[test]
fn closed_stdout_is_quiet_and_a_full_one_is_an_error() {
    let dir = scratch("stdout");
    for args in commands(&dir) {
        let o = run_with(&args, closed_pipe());
        assert_eq!(
            o.status.code(),
            Some(i32::from(CLOSED_PIPE_EXIT)),
            "{args:?} on a closed pipe: {}",
            text(&o.stderr)
        );
        let err = text(&o.stderr);
        assert!(
            !err.contains("Error") && !err.contains("panicked"),
            "{args:?}: {err}"
        );

        let full = File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let o = run_with(&args, Stdio::from(full));
        let err = text(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(i32::from(WRITE_ERROR_EXIT)),
            "{args:?} on /dev/full: {err}"
        );
        assert!(
            err.contains("Error: writing to stdout:") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_out_paths_are_refused_before_any_work() {
    let dir = scratch("out");
    let file = dir.join("a-file");
    fs::write(&file, "x").unwrap();
    let under_file = file.join("sub");
    for args in [
        vec!["run", "--quick", "--out", s(&file)],
        vec!["run", "--quick", "--out", s(&under_file)],
        vec!["chart", "no-such-results.json", "--out", s(&file)],
        vec!["gen", "--scenario", "mixed", "--out", s(&dir)],
        vec!["gen", "--scenario", "mixed", "--out", s(&under_file)],
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let o = run_with(&args, Stdio::piped());
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        // Named before anything else happened: no report, the flag named.
        assert!(o.stdout.is_empty(), "{args:?}");
        assert!(err.starts_with("Error: --out "), "{args:?}: {err}");
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "x");
    fs::remove_dir_all(&dir).unwrap();
}
