//! `calibrate drive --count`: the calibration's load-immune mode. Runs
//! each side once per key file under callgrind with its cache simulator,
//! and reports per phase the instructions, data-cache and last-level-cache
//! misses per operation of both sides: callgrind zeroes its counters on
//! entering a phase's function (`phase_xa_store`, `phase_it_fill`, ...: each
//! timed loop is one such function on both sides) and dumps them on
//! leaving it. Instruction counts and
//! simulated misses do not move with the machine's load, so the work of
//! the two sides can be compared on a busy machine; time still needs the
//! timed mode on a quiet one.
//!
//! The simulated caches are fixed, not read from the host (a VM may report
//! nonsense): 32 KiB 8-way L1i and L1d, 16 MiB 16-way last level, 64-byte
//! lines, a single-core view of an EPYC (Zen 2/3) core complex.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;

/// The cache geometry given to callgrind (see the module documentation).
pub const CACHES: [&str; 3] = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=16777216,16,64"];

/// One phase's counts on one side, summed over the run (inclusive).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Instructions executed.
    pub instructions: u64,
    /// L1 data-cache misses (reads and writes).
    pub d1_misses: u64,
    /// Last-level cache misses for data (reads and writes).
    pub ll_misses: u64,
}

/// Run `argv` under callgrind; return its stdout and the per-phase counts
/// keyed by phase name (`store`, `fill`, ...).
///
/// Callgrind zeroes its counters on entering a phase function and dumps
/// them on leaving it, so each dump holds exactly one call's inclusive
/// cost, setup and printing excluded; the calls of a phase (the batches of
/// `insert` and `remove`) are summed. `zero_before` is the side's own
/// pattern for its phase functions (`phase_*` for kbench,
/// `calibrate::ours::phase_*` here): callgrind 3.19 applies only one of two
/// options whose patterns both start with `*`, so the dump's `*phase_*`
/// and the zeroing must be spelled differently.
pub fn run_counted(
    argv: &[String],
    out_file: &Path,
    zero_before: &str,
) -> Result<(String, BTreeMap<String, Counts>)> {
    let shown = argv.join(" ");
    let dir = out_file
        .parent()
        .context("the callgrind output file has no directory")?;
    let stem = out_file
        .file_name()
        .context("the callgrind output file has no name")?
        .to_string_lossy()
        .into_owned();
    remove_dumps(dir, &stem)?;
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--cache-sim=yes")
        .args(CACHES)
        .arg(format!("--zero-before={zero_before}"))
        .arg("--dump-after=*phase_*")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .args(argv)
        .output()
        .with_context(|| format!("starting valgrind for `{shown}` (is valgrind installed?)"))?;
    if !out.status.success() {
        bail!(
            "valgrind `{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8(out.stdout).with_context(|| format!("`{shown}`: output"))?;
    let mut counts = BTreeMap::new();
    for path in dumps(dir, &stem)? {
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        if let Some((phase, c)) =
            parse_dump(&text).with_context(|| format!("reading {}", path.display()))?
        {
            let sum: &mut Counts = counts.entry(phase).or_default();
            sum.instructions += c.instructions;
            sum.d1_misses += c.d1_misses;
            sum.ll_misses += c.ll_misses;
        }
    }
    remove_dumps(dir, &stem)?;
    ensure!(
        !counts.is_empty(),
        "`{shown}`: callgrind dumped no phase_* function"
    );
    Ok((stdout, counts))
}

/// The dump files of one callgrind run: `stem` and `stem.N`.
fn dumps(dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name == stem
            || name
                .strip_prefix(stem)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if ours {
            out.push(e.path());
        }
    }
    Ok(out)
}

fn remove_dumps(dir: &Path, stem: &str) -> Result<()> {
    for p in dumps(dir, stem)? {
        fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}

/// The phase a function name stands for: `...phase_xa_store...` -> `store`.
fn phase_of(func: &str) -> Option<String> {
    let at = func.find("phase_")?;
    let name: String = func[at + "phase_".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let name = name
        .strip_prefix("xa_")
        .or_else(|| name.strip_prefix("it_"))?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Parse one callgrind dump: the phase whose exit triggered it (None for
/// the dump at program termination) and its `totals:`.
pub fn parse_dump(text: &str) -> Result<Option<(String, Counts)>> {
    let trigger = text
        .lines()
        .find_map(|l| l.strip_prefix("desc: Trigger:"))
        .context("no `desc: Trigger:` line")?;
    let Some(func) = trigger.trim().strip_prefix("--dump-after=") else {
        return Ok(None);
    };
    let phase = phase_of(func).with_context(|| format!("dump after `{func}`: not a phase"))?;
    let events: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .context("no `events:` line")?
        .split_whitespace()
        .collect();
    let totals: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .context("no `totals:` line")?
        .split_whitespace()
        .map(|f| {
            f.parse::<u64>()
                .context("a `totals:` field is not a number")
        })
        .collect::<Result<_>>()?;
    // Trailing zero events may be left out of the line.
    let get = |e: &str| -> Result<u64> {
        let i = events
            .iter()
            .position(|x| *x == e)
            .with_context(|| format!("no {e} event (run with --cache-sim=yes)"))?;
        Ok(totals.get(i).copied().unwrap_or(0))
    };
    Ok(Some((
        phase,
        Counts {
            instructions: get("Ir")?,
            d1_misses: get("D1mr")? + get("D1mw")?,
            ll_misses: get("DLmr")? + get("DLmw")?,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_phase_dump() {
        let text = "version: 1\ndesc: Trigger: --dump-after=calibrate::ours::phase_it_fill\n\
            events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n\
            fn=(1) x\n0 1\n\
            totals: 900023 3 2 2 4 5 2 6\n";
        let (phase, c) = parse_dump(text).unwrap().unwrap();
        assert_eq!(phase, "fill");
        assert_eq!(c.instructions, 900_023);
        assert_eq!(c.d1_misses, 9);
        assert_eq!(c.ll_misses, 6);
    }

    #[test]
    fn skips_the_termination_dump_and_rejects_garbage() {
        let end = "desc: Trigger: Program termination\nevents: Ir\ntotals: 5\n";
        assert!(parse_dump(end).unwrap().is_none());
        let bad = "desc: Trigger: --dump-after=phase_xa_load\nevents: Ir D1mr D1mw DLmr DLmw\ntotals: x\n";
        assert!(parse_dump(bad).is_err());
        let nocache = "desc: Trigger: --dump-after=phase_xa_load\nevents: Ir\ntotals: 5\n";
        assert!(parse_dump(nocache).is_err());
    }

    #[test]
    fn phase_names() {
        assert_eq!(
            phase_of("calibrate::ours::phase_it_stab_all").as_deref(),
            Some("stab_all")
        );
        assert_eq!(
            phase_of("kbench.c:phase_xa_miss [x]").as_deref(),
            Some("miss")
        );
        assert_eq!(phase_of("main"), None);
    }
}
