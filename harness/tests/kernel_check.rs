//! `pfntrack kernel-check` without a VM: the transcripts recorded from real
//! Debian kernels (`tests/data/kernel/transcripts`, made by `kernel-check
//! --record`, see docs/kernel-check.md) checked against the models; what
//! those kernels did, against what their source says they do; and the
//! refusals made before anything boots.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pfntrack::kernel::lockstep::MsgSource;
use pfntrack::kernel::protocol::{GuestMsg, Hello, OpReport, SysResult};
use pfntrack::kernel::transcript::{TranscriptHeader, open_transcript};
use pfntrack::workload::{Op, parse_trace};
use strategies::CacheMode;
use strategies::memtype::MemtypeEntry;
use strategies::memtype_log::InvalidFree;
use strategies::phys::PAGE_SIZE;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kernel")
}

fn transcript(series: &str) -> PathBuf {
    data().join("transcripts").join(format!("{series}.jsonl"))
}

fn pfntrack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pfntrack"))
        .args(args)
        // Transcripts name their traces relative to the repository root.
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run pfntrack")
}

fn out(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A recorded run: its header, hello and messages.
struct Recorded {
    header: TranscriptHeader,
    hello: Hello,
    msgs: Vec<GuestMsg>,
}

fn recorded(series: &str) -> Recorded {
    let (header, mut r) = open_transcript(&transcript(series)).unwrap();
    let Some(GuestMsg::Hello(hello)) = r.next_msg().unwrap() else {
        panic!("no hello first");
    };
    let mut msgs = Vec::new();
    while let Some(m) = r.next_msg().unwrap() {
        msgs.push(m);
    }
    Recorded {
        header,
        hello,
        msgs,
    }
}

impl Recorded {
    fn trace_index(&self, file: &str) -> usize {
        self.header
            .traces
            .iter()
            .position(|t| t.name.ends_with(file))
            .unwrap_or_else(|| panic!("{file} was not recorded"))
    }

    /// The report of the op at `line` of `file`.
    fn at(&self, file: &str, line: usize) -> &OpReport {
        let t = self.trace_index(file);
        self.msgs
            .iter()
            .find_map(|m| match m {
                GuestMsg::Op(r) if r.trace == t && r.line == line => Some(r),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no report of {file}:{line}"))
    }

    /// The guest address of trace pfn `pfn` (device 0 of the fixtures).
    fn guest(&self, pfn: u64, device: usize) -> u64 {
        let dev_base = [0xfe000u64, 0xfe100][device];
        self.hello.bars[device].start + (pfn - dev_base) * PAGE_SIZE
    }
}

/// The entries of `r` inside `[start, start + len)`.
fn within(r: &OpReport, start: u64, len: u64) -> Vec<(u64, u64, CacheMode)> {
    let mut v: Vec<_> = r
        .entries
        .iter()
        .filter(|e| e.start >= start && e.end <= start + len)
        .map(|e: &MemtypeEntry| (e.start - start, e.end - start, e.ty))
        .collect();
    v.sort_unstable();
    v
}

fn frees(r: &OpReport, start: u64) -> Vec<(u64, u64)> {
    r.klog
        .iter()
        .filter_map(|l| pfntrack::kernel::observe::parse_invalid_free(l))
        .map(|f: InvalidFree| (f.start - start, f.end - start))
        .collect()
}

/// Line of the first op of `file` (as recorded) matching `pred`.
fn line_of(rec: &Recorded, file: &str, pred: impl Fn(&Op) -> bool) -> usize {
    let t = &rec.header.traces[rec.trace_index(file)];
    let trace = parse_trace(t.text.as_bytes(), Path::new(&t.name)).unwrap();
    let i = trace.workload.workers[0].iter().position(pred).unwrap();
    trace.lines.line(Some(0), i).unwrap()
}

const KB: u64 = 1024;
const UCM: CacheMode = CacheMode::UC_MINUS;

#[test]
fn fixtures_are_current_and_expressible() {
    let mut files: Vec<PathBuf> = fs::read_dir(data())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "trace"))
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    for series in ["6.1", "6.12", "7.3"] {
        let rec = recorded(series);
        assert_eq!(rec.header.traces.len(), files.len(), "{series}");
        for (t, f) in rec.header.traces.iter().zip(&files) {
            assert!(t.name.ends_with(f.file_name().unwrap().to_str().unwrap()));
            assert_eq!(
                t.text,
                fs::read_to_string(f).unwrap(),
                "{series}: {} changed since it was recorded: record again \
                 (docs/kernel-check.md, \"Fixtures\")",
                t.name
            );
        }
        assert!(matches!(rec.msgs.last(), Some(GuestMsg::Done)), "{series}");
    }
}

#[test]
fn every_design_agrees_with_the_recorded_ctx_kernel() {
    let rec = recorded("7.3");
    let nr_ops: usize = rec
        .header
        .traces
        .iter()
        .map(|t| {
            parse_trace(t.text.as_bytes(), Path::new(&t.name))
                .unwrap()
                .workload
                .workers[0]
                .len()
        })
        .sum();
    let path = transcript("7.3");
    for model in ["per-vma", "xarray", "memtype-ext", "reference"] {
        let o = pfntrack(&[
            "kernel-check",
            "--transcript",
            path.to_str().unwrap(),
            "--model",
            model,
        ]);
        assert!(o.status.success(), "{model}: {}", out(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            s.contains(&format!("{nr_ops} ops"))
                && s.contains(&format!("agree with model {model}")),
            "{model}: {s}"
        );
    }
    // Without --model, the family's: per-vma from 6.16.
    let o = pfntrack(&["kernel-check", "--transcript", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("agree with model per-vma"));
}

#[test]
fn vm_pat_kernels_diverge_from_per_vma_at_the_first_fork() {
    for series in ["6.1", "6.12"] {
        let rec = recorded(series);
        let first = &rec.header.traces[0].name;
        let file = first.rsplit('/').next().unwrap();
        let fork = line_of(&rec, file, |op| matches!(op, Op::Fork { .. }));
        let path = transcript(series);
        let o = pfntrack(&[
            "kernel-check",
            "--transcript",
            path.to_str().unwrap(),
            "--model",
            "per-vma",
        ]);
        assert_eq!(o.status.code(), Some(1), "{series}: {}", out(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            s.contains(&format!("DIVERGENCE at {first}:{fork} ")),
            "{series}: {s}"
        );
        // The kernel holds two reservations of the range, the model one.
        assert!(s.contains("kernel 2, model 1"), "{s}");
        let kernel = s
            .lines()
            .find(|l| l.contains("only the kernel's:"))
            .unwrap();
        let model = s.lines().find(|l| l.contains("only the model's:")).unwrap();
        assert_eq!(kernel.matches("PAT: [mem").count(), 1, "{s}");
        assert!(model.contains("(none)"), "{s}");
    }
}

/// Every op of every recorded trace, and every "freeing invalid memtype"
/// line the kernel printed during them.
fn ops_and_invalid_frees(rec: &Recorded) -> (usize, usize) {
    rec.msgs
        .iter()
        .filter_map(|m| match m {
            GuestMsg::Op(r) => Some(r),
            _ => None,
        })
        .fold((0, 0), |(ops, frees), r| {
            let f = r
                .klog
                .iter()
                .filter(|l| pfntrack::kernel::observe::parse_invalid_free(l).is_some())
                .count();
            (ops + 1, frees + f)
        })
}

#[test]
fn vm_pat_kernels_agree_with_legacy_by_default() {
    for series in ["6.1", "6.12"] {
        let rec = recorded(series);
        let (ops, frees) = ops_and_invalid_frees(&rec);
        // The fixtures make the VM_PAT kernels print invalid frees (mremap,
        // splits): agreeing on them is part of the check.
        assert!(frees > 0, "{series}");
        let path = transcript(series);
        for args in [vec![], vec!["--model", "legacy"]] {
            let mut a = vec!["kernel-check", "--transcript", path.to_str().unwrap()];
            a.extend(args.iter());
            let o = pfntrack(&a);
            assert!(o.status.success(), "{series} {args:?}: {}", out(&o));
            let s = String::from_utf8_lossy(&o.stdout);
            assert!(
                s.contains(&format!("{ops} ops"))
                    && s.contains("agree with model legacy")
                    && s.contains(&format!("{frees} \"freeing invalid memtype\" messages")),
                "{series} {args:?}: {s}"
            );
        }
    }
}

#[test]
fn a_ctx_kernel_diverges_from_legacy_at_the_first_fork() {
    // legacy reserves again for the child; 7.3 shares the one reservation.
    let rec = recorded("7.3");
    let first = &rec.header.traces[0].name;
    let file = first.rsplit('/').next().unwrap();
    let fork = line_of(&rec, file, |op| matches!(op, Op::Fork { .. }));
    let path = transcript("7.3");
    let o = pfntrack(&[
        "kernel-check",
        "--transcript",
        path.to_str().unwrap(),
        "--model",
        "legacy",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(&format!("DIVERGENCE at {first}:{fork} ")), "{s}");
    assert!(s.contains("kernel 1, model 2"), "{s}");
}

#[test]
fn a_broken_model_is_caught_where_its_bug_first_shows() {
    // The mutant untracks on the first put of a shared ctx: in the first
    // trace (fork, split in the child) that is the child's exit, while the
    // parent still maps the range.
    let rec = recorded("7.3");
    let first = rec.header.traces[0].name.clone();
    let file = first.rsplit('/').next().unwrap();
    let exit = line_of(&rec, file, |op| matches!(op, Op::Exit { pid: 2 }));
    let path = transcript("7.3");
    let o = pfntrack(&[
        "kernel-check",
        "--transcript",
        path.to_str().unwrap(),
        "--model",
        "mutant:per-vma-untrack-first-put",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(&format!("DIVERGENCE at {first}:{exit} ")), "{s}");
    assert!(s.contains("kernel 1, model 0"), "{s}");
    assert!(s.contains("only the model's:  (none)"), "{s}");
}

#[test]
fn legacy_without_the_end_match_is_caught_at_the_child_exit() {
    // fork-child-splits.trace: the child splits its copy and exits; the
    // kernel frees the head piece (no match: invalid) and then trims the
    // child's entry by the tail's end match. Without the end match the
    // tail's free is a second invalid free and the entry stays whole.
    for series in ["6.1", "6.12"] {
        let rec = recorded(series);
        let file = "fork-child-splits.trace";
        let name = &rec.header.traces[rec.trace_index(file)].name;
        let exit = line_of(&rec, file, |op| matches!(op, Op::Exit { pid: 2 }));
        let path = transcript(series);
        let o = pfntrack(&[
            "kernel-check",
            "--transcript",
            path.to_str().unwrap(),
            "--model",
            "mutant:legacy-no-end-match",
        ]);
        assert_eq!(o.status.code(), Some(1), "{series}: {}", out(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains(&format!("DIVERGENCE at {name}:{exit} ")), "{s}");
        let kernel = s
            .lines()
            .find(|l| l.trim_start().starts_with("kernel: freeing"));
        let model = s
            .lines()
            .find(|l| l.trim_start().starts_with("model:  freeing"));
        let (kernel, model) = (kernel.unwrap(), model.unwrap());
        assert_eq!(kernel.matches("freeing invalid memtype").count(), 1, "{s}");
        assert_eq!(model.matches("freeing invalid memtype").count(), 2, "{s}");
    }
}

#[test]
fn recorded_vm_pat_kernels_behave_as_their_source_says() {
    for series in ["6.1", "6.12"] {
        let rec = recorded(series);
        let w = |pfn| rec.guest(pfn, 0);
        let chk = |file: &str, line: usize, pfn: u64, want: &[(u64, u64, CacheMode)]| {
            let r = rec.at(file, line);
            assert_eq!(within(r, w(pfn), 64 * KB), want, "{series} {file}:{line}");
            r
        };
        // fork reserves the range again for the child (track_pfn_copy());
        // each exit or unmap frees one exact match: clean.
        chk(
            "fork.trace",
            12,
            0xfe000,
            &[(0, 64 * KB, UCM), (0, 64 * KB, UCM)],
        );
        chk("fork.trace", 13, 0xfe000, &[(0, 64 * KB, UCM)]);
        chk("fork.trace", 14, 0xfe000, &[]);
        chk(
            "fork-parent-unmaps-first.trace",
            13,
            0xfe010,
            &[(0, 64 * KB, UCM)],
        );
        chk("fork-parent-unmaps-first.trace", 14, 0xfe010, &[]);
        // Split, unmap the head first: untrack_pfn() of the head matches no
        // entry (no exact, no end match): "freeing invalid memtype"; the
        // tail's trims the entry to the head's range, which leaks.
        let r = chk("split-unmap-head.trace", 13, 0xfe020, &[(0, 64 * KB, UCM)]);
        assert_eq!(frees(r, w(0xfe020)), [(0, 16 * KB)], "{series}");
        chk("split-unmap-head.trace", 14, 0xfe020, &[(0, 16 * KB, UCM)]);
        chk("split-unmap-head.trace", 15, 0xfe020, &[(0, 16 * KB, UCM)]);
        // Tail first: the end match trims, then the head matches exactly.
        let r = chk("split-unmap-tail.trace", 13, 0xfe030, &[(0, 16 * KB, UCM)]);
        assert!(frees(r, w(0xfe030)).is_empty());
        chk("split-unmap-tail.trace", 14, 0xfe030, &[]);
        // mremap shrink: the end match exists for it; grow: EFAULT.
        chk("mremap-shrink.trace", 12, 0xfe060, &[(0, 32 * KB, UCM)]);
        let r = chk("mremap-shrink.trace", 13, 0xfe060, &[(0, 32 * KB, UCM)]);
        assert_eq!(r.result, SysResult::Err("EFAULT".into()));
        chk("mremap-shrink.trace", 14, 0xfe060, &[]);
        // A middle unmap matches nothing, nor does the head; the tail trims.
        let r = chk("munmap-middle.trace", 12, 0xfe040, &[(0, 64 * KB, UCM)]);
        assert_eq!(frees(r, w(0xfe040)), [(16 * KB, 32 * KB)]);
        chk("munmap-middle.trace", 14, 0xfe040, &[(0, 32 * KB, UCM)]);
        // Moves are clean; unmapping the head piece first leaks as above.
        chk("mremap-move.trace", 12, 0xfe070, &[(0, 64 * KB, UCM)]);
        chk("mremap-move.trace", 14, 0xfe070, &[(0, 64 * KB, UCM)]);
        // Exit untracks a process's pieces in address order: head first.
        let r = chk(
            "fork-child-splits.trace",
            14,
            0xfe080,
            &[(0, 16 * KB, UCM), (0, 64 * KB, UCM)],
        );
        assert_eq!(frees(r, w(0xfe080)), [(0, 16 * KB)]);
        // The head piece moved above the tail: fork copies and exit frees
        // in address order, tail first. The child reserved each piece
        // exactly; the parent's exit trims by the tail's end match and then
        // frees the head exactly: clean, with no invalid free.
        chk(
            "split-move-exit.trace",
            14,
            0xfe090,
            &[
                (0, 32 * KB, UCM),
                (0, 64 * KB, UCM),
                (32 * KB, 64 * KB, UCM),
            ],
        );
        chk("split-move-exit.trace", 15, 0xfe090, &[(0, 64 * KB, UCM)]);
        chk("split-move-exit.trace", 16, 0xfe090, &[]);
        for line in 9..=16 {
            assert!(frees(rec.at("split-move-exit.trace", line), w(0xfe090)).is_empty());
        }
        // WC through resourceN_wc; UC- over it takes the reserved WC.
        let wc = rec.guest(0xfe100, 1);
        let r = rec.at("wc-fork.trace", 14);
        assert_eq!(
            within(r, wc, 64 * KB),
            [
                (0, 64 * KB, CacheMode::WC),
                (0, 64 * KB, CacheMode::WC),
                (0, 64 * KB, CacheMode::WC)
            ]
        );
    }
}

#[test]
fn broken_transcripts_are_errors_naming_the_line() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernel_check-broken");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let text = fs::read_to_string(transcript("7.3")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = dir.join("cut.jsonl");
    fs::write(&cut, lines[..lines.len() / 2].join("\n")).unwrap();
    let o = pfntrack(&["kernel-check", "--transcript", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("ended before"), "{}", out(&o));
    let garbled = dir.join("garbled.jsonl");
    let mut g: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    g[5] = "{\"op\": 1".into();
    fs::write(&garbled, g.join("\n")).unwrap();
    let o = pfntrack(&["kernel-check", "--transcript", garbled.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("garbled.jsonl:6"), "{}", out(&o));
}

#[test]
fn refusals_come_before_anything_boots() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernel_check-refusals");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let fault = dir.join("fault.trace");
    fs::write(
        &fault,
        "pfntrack-trace v1\nphys mmio 0xfe000000 0xfe100000 uncachable\nsetup\nworker 0\n\
         proc 1\nmmap 1 0 4 pfnmap\nremap 0 0 4 0xfe000 UC-\nfault 0 1 0xfe001\nexit 1\nend\n",
    )
    .unwrap();
    let cache = dir.join("no-cache");
    let o = pfntrack(&[
        "kernel-check",
        fault.to_str().unwrap(),
        "--kernel",
        "7.3",
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains("fault.trace:8: fault 0 1 0xfe001"),
        "{}",
        out(&o)
    );
    // An expressible trace gets as far as the kernel cache.
    let ok = data().join("fork.trace");
    let o = pfntrack(&[
        "kernel-check",
        ok.to_str().unwrap(),
        "--kernel",
        "6.16",
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("scripts/kernel-vm.sh 6.16"), "{}", out(&o));
    for bad in [
        vec!["kernel-check", "--kernel", "6.x", ok.to_str().unwrap()],
        vec!["kernel-check", ok.to_str().unwrap()],
        vec!["kernel-check", "--kernel", "7.3"],
        vec![
            "kernel-check",
            "--kernel",
            "7.3",
            "--model",
            "nope",
            ok.to_str().unwrap(),
        ],
    ] {
        let o = pfntrack(&bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", out(&o));
    }
}

#[test]
fn generated_sysfs_bars_traces_are_replayable() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernel_check-gen");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sysfs.trace");
    let o = pfntrack(&[
        "gen",
        "--scenario",
        "sysfs-bars",
        "--seed",
        "3",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", out(&o));
    let text = fs::read_to_string(&path).unwrap();
    let trace = parse_trace(text.as_bytes(), &path).unwrap();
    let plan = pfntrack::kernel::express::plan(&trace, &path, &text).unwrap();
    assert_eq!(plan.devices.len(), 4);
    assert!(trace.workload.workers[0].len() >= 500);
    // Every kind of expressible op shows up.
    let ops = &trace.workload.workers[0];
    for name in ["fork", "exit", "split", "munmap", "mremap", "remap"] {
        assert!(ops.iter().any(|op| op.name() == name), "{name}");
    }
}
