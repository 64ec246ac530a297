//! A deterministic driver for instruction-count benchmarks: runs one
//! benchmark case (the same workload and op sequence as criterion's `hooks`
//! bench, from the same seed) so `scripts/instr-count.sh` can count its
//! instructions under callgrind.
//!
//! The measured part of every chunk runs inside [`measured_region_hook`] or
//! [`measured_region_map`]; callgrind counts only those
//! (`--collect-atstart=no --toggle-collect='*measured_region*'`), so the
//! population build, each chunk's untimed prepare/restore and the warm-up
//! chunks are left out. Instructions per op = total / `--ops`.
//!
//! ```text
//! instr_count --list [--sizes 1k,10k]      print every case name
//! instr_count CASE [--ops N] [--warmup N]  run one case, e.g. dup/10k/per-vma
//! ```

use std::hint::black_box;
use std::process::ExitCode;

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use fixture::{Case, ChunkBench, Hook, MapOp, SIZES, parse_size, run_chunks};

/// Default ops measured per case.
const DEFAULT_OPS: u64 = 4096;
/// Default ops run (unmeasured) first, so one-time growth (the slab's
/// spare page, a node arena's first chunk) stays out of the count.
const DEFAULT_WARMUP: u64 = 256;

/// The measured region of a design hook: callgrind's toggle target.
#[inline(never)]
fn measured_region_hook(fx: &mut dyn ChunkBench<Hook>, hook: Hook, k: usize) -> usize {
    fx.measured(hook, k)
}

/// The measured region of a std map op: callgrind's toggle target.
#[inline(never)]
fn measured_region_map(fx: &mut dyn ChunkBench<MapOp>, op: MapOp, k: usize) -> usize {
    fx.measured(op, k)
}

/// Run `warmup` then `ops` ops of `op`; Return: ops with the intended
/// outcome among the measured ones.
fn run<O: Copy>(
    fx: &mut dyn ChunkBench<O>,
    op: O,
    warmup: u64,
    ops: u64,
    region: fn(&mut dyn ChunkBench<O>, O, usize) -> usize,
) -> u64 {
    run_chunks(fx, op, warmup, |fx, op, k| {
        black_box(fx.measured(op, k));
    });
    let mut hits = 0u64;
    run_chunks(fx, op, ops, |fx, op, k| {
        hits += black_box(region(fx, op, k)) as u64;
    });
    hits
}

struct Args {
    list: bool,
    sizes: Vec<usize>,
    case: Option<Case>,
    ops: u64,
    warmup: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        list: false,
        sizes: SIZES.to_vec(),
        case: None,
        ops: DEFAULT_OPS,
        warmup: DEFAULT_WARMUP,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let count = |name: &str, v: String| {
            v.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{name}: `{v}` is not a positive integer"))
        };
        match a.as_str() {
            "--list" => args.list = true,
            "--sizes" => {
                args.sizes = value("--sizes")?
                    .split(',')
                    .map(parse_size)
                    .collect::<Result<_, _>>()?;
            }
            "--ops" => args.ops = count("--ops", value("--ops")?)?,
            "--warmup" => args.warmup = count("--warmup", value("--warmup")?)?,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
            s if args.case.is_none() => args.case = Some(s.parse()?),
            s => return Err(format!("unexpected argument `{s}`")),
        }
    }
    if !args.list && args.case.is_none() {
        return Err("name a case or pass --list".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("Error: {e}");
            }
            eprintln!(
                "usage: instr_count --list [--sizes 1k,10k]\n       \
                 instr_count OP/SIZE/SUBJECT [--ops N] [--warmup N]"
            );
            return ExitCode::from(2);
        }
    };
    if args.list {
        for case in Case::all(&args.sizes) {
            println!("{case}");
        }
        return ExitCode::SUCCESS;
    }
    let case = args.case.expect("checked in parse_args");
    let hits = match case {
        Case::Hook { hook, size, design } => run(
            design.fixture(size).as_mut(),
            hook,
            args.warmup,
            args.ops,
            measured_region_hook,
        ),
        Case::Map { op, size, map } => run(
            map.fixture(size).as_mut(),
            op,
            args.warmup,
            args.ops,
            measured_region_map,
        ),
    };
    println!("{case} ops={} intended_outcome={hits}", args.ops);
    ExitCode::SUCCESS
}
