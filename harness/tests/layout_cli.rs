//! `pfntrack layout` run as a binary: on the linux-mm pahole fixture
//! (strategies/tests/data, see its README), on broken input, and with bad
//! arguments. The `--matrix` tables are compared with committed snapshots
//! (tests/data); regenerate them with the command in each test when a model
//! change is intended, and say why in the commit.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../strategies/tests/data/pahole-vm_area_struct-x86_64.txt")
}

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

/// A command that must fail cleanly: non-zero, an error message, no panic.
fn fails(args: &[&str], expect: &str) -> String {
    let o = pfntrack(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded:\n{}", stdout(&o));
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected `{expect}` in:\n{err}"
    );
    err
}

/// A scratch file removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, content: &[u8]) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("pfntrack-layout-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        Scratch(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn default_config_stays_192_bytes_with_the_field() {
    let o = pfntrack(&["layout"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("config `default`"));
    assert!(out.contains("\t/* size: 192, cachelines: 3, members: 18 */\n"));
    assert!(out.contains("\t/* size: 192, cachelines: 3, members: 19 */\n"));
    assert!(out.contains("\tstruct pfnmap_track_ctx *  pfnmap_track_ctx;     /*   176     8 */\n"));
    assert!(out.contains("  objects per slab                    21          21\n"));
    assert!(out.contains("delta per VMA: +0.00 bytes (+0.0%)\n"));
}

