//! Build-time facts for the results document (measure/env.rs reads them):
//! the rustc that built pfntrack, the build profile, and the git commit and
//! dirty flag of the source tree. Never fails the build: anything it cannot
//! learn is left unset and reported as unknown at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    if let Some(version) = run(&rustc, &["-V"], None) {
        println!("cargo:rustc-env=PFNTRACK_RUSTC_VERSION={version}");
    }
    if let Ok(profile) = std::env::var("PROFILE") {
        println!("cargo:rustc-env=PFNTRACK_BUILD_PROFILE={profile}");
    }
    git_facts();
}

/// Commit and dirty flag, from `git` in the package's tree. A source
/// tarball without `.git`, or a machine without git, sets neither.
fn git_facts() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = manifest_dir.as_path();
    // Explicit values win (a CI building from an exported tree).
    println!("cargo:rerun-if-env-changed=PFNTRACK_GIT_COMMIT");
    if let Ok(commit) = std::env::var("PFNTRACK_GIT_COMMIT") {
        println!("cargo:rustc-env=PFNTRACK_GIT_COMMIT={commit}");
        return;
    }
    let Some(commit) = run("git", &["rev-parse", "HEAD"], Some(dir)) else {
        // No git: nothing to watch but this script (cargo's default).
        return;
    };
    println!("cargo:rustc-env=PFNTRACK_GIT_COMMIT={commit}");
    if let Some(status) = run_raw(
        "git",
        // Read-only: an index refresh written by `status` would itself be
        // a change to watch.
        &["--no-optional-locks", "status", "--porcelain"],
        Some(dir),
    ) {
        let dirty = !status.trim().is_empty();
        println!("cargo:rustc-env=PFNTRACK_GIT_DIRTY={dirty}");
    }

    // Rebuild the facts when HEAD moves (checkout), the branch it names
    // moves (commit), refs are packed, or the manifests or sources of the
    // two packages change (the dirty flag; edits elsewhere, e.g. to
    // bench-results/, do not rebuild pfntrack and are not noticed).
    // `--git-path` finds the right files in linked worktrees too.
    let mut watch: Vec<PathBuf> = Vec::new();
    for name in ["HEAD", "packed-refs"] {
        if let Some(p) = run("git", &["rev-parse", "--git-path", name], Some(dir)) {
            watch.push(dir.join(p));
        }
    }
    let head_ref = run(
        "git",
        &["rev-parse", "--symbolic-full-name", "HEAD"],
        Some(dir),
    );
    if let Some(head_ref) = head_ref.filter(|r| r.starts_with("refs/"))
        && let Some(p) = run("git", &["rev-parse", "--git-path", &head_ref], Some(dir))
    {
        watch.push(dir.join(p));
    }
    if let Some(top) = run("git", &["rev-parse", "--show-toplevel"], Some(dir)) {
        let top = PathBuf::from(top);
        for member in ["Cargo.toml", "Cargo.lock", "strategies", "harness"] {
            watch.push(top.join(member));
        }
    }
    for path in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The trimmed first line `program args` prints, if it runs and succeeds.
fn run(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let out = run_raw(program, args, dir)?;
    let line = out.lines().next()?.trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// Everything `program args` prints, if it runs and succeeds.
fn run_raw(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
