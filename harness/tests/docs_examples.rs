//! Every command and file example in README.md, bench-results/README.md
//! and docs/*.md, run against the freshly built binary, so an example
//! cannot rot.
//!
//! How examples are found (docs/README.md says the same for writers):
//! - code blocks: fenced with ```` ```sh ```` or ```` ```bash ````, or
//!   indented by four spaces after a blank line when the block's first line
//!   is a command of a kind below (other indented blocks are text); lines
//!   ending in `\` continue; a leading `$ ` is dropped;
//! - `pfntrack ...` and `cargo run --release -- ...` lines run through
//!   `bash -c`, with `pfntrack` the binary under test, in a scratch
//!   directory holding a copy of bench-results/ and links to harness/,
//!   strategies/ and scripts/; the lines of one document run in order, so
//!   a later example may use what an earlier one wrote. They must exit 0
//!   (1 is accepted for `compare --fail-on-regression` and for `gate`,
//!   which report a regression that way: the test's debug binary times
//!   differently from the release build a committed baseline comes from,
//!   so a regression verdict there is no fault of the example; 2, cannot
//!   compare, still fails), or exactly the status their comment promises
//!   (`# exit 2`, `# exit status 1`);
//! - `cargo bench|test|build` and `cargo +nightly ...` lines are checked
//!   as far as a test can: the package and bench they name exist (running
//!   them here would nest a build in the test run); `scripts/NAME` lines:
//!   the script exists and `bash -n` parses it;
//! - a line whose comment says `not run by the docs test: REASON` (shown
//!   to readers, so the reason is visible) is not run; if it is a
//!   pfntrack line, its arguments must still parse;
//! - any other command must carry that marker: an unknown kind of line
//!   fails the test rather than being skipped silently;
//! - ```` ```toml ```` blocks whose first line is `# NAME.toml` are
//!   scenario files: written into the scratch directory before the
//!   document's commands run, and they must load and validate;
//! - ```` ``` ```` blocks whose first line is `pfntrack-trace v1` are
//!   traces: they must parse, and `pfntrack check` must pass on them.
//!
//! Reductions, applied to the command text and printed when the test
//! fails (the only ones; each because a debug build would take minutes):
//! - `pfntrack run` gets `--quick` and `--repeat 1`, `pfntrack replay`
//!   gets `--repeat 1`, and `pfntrack gen` and `pfntrack check --scenario`
//!   get `--quick`, unless the example sets them: repeats and churn change
//!   the figures, not which code runs (and `check` runs the slow
//!   reference model over every op);
//! - `processes=1000` becomes `processes=10`: the 1,000,000-VMA examples
//!   run with 10,000 VMAs (same scenario shape, a hundredth of the size).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The documents whose examples are checked.
fn documents() -> Vec<PathBuf> {
    let root = repo();
    let mut docs = vec![root.join("README.md"), root.join("bench-results/README.md")];
    let mut more: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// What a document holds.
#[derive(Debug, Default)]
struct Examples {
    /// Command lines with their line numbers, continuations joined.
    commands: Vec<(usize, String)>,
    /// `(line, file name, text)` of scenario files.
    tomls: Vec<(usize, String, String)>,
    /// `(line, text)` of traces.
    traces: Vec<(usize, String)>,
}

fn extract(text: &str) -> Examples {
    let mut ex = Examples::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut prev_blank = true;
    while i < lines.len() {
        let line = lines[i];
        if let Some(info) = line.trim_start().strip_prefix("```") {
            let info = info.trim().to_string();
            let start = i + 1;
            let mut j = start;
            while j < lines.len() && !lines[j].trim_start().starts_with("```") {
                j += 1;
            }
            let body: Vec<&str> = lines[start..j.min(lines.len())].to_vec();
            match info.as_str() {
                "sh" | "bash" | "shell" | "console" => commands(&mut ex, start, &body),
                "toml" => {
                    if let Some(name) = body.first().and_then(|l| l.strip_prefix("# "))
                        && name.trim().ends_with(".toml")
                    {
                        let text = body.join("\n") + "\n";
                        ex.tomls.push((start + 1, name.trim().to_string(), text));
                    }
                }
                "" if body.first() == Some(&"pfntrack-trace v1") => {
                    ex.traces.push((start + 1, body.join("\n") + "\n"));
                }
                _ => {}
            }
            i = j + 1;
            prev_blank = false;
            continue;
        }
        if prev_blank && line.starts_with("    ") && !line.trim().is_empty() {
            let start = i;
            while i < lines.len() && (lines[i].starts_with("    ") || lines[i].trim().is_empty()) {
                i += 1;
            }
            let body: Vec<&str> = lines[start..i]
                .iter()
                .map(|l| l.get(4..).unwrap_or(""))
                .collect();
            // An indented block is code or text (a JSON sketch, a
            // layout): commands only when it opens with one.
            if body
                .first()
                .is_some_and(|l| kind(l.trim_start_matches("$ ")) != Kind::Unknown)
            {
                commands(&mut ex, start, &body);
            } else if body.first() == Some(&"pfntrack-trace v1") {
                ex.traces.push((start + 1, body.join("\n") + "\n"));
            }
            prev_blank = true;
            continue;
        }
        prev_blank = line.trim().is_empty();
        i += 1;
    }
    ex
}

/// The command lines of one block (`first` is the 0-based line of its
/// first body line).
fn commands(ex: &mut Examples, first: usize, body: &[&str]) {
    let mut k = 0;
    while k < body.len() {
        let at = first + k + 1;
        let mut cmd = body[k].trim().trim_start_matches("$ ").to_string();
        while cmd.ends_with('\\') && k + 1 < body.len() {
            cmd.pop();
            k += 1;
            cmd.push(' ');
            cmd.push_str(body[k].trim());
        }
        k += 1;
        if !cmd.is_empty() && !cmd.starts_with('#') {
            ex.commands.push((at, cmd));
        }
    }
}

const NOT_RUN: &str = "not run by the docs test:";

/// The kind of a command line.
#[derive(Debug, PartialEq)]
enum Kind {
    Pfntrack,
    Cargo,
    Script,
    NotRun,
    Unknown,
}

fn kind(cmd: &str) -> Kind {
    if cmd.contains(NOT_RUN) {
        Kind::NotRun
    } else if cmd.starts_with("pfntrack ") || cmd.starts_with("cargo run --release --") {
        Kind::Pfntrack
    } else if cmd.starts_with("cargo ") {
        Kind::Cargo
    } else if cmd.starts_with("scripts/") {
        Kind::Script
    } else {
        Kind::Unknown
    }
}

/// Whether `run` is a command whose exit status 1 reports a regression
/// (not an error): `compare --fail-on-regression` and `gate`.
fn reports_regressions(run: &str) -> bool {
    run.contains("--fail-on-regression") || run.starts_with("pfntrack gate ")
}

/// The command as the test runs it: `cargo run --release --` is the
/// binary, and the documented reductions applied.
fn reduce(cmd: &str) -> String {
    let mut c = cmd.replace("cargo run --release --", "pfntrack");
    c = c.replace("processes=1000 ", "processes=10 ");
    let quick = !c.contains("--quick");
    if c.contains("pfntrack run") {
        let mut add = String::new();
        if quick {
            add.push_str(" --quick");
        }
        if !c.contains("--repeat") {
            add.push_str(" --repeat 1");
        }
        c = c.replacen("pfntrack run", &format!("pfntrack run{add}"), 1);
    }
    if quick
        && (c.contains("pfntrack gen")
            || (c.contains("pfntrack check") && c.contains("--scenario")))
    {
        c = c.replacen(" --scenario", " --quick --scenario", 1);
    }
    if c.contains("pfntrack replay") && !c.contains("--repeat") {
        c = c.replacen("pfntrack replay", "pfntrack replay --repeat 1", 1);
    }
    c
}

/// A scratch directory laid out like the repository.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pfntrack-docs-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pfntrack"), dir.join("bin/pfntrack")).unwrap();
    let root = repo();
    for link in ["harness", "strategies", "scripts", "docs"] {
        std::os::unix::fs::symlink(root.join(link), dir.join(link)).unwrap();
    }
    let status = Command::new("cp")
        .arg("-r")
        .arg(root.join("bench-results"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn bash(dir: &Path, script: &str) -> std::process::Output {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap()
}

/// The words bash makes of `cmd` (quotes and comments as the shell sees
/// them), for argument checks of lines that are not run.
fn words(dir: &Path, cmd: &str) -> Vec<String> {
    let o = bash(dir, &format!("printf '%s\\0' {cmd}"));
    assert!(o.status.success(), "cannot split {cmd:?}");
    String::from_utf8(o.stdout)
        .unwrap()
        .split('\0')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// `cargo ... -p PKG [--bench NAME]`: the package and bench exist.
fn check_cargo(cmd: &str) -> Result<(), String> {
    let w: Vec<&str> = cmd.split_whitespace().collect();
    let root = repo();
    let pkg = w.iter().position(|x| *x == "-p").and_then(|i| w.get(i + 1));
    let dir = match pkg {
        Some(&"pfntrack") => root.join("harness"),
        Some(&"strategies") => root.join("strategies"),
        Some(other) => return Err(format!("no package `{other}`")),
        None => root.clone(),
    };
    if let Some(bench) = w
        .iter()
        .position(|x| *x == "--bench")
        .and_then(|i| w.get(i + 1))
    {
        let file = dir.join("benches").join(format!("{bench}.rs"));
        if !file.exists() {
            return Err(format!("no bench {}", file.display()));
        }
    }
    Ok(())
}

fn check_script(dir: &Path, cmd: &str) -> Result<(), String> {
    let script = cmd.split_whitespace().next().unwrap();
    let path = repo().join(script);
    if !path.exists() {
        return Err(format!("{script} does not exist"));
    }
    let o = bash(dir, &format!("bash -n {script}"));
    if !o.status.success() {
        return Err(format!("{script}: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(())
}

fn check_document(doc: &Path) -> Vec<String> {
    let text = fs::read_to_string(doc).unwrap();
    let ex = extract(&text);
    let rel = doc.strip_prefix(repo()).unwrap().display().to_string();
    let dir = scratch(&rel.replace('/', "-"));
    let mut failures = Vec::new();
    for (line, name, text) in &ex.tomls {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        if let Err(e) = pfntrack::workload::Scenario::from_toml_file(&path)
            .and_then(|s| s.validate().map(|()| s))
        {
            failures.push(format!("{rel}:{line}: {name}: {e}"));
        }
    }
    for (k, (line, text)) in ex.traces.iter().enumerate() {
        let path = dir.join(format!("example-{k}.trace"));
        fs::write(&path, text).unwrap();
        let o = bash(&dir, &format!("pfntrack check {}", path.display()));
        if !o.status.success() {
            failures.push(format!(
                "{rel}:{line}: trace example: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    for (line, cmd) in &ex.commands {
        let result = match kind(cmd) {
            Kind::Pfntrack => {
                let run = reduce(cmd);
                let t0 = std::time::Instant::now();
                let o = bash(&dir, &run);
                eprintln!("{rel}:{line}: {:.1} s: {run}", t0.elapsed().as_secs_f64());
                let ok = match expected_status(cmd) {
                    Some(want) => o.status.code() == Some(want),
                    None => {
                        o.status.success()
                            || (o.status.code() == Some(1) && reports_regressions(&run))
                    }
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "ran `{run}`: {}\n{}",
                        o.status,
                        String::from_utf8_lossy(&o.stderr)
                    ))
                }
            }
            Kind::Cargo => check_cargo(cmd),
            Kind::Script => check_script(&dir, cmd),
            Kind::NotRun => {
                let pf = reduce(cmd);
                if pf.starts_with("pfntrack ") {
                    let w = words(&dir, &pf);
                    pfntrack::cli::Cli::try_parse_from(&w)
                        .map(|_| ())
                        .map_err(|e| format!("arguments do not parse: {e}"))
                } else {
                    Ok(())
                }
            }
            Kind::Unknown => Err(format!(
                "unknown kind of example (mark it `# {NOT_RUN} REASON` if it cannot run)"
            )),
        };
        if let Err(e) = result {
            failures.push(format!("{rel}:{line}: `{cmd}`: {e}"));
        }
    }
    let _ = fs::remove_dir_all(&dir);
    failures
}

/// The exit status an example's comment promises (`# exit 2`,
/// `# ...: exit status 1`), which it must then return exactly.
fn expected_status(cmd: &str) -> Option<i32> {
    let comment = &cmd[cmd.find(" #")? + 2..];
    let at = comment.find("exit ")?;
    let rest = comment[at + 5..].trim_start();
    let rest = rest.strip_prefix("status ").unwrap_or(rest);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

use clap::Parser;

#[test]
fn every_documented_example_runs() {
    let mut failures = Vec::new();
    let mut counted = 0;
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        let ex = extract(&text);
        counted += ex.commands.len() + ex.tomls.len() + ex.traces.len();
        failures.extend(check_document(&doc));
    }
    assert!(
        counted >= 40,
        "only {counted} examples found: extraction broke"
    );
    assert!(
        failures.is_empty(),
        "{} failing example(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_promised_exit_status_is_read_from_the_comment() {
    assert_eq!(expected_status("pfntrack compare a b   # exit 2"), Some(2));
    assert_eq!(
        expected_status("pfntrack compare a b   # exit 2: xa_key_shift (BASE 0, NEW 6)"),
        Some(2)
    );
    assert_eq!(
        expected_status("pfntrack kernel-check t --model x  # a wrong model: exit status 1"),
        Some(1)
    );
    assert_eq!(
        expected_status("pfntrack run --quick   # the short suite"),
        None
    );
    assert_eq!(expected_status("pfntrack run --exit 3"), None);
}

#[test]
fn extraction_finds_blocks_and_continuations() {
    let text = "Intro\n\n    {\n      \"json\": 1\n    }\n\nText\n\n    pfntrack list      # a comment\n    pfntrack gen \\\n        --scenario mixed\n\n```sh\ncargo bench -p strategies --bench hooks\n```\n\n```toml\n# a.toml\npreset = \"mixed\"\n```\n\n```\npfntrack-trace v1\nend\n```\n";
    let ex = extract(text);
    let cmds: Vec<&str> = ex.commands.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        cmds,
        [
            "pfntrack list      # a comment",
            "pfntrack gen  --scenario mixed",
            "cargo bench -p strategies --bench hooks"
        ]
    );
    assert_eq!(ex.commands[1].0, 10, "line of the first line");
    assert_eq!(ex.tomls.len(), 1);
    assert_eq!(ex.tomls[0].1, "a.toml");
    assert_eq!(ex.traces.len(), 1);
    assert_eq!(kind("jq .x f"), Kind::Unknown);
    assert_eq!(
        kind("jq .x f  # not run by the docs test: needs criterion output"),
        Kind::NotRun
    );
    assert_eq!(
        reduce("cargo run --release -- run --scenario x --param processes=1000 --param y=1"),
        "pfntrack run --quick --repeat 1 --scenario x --param processes=10 --param y=1"
    );
    assert_eq!(
        reduce("pfntrack gen --scenario mixed --out m.trace"),
        "pfntrack gen --quick --scenario mixed --out m.trace"
    );
    assert_eq!(reduce("pfntrack check m.trace"), "pfntrack check m.trace");
    assert!(check_cargo("cargo bench -p strategies --bench nope").is_err());
    assert!(check_cargo("cargo bench -p strategies --bench hooks").is_ok());
}