#[test]
fn minimal_config_crosses_a_stride() {
    let o = pfntrack(&["layout", "--config", "minimal", "--vmas", "1000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("  slab object size                   128         192\n"),
        "{out}"
    );
    assert!(out.contains("<- crosses a slab stride boundary"));
    // 1000 VMAs: 32 slabs of 32 vs 48 slabs of 21, order 0.
    assert!(
        out.contains("  slabs                                 32            48\n"),
        "{out}"
    );
    assert!(out.contains("difference: +65536 bytes"), "{out}");
}

#[test]
fn set_builds_custom_configs() {
    let o = pfntrack(&[
        "layout",
        "--config",
        "minimal",
        "--set",
        "USERFAULTFD=y",
        "--set",
        "CONFIG_SWAP=y",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("custom config"));
    assert!(out.contains("SWAP=y"));
    assert!(
        out.contains("  sizeof                             144         152\n"),
        "{out}"
    );
}

#[test]
fn matrix_matches_the_snapshots() {
    // Regenerate: cargo run -- layout --matrix --cpus 4 > harness/tests/data/layout-matrix-cpus4.txt
    for (cpus, snapshot) in [
        ("4", include_str!("data/layout-matrix-cpus4.txt")),
        ("16", include_str!("data/layout-matrix-cpus16.txt")),
    ] {
        let o = pfntrack(&["layout", "--matrix", "--cpus", cpus]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), snapshot, "--cpus {cpus}");
    }
    let four = include_str!("data/layout-matrix-cpus4.txt");
    assert!(four.contains("1 of 96 configurations pay for the field (marked *): --------\n"));
    assert!(
        four.contains(
            "VSNBA---   192  192  192  192  21  21  0 0  195.05  195.05    +0.00 default\n"
        )
    );
}

#[test]
fn pahole_fixture_with_the_ctx_field() {
    let f = fixture();
    let o = pfntrack(&[
        "layout",
        "--pahole",
        f.to_str().unwrap(),
        "--add-field",
        "struct pfnmap_track_ctx *pfnmap_track_ctx:8",
        "--after",
        "vm_userfaultfd_ctx",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("offsets verified"));
    assert!(
        out.contains("added `pfnmap_track_ctx` (8 bytes) after vm_userfaultfd_ctx: offset 176\n")
    );
    assert!(out.contains("\tstruct pfnmap_track_ctx *  pfnmap_track_ctx;     /*   176     8 */\n"));
    assert!(out.contains("\t/* padding: 8 */\n"));
    assert!(
        out.contains("size 192 -> 192 bytes, cachelines 3 -> 3, padding 16 -> 8\n"),
        "{out}"
    );
}

#[test]
fn pahole_fixture_with_three_pointers_needs_a_fourth_cacheline() {
    let f = fixture();
    let o = pfntrack(&[
        "layout",
        "--pahole",
        f.to_str().unwrap(),
        "--add-field",
        "struct pfnmap_track_ctx *pfnmap_track_ctx:8",
        "--after",
        "vm_userfaultfd_ctx",
        "--add-field",
        "void *a:8",
        "--add-field",
        "void *b:8:8",
        "--vmas",
        "21000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("\t/* size: 256, cachelines: 4, members: 21 */\n"));
    assert!(
        out.contains("size 192 -> 256 bytes, cachelines 3 -> 4, padding 16 -> 56\n"),
        "{out}"
    );
    assert!(
        out.contains("  objects per slab                    21          16\n"),
        "{out}"
    );
    // 21000 objects: 1000 slabs before, 1313 after.
    assert!(
        out.contains("  slabs                               1000          1313\n"),
        "{out}"
    );
}

#[test]
fn truncated_and_garbled_pahole_files_name_the_line() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let cut = Scratch::new("cut.txt", lines[..28].concat().as_bytes());
    let err = fails(&["layout", "--pahole", cut.path()], "line 28: truncated");
    assert!(
        err.starts_with(&format!("Error: {}: line 28", cut.path())),
        "{err}"
    );

    let garbled = text.replace("vm_file;", "vm_file; oops");
    let g = Scratch::new("garbled.txt", garbled.as_bytes());
    fails(&["layout", "--pahole", g.path()], "line 24: cannot parse");

    let offsets = text.replace("/*    88     8 */", "/*    90     8 */");
    let o = Scratch::new("offsets.txt", offsets.as_bytes());
    fails(
        &["layout", "--pahole", o.path()],
        "line 24: offsets don't add up",
    );

    let binary = Scratch::new("binary.txt", &[b's', 0xff, 0xfe, b'\n']);
    fails(
        &["layout", "--pahole", binary.path()],
        "line 1: cannot parse",
    );

    fails(
        &["layout", "--pahole", "/nonexistent/pahole.txt"],
        "cannot read /nonexistent/pahole.txt",
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let f = fixture();
    let f = f.to_str().unwrap();
    fails(
        &["layout", "--cpus", "0"],
        "invalid value '0' for '--cpus <N>'",
    );
    fails(&["layout", "--cpus", "many"], "invalid value 'many'");
    fails(&["layout", "--vmas", "-3"], "unexpected argument '-3'");
    fails(
        &["layout", "--vmas", "0"],
        "invalid value '0' for '--vmas <N>'",
    );
    fails(&["layout", "--config", "nope"], "unknown config `nope`");
    fails(&["layout", "--set", "FOO=y"], "unknown option `FOO`");
    fails(
        &["layout", "--set", "SWAP"],
        "expected OPTION=y or OPTION=n",
    );
    fails(
        &["layout", "--config", "minimal", "--set", "LOCK_STAT=y"],
        "LOCK_STAT=y needs DEBUG_LOCK_ALLOC=y",
    );
    fails(
        &["layout", "--matrix", "--config", "default"],
        "cannot be used with",
    );
    fails(&["layout", "--add-field", "void *x:8"], "--pahole <FILE>");
    fails(
        &[
            "layout",
            "--pahole",
            f,
            "--after",
            "x",
            "--add-field",
            "void *x:8",
        ],
        "--after x must follow",
    );
    fails(
        &["layout", "--pahole", f, "--add-field", "void *x"],
        "expected DECL:SIZE",
    );
    fails(
        &["layout", "--pahole", f, "--add-field", "void *x:8:3"],
        "ALIGN 3 is not a power of two",
    );
    fails(
        &[
            "layout",
            "--pahole",
            f,
            "--add-field",
            "void *x:8",
            "--after",
            "nope",
        ],
        "Error: --after nope: struct vm_area_struct has no member `nope`",
    );
    fails(
        &["layout", "--pahole", f, "--add-field", "x:99999999999"],
        "Error: --add-field `x:99999999999`: SIZE 99999999999 is over the limit of 4194304 bytes",
    );
    fails(
        &["layout", "--pahole", f, "--add-field", "char x[1]:4194304"],
        "Error: --add-field: struct vm_area_struct would be",
    );
    fails(
        &["layout", "--pahole", f, "--add-field", "void *vm_mm:8"],
        "already has a member `vm_mm`",
    );
}
