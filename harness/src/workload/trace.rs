//! Trace files: a versioned, line-oriented text form of a [`Workload`] and
//! the run context it needs (PAT on or off, the physical memory map), so a
//! workload can be saved, edited by hand, shared and replayed.
//!
//! docs/trace-format.md is the specification. In short:
//!
//! ```text
//! pfntrack-trace v1
//! meta seed 42
//! pat on
//! phys mmio 0xc0000000 0x100000000 uncachable
//! phys default uncachable
//! setup
//! ioremap 0 0xc0000 4 UC-
//! worker 0
//! proc 1
//! mmap 1 0 16 pfnmap
//! remap 0 0 16 0xc1000 WC
//! exit 1
//! end
//! ```
//!
//! The parser checks every op against a shadow mm (validate.rs), so a
//! trace that parses is one the simulator can run; every problem is an
//! error naming the file and 1-based line, never a panic.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use strategies::CacheMode;
use strategies::phys::{MtrrType, PAGE_SIZE, PhysMap, PhysRegion, RegionKind};

use super::Workload;
use super::op::{MremapKind, Op};
use super::rng::RNG_NAME;
use super::scenario::{PhysMapSpec, Scenario};
use super::validate::MmShadow;

/// The first word of every trace.
pub const TRACE_MAGIC: &str = "pfntrack-trace";
/// The format version this pfntrack reads and writes.
pub const TRACE_VERSION: u32 = 1;

/// What a trace says about the run besides its ops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    /// `meta KEY VALUE` lines, in file order: where the trace came from.
    /// Informational; a replay does not need them.
    pub meta: Vec<(String, String)>,
    /// `pat on|off` (on when absent).
    pub pat_enabled: bool,
    /// The `phys` lines (`PhysMap::typical_server()` when there are none).
    pub phys: PhysMapSpec,
}

impl TraceHeader {
    /// A header without meta lines: PAT on, the typical server.
    pub fn new() -> Self {
        TraceHeader {
            meta: Vec::new(),
            pat_enabled: true,
            phys: PhysMapSpec::typical_server(),
        }
    }

    /// The header of a generated workload: where it came from (`name`:
    /// the preset or scenario file), and the scenario's run context.
    pub fn for_scenario(name: &str, sc: &Scenario, seed: u64, nr_workers: u32) -> Self {
        let params = serde_json::to_string(&sc.to_json()).expect("json");
        let meta = [
            ("scenario", name.to_string()),
            ("seed", seed.to_string()),
            ("rng", RNG_NAME.to_string()),
            ("workload-version", super::WORKLOAD_VERSION.to_string()),
            ("workers", nr_workers.to_string()),
            ("pfntrack", env!("CARGO_PKG_VERSION").to_string()),
            ("params", params),
        ];
        TraceHeader {
            meta: meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            pat_enabled: sc.pat_enabled,
            phys: PhysMapSpec::of(&sc.phys_map()),
        }
    }

    /// The value of the first `meta` line with this key.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The physical map (checked when the header was parsed).
    pub fn phys_map(&self) -> PhysMap {
        self.phys
            .build()
            .unwrap_or_else(|_| PhysMap::typical_server())
    }
}

impl Default for TraceHeader {
    fn default() -> Self {
        Self::new()
    }
}

/// A parsed trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Run context and provenance.
    pub header: TraceHeader,
    /// The ops.
    pub workload: Workload,
    /// Where each op was written, so later checks can name its line.
    pub lines: OpLines,
}

/// The 1-based line of every op of a parsed trace, parallel to
/// [`Workload::setup`] and [`Workload::workers`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpLines {
    /// Lines of the setup ops.
    pub setup: Vec<usize>,
    /// Lines of each worker's ops.
    pub workers: Vec<Vec<usize>>,
}

impl OpLines {
    /// The line of op `index` of `worker` (`None`: the setup section).
    pub fn line(&self, worker: Option<usize>, index: usize) -> Option<usize> {
        match worker {
            None => self.setup.get(index).copied(),
            Some(w) => self.workers.get(w)?.get(index).copied(),
        }
    }
}

/// A trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Reading failed.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        err: io::Error,
    },
    /// A line is wrong.
    #[error("{}:{line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl TraceError {
    /// The 1-based line of the problem (`None` for I/O errors).
    pub fn line(&self) -> Option<usize> {
        match self {
            TraceError::Io { .. } => None,
            TraceError::Line { line, .. } => Some(*line),
        }
    }
}

fn mtrr_name(t: MtrrType) -> &'static str {
    match t {
        MtrrType::Uncachable => "uncachable",
        MtrrType::WrComb => "wrcomb",
        MtrrType::WrThrough => "wrthrough",
        MtrrType::WrProt => "wrprot",
        MtrrType::WrBack => "wrback",
        MtrrType::Invalid => "invalid",
    }
}

fn parse_mtrr(s: &str) -> Result<MtrrType, String> {
    Ok(match s {
        "uncachable" => MtrrType::Uncachable,
        "wrcomb" => MtrrType::WrComb,
        "wrthrough" => MtrrType::WrThrough,
        "wrprot" => MtrrType::WrProt,
        "wrback" => MtrrType::WrBack,
        "invalid" => MtrrType::Invalid,
        _ => {
            return Err(format!(
                "unknown MTRR type `{s}` (expected uncachable, wrcomb, wrthrough, wrprot, wrback or invalid)"
            ));
        }
    })
}

/// One op in trace syntax (without the newline).
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Proc { pid } => write!(f, "proc {pid}"),
            Op::Mmap {
                pid,
                vma,
                pages,
                pfnmap,
            } => write!(
                f,
                "mmap {pid} {vma} {pages} {}",
                if pfnmap { "pfnmap" } else { "normal" }
            ),
            Op::Remap {
                vma,
                off,
                pages,
                pfn,
                mode,
            } => write!(f, "remap {vma} {off} {pages} {pfn:#x} {mode}"),
            Op::Fault { vma, off, pfn } => write!(f, "fault {vma} {off} {pfn:#x}"),
            Op::Lookup { vma } => write!(f, "lookup {vma}"),
            Op::Fork {
                parent,
                child,
                first_vma,
            } => write!(f, "fork {parent} {child} {first_vma}"),
            Op::Split { vma, at, new_vma } => write!(f, "split {vma} {at} {new_vma}"),
            Op::Munmap {
                vma,
                off,
                pages,
                new_vma,
            } => write!(f, "munmap {vma} {off} {pages} {new_vma}"),
            Op::Mremap { vma, kind } => match kind {
                MremapKind::Shrink { pages } => write!(f, "mremap {vma} shrink {pages}"),
                MremapKind::Grow { pages } => write!(f, "mremap {vma} grow {pages}"),
                MremapKind::Move => write!(f, "mremap {vma} move"),
            },
            Op::Exit { pid } => write!(f, "exit {pid}"),
            Op::Ioremap {
                id,
                pfn,
                pages,
                mode,
            } => write!(f, "ioremap {id} {pfn:#x} {pages} {mode}"),
            Op::Iounmap { id } => write!(f, "iounmap {id}"),
        }
    }
}

/// Write `workload` as a trace with `header`. Meta keys must be single
/// non-empty words without `#`, values single lines.
pub fn write_trace<W: Write>(
    w: &mut W,
    header: &TraceHeader,
    workload: &Workload,
) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, w);
    writeln!(w, "{TRACE_MAGIC} v{TRACE_VERSION}")?;
    writeln!(w, "# docs/trace-format.md describes this file.")?;
    for (k, v) in &header.meta {
        if k.is_empty()
            || k.contains(|c: char| c.is_whitespace() || c == '#')
            || v.contains(['\n', '\r'])
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("meta key `{k}` or its value cannot be written on one line"),
            ));
        }
        writeln!(w, "meta {k} {}", v.trim())?;
    }
    writeln!(w, "pat {}", if header.pat_enabled { "on" } else { "off" })?;
    for r in &header.phys.regions {
        let kind = match r.kind {
            RegionKind::Ram => "ram",
            RegionKind::Mmio => "mmio",
        };
        writeln!(
            w,
            "phys {kind} {:#x} {:#x} {}",
            r.start,
            r.end,
            mtrr_name(r.mtrr)
        )?;
    }
    writeln!(w, "phys default {}", mtrr_name(header.phys.default_mtrr))?;
    writeln!(w, "setup")?;
    for op in &workload.setup {
        writeln!(w, "{op}")?;
    }
    for (i, ops) in workload.workers.iter().enumerate() {
        writeln!(w, "worker {i}")?;
        for op in ops {
            writeln!(w, "{op}")?;
        }
    }
    writeln!(w, "end")?;
    w.flush()
}

/// Read and check a trace file.
pub fn read_trace_file(path: &Path) -> Result<Trace, TraceError> {
    let f = fs::File::open(path).map_err(|err| TraceError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    parse_trace(BufReader::with_capacity(1 << 16, f), path)
}

/// A decimal or `0x` hexadecimal number.
fn num<T: TryFrom<u64>>(s: &str, what: &str) -> Result<T, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    let too_big = || {
        format!(
            "{what} `{s}` is too large (at most {} bits)",
            8 * std::mem::size_of::<T>()
        )
    };
    match v {
        Ok(v) => T::try_from(v).map_err(|_| too_big()),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(too_big()),
        Err(_) => Err(format!("{what} `{s}` is not a number (decimal or 0x hex)")),
    }
}

fn mode(s: &str) -> Result<CacheMode, String> {
    s.parse::<CacheMode>().map_err(|e| e.to_string())
}

const OPS: &str =
    "proc, mmap, remap, fault, lookup, fork, split, munmap, mremap, exit, ioremap, iounmap";

/// Parse one op line's words.
fn parse_op(words: &[&str]) -> Result<Op, String> {
    let (name, args) = words.split_first().expect("non-empty line");
    let want = |n: usize, usage: &str| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "`{name}` takes {n} argument{} ({usage}), got {}",
                if n == 1 { "" } else { "s" },
                args.len()
            ))
        }
    };
    Ok(match *name {
        "proc" => {
            want(1, "PID")?;
            Op::Proc {
                pid: num(args[0], "PID")?,
            }
        }
        "mmap" => {
            want(4, "PID VMA PAGES pfnmap|normal")?;
            Op::Mmap {
                pid: num(args[0], "PID")?,
                vma: num(args[1], "VMA")?,
                pages: num(args[2], "PAGES")?,
                pfnmap: match args[3] {
                    "pfnmap" => true,
                    "normal" => false,
                    other => return Err(format!("mmap kind `{other}`: expected pfnmap or normal")),
                },
            }
        }
        "remap" => {
            want(5, "VMA OFF PAGES PFN MODE")?;
            Op::Remap {
                vma: num(args[0], "VMA")?,
                off: num(args[1], "OFF")?,
                pages: num(args[2], "PAGES")?,
                pfn: num(args[3], "PFN")?,
                mode: mode(args[4])?,
            }
        }
        "fault" => {
            want(3, "VMA OFF PFN")?;
            Op::Fault {
                vma: num(args[0], "VMA")?,
                off: num(args[1], "OFF")?,
                pfn: num(args[2], "PFN")?,
            }
        }
        "lookup" => {
            want(1, "VMA")?;
            Op::Lookup {
                vma: num(args[0], "VMA")?,
            }
        }
        "fork" => {
            want(3, "PARENT CHILD FIRST_VMA")?;
            Op::Fork {
                parent: num(args[0], "PARENT")?,
                child: num(args[1], "CHILD")?,
                first_vma: num(args[2], "FIRST_VMA")?,
            }
        }
        "split" => {
            want(3, "VMA AT NEW_VMA")?;
            Op::Split {
                vma: num(args[0], "VMA")?,
                at: num(args[1], "AT")?,
                new_vma: num(args[2], "NEW_VMA")?,
            }
        }
        "munmap" => {
            want(4, "VMA OFF PAGES NEW_VMA")?;
            Op::Munmap {
                vma: num(args[0], "VMA")?,
                off: num(args[1], "OFF")?,
                pages: num(args[2], "PAGES")?,
                new_vma: num(args[3], "NEW_VMA")?,
            }
        }
        "mremap" => {
            let usage = "VMA move | VMA shrink PAGES | VMA grow PAGES";
            let kind = match args.get(1).copied() {
                Some("move") => {
                    want(2, usage)?;
                    MremapKind::Move
                }
                Some("shrink") => {
                    want(3, usage)?;
                    MremapKind::Shrink {
                        pages: num(args[2], "PAGES")?,
                    }
                }
                Some("grow") => {
                    want(3, usage)?;
                    MremapKind::Grow {
                        pages: num(args[2], "PAGES")?,
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "mremap kind `{other}`: expected move, shrink or grow"
                    ));
                }
                None => {
                    return Err(format!(
                        "`mremap` takes {usage}, got {} arguments",
                        args.len()
                    ));
                }
            };
            Op::Mremap {
                vma: num(args[0], "VMA")?,
                kind,
            }
        }
        "exit" => {
            want(1, "PID")?;
            Op::Exit {
                pid: num(args[0], "PID")?,
            }
        }
        "ioremap" => {
            want(4, "ID PFN PAGES MODE")?;
            Op::Ioremap {
                id: num(args[0], "ID")?,
                pfn: num(args[1], "PFN")?,
                pages: num(args[2], "PAGES")?,
                mode: mode(args[3])?,
            }
        }
        "iounmap" => {
            want(1, "ID")?;
            Op::Iounmap {
                id: num(args[0], "ID")?,
            }
        }
        other => return Err(format!("unknown op `{other}` (expected one of: {OPS})")),
    })
}

/// Where the parser is in the file.
enum Section {
    Header,
    Setup(MmShadow),
    Worker(MmShadow),
    Ended,
}

/// Parse and check a trace; `path` names it in errors.
pub fn parse_trace<R: BufRead>(mut r: R, path: &Path) -> Result<Trace, TraceError> {
    let mut header = TraceHeader {
        meta: Vec::new(),
        pat_enabled: true,
        phys: PhysMapSpec {
            regions: Vec::new(),
            default_mtrr: MtrrType::Uncachable,
        },
    };
    let mut saw_phys = false;
    let mut saw_pat = false;
    let mut saw_setup = false;
    let mut workload = Workload::default();
    let mut lines = OpLines::default();
    let mut section = Section::Header;
    let mut buf = Vec::with_capacity(128);
    let mut lineno = 0usize;

    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|err| TraceError::Io {
                path: path.to_path_buf(),
                err,
            })?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let err = |message: String| TraceError::Line {
            path: path.to_path_buf(),
            line: lineno,
            message,
        };
        let Ok(text) = std::str::from_utf8(&buf) else {
            return Err(err("not UTF-8 text".to_string()));
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if lineno == 1 {
            let mut w = text.split_ascii_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some(TRACE_MAGIC), Some(v), None) if v == format!("v{TRACE_VERSION}") => continue,
                (Some(TRACE_MAGIC), Some(v), None) => {
                    return Err(err(format!(
                        "trace format {v}, but this pfntrack reads v{TRACE_VERSION}"
                    )));
                }
                _ => {
                    return Err(err(format!(
                        "not a pfntrack trace: the first line must be `{TRACE_MAGIC} v{TRACE_VERSION}`"
                    )));
                }
            }
        }
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("meta")
            && (rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_whitespace()))
        {
            if !matches!(section, Section::Header) {
                return Err(err(
                    "`meta` after the header (it must precede `setup` and `worker`)".into(),
                ));
            }
            let rest = rest.trim();
            let (k, v) = rest
                .split_once(|c: char| c.is_ascii_whitespace())
                .unwrap_or((rest, ""));
            if k.is_empty() {
                return Err(err("`meta` needs a KEY (and a VALUE)".into()));
            }
            header.meta.push((k.to_string(), v.trim().to_string()));
            continue;
        }
        // Everything else may carry a trailing comment.
        let code = trimmed.split('#').next().unwrap_or("");
        let mut words = [""; 8];
        let mut nw = 0;
        for word in code.split_ascii_whitespace() {
            if nw == words.len() {
                return Err(err("too many words on the line".into()));
            }
            words[nw] = word;
            nw += 1;
        }
        let words = &words[..nw];
        if words.is_empty() {
            continue;
        }
        match words[0] {
            "pat" | "phys" if !matches!(section, Section::Header) => {
                return Err(err(format!(
                    "`{}` after the header (it must precede `setup` and `worker`)",
                    words[0]
                )));
            }
            "pat" => {
                if saw_pat {
                    return Err(err("a second `pat` line".into()));
                }
                saw_pat = true;
                header.pat_enabled = match words {
                    [_, "on"] => true,
                    [_, "off"] => false,
                    _ => return Err(err("expected `pat on` or `pat off`".into())),
                };
            }
            "phys" => {
                saw_phys = true;
                match words {
                    [_, "default", t] => header.phys.default_mtrr = parse_mtrr(t).map_err(err)?,
                    [_, kind, start, end, t] => {
                        let kind = match *kind {
                            "ram" => RegionKind::Ram,
                            "mmio" => RegionKind::Mmio,
                            other => {
                                return Err(err(format!(
                                    "phys region kind `{other}`: expected ram or mmio"
                                )));
                            }
                        };
                        let start: u64 = num(start, "START").map_err(err)?;
                        let end: u64 = num(end, "END").map_err(err)?;
                        if start >= end
                            || !start.is_multiple_of(PAGE_SIZE)
                            || !end.is_multiple_of(PAGE_SIZE)
                        {
                            return Err(err(format!(
                                "phys region [{start:#x}, {end:#x}) is empty or not page aligned"
                            )));
                        }
                        if let Some(o) = header
                            .phys
                            .regions
                            .iter()
                            .find(|o| start < o.end && o.start < end)
                        {
                            return Err(err(format!(
                                "phys region [{start:#x}, {end:#x}) overlaps [{:#x}, {:#x})",
                                o.start, o.end
                            )));
                        }
                        header.phys.regions.push(PhysRegion {
                            start,
                            end,
                            kind,
                            mtrr: parse_mtrr(t).map_err(err)?,
                        });
                    }
                    _ => {
                        return Err(err(
                            "expected `phys ram|mmio START END MTRR` or `phys default MTRR`".into(),
                        ));
                    }
                }
            }
            "setup" => {
                if words.len() != 1 {
                    return Err(err("`setup` takes no arguments".into()));
                }
                if saw_setup || !matches!(section, Section::Header) {
                    return Err(err(
                        "`setup` must come once, before the first `worker`".into()
                    ));
                }
                saw_setup = true;
                section = Section::Setup(MmShadow::for_setup());
            }
            "worker" => {
                if matches!(section, Section::Ended) {
                    return Err(err("`worker` after `end`".into()));
                }
                let [_, n] = words else {
                    return Err(err("expected `worker N`".into()));
                };
                let n: usize = num::<u32>(n, "worker number").map_err(err)? as usize;
                if n != workload.workers.len() {
                    return Err(err(format!(
                        "expected `worker {}`: workers are numbered from 0 in order",
                        workload.workers.len()
                    )));
                }
                if n >= super::MAX_WORKERS as usize {
                    return Err(err(format!(
                        "worker {n}: a trace may have at most {} worker streams (one per \
                         simulated CPU)",
                        super::MAX_WORKERS
                    )));
                }
                workload.workers.push(Vec::new());
                lines.workers.push(Vec::new());
                section = Section::Worker(MmShadow::for_worker(&workload.setup));
            }
            "end" => {
                if words.len() != 1 {
                    return Err(err("`end` takes no arguments".into()));
                }
                if matches!(section, Section::Ended) {
                    return Err(err("a second `end`".into()));
                }
                if workload.workers.is_empty() {
                    return Err(err("`end` before any `worker N` section".into()));
                }
                section = Section::Ended;
            }
            _ => {
                let op = parse_op(words).map_err(err)?;
                let (shadow, ops, op_lines) = match &mut section {
                    Section::Header => {
                        return Err(err(format!(
                            "op `{}` before any section: start one with `setup` or `worker 0`",
                            words[0]
                        )));
                    }
                    Section::Ended => return Err(err("op after `end`".into())),
                    Section::Setup(sh) => (sh, &mut workload.setup, &mut lines.setup),
                    Section::Worker(sh) => (
                        sh,
                        workload.workers.last_mut().expect("in a worker"),
                        lines.workers.last_mut().expect("in a worker"),
                    ),
                };
                shadow.apply(&op).map_err(|e| err(format!("{op}: {e}")))?;
                ops.push(op);
                op_lines.push(lineno);
            }
        }
    }
    if lineno == 0 {
        return Err(TraceError::Line {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "empty file: not a pfntrack trace (expected `{TRACE_MAGIC} v{TRACE_VERSION}`)"
            ),
        });
    }
    if !matches!(section, Section::Ended) {
        return Err(TraceError::Line {
            path: path.to_path_buf(),
            line: lineno,
            message: "truncated trace: no `end` line".to_string(),
        });
    }
    if !saw_phys {
        header.phys = PhysMapSpec::typical_server();
    }
    // Each region was checked as it came; the map builds.
    debug_assert!(header.phys.build().is_ok());
    Ok(Trace {
        header,
        workload,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::generate;

    fn parse(text: &str) -> Result<Trace, TraceError> {
        parse_trace(text.as_bytes(), Path::new("t.trace"))
    }

    fn err(text: &str) -> (usize, String) {
        match parse(text).unwrap_err() {
            TraceError::Line { line, message, .. } => (line, message),
            e => panic!("{e}"),
        }
    }

    const OK: &str = "pfntrack-trace v1\n\
        # a comment\n\
        meta seed 42\n\
        pat off\n\
        setup\n\
        ioremap 0 0xc0000 4 UC-\n\
        worker 0\n\
        proc 1\n\
        mmap 1 0 16 pfnmap   # trailing comment\n\
        remap 0 0 16 0xc1000 WC\n\
        mremap 0 shrink 8\n\
        exit 1\n\
        end\n";

    #[test]
    fn parses_a_small_trace() {
        let t = parse(OK).unwrap();
        assert_eq!(t.header.meta("seed"), Some("42"));
        assert!(!t.header.pat_enabled);
        assert_eq!(t.header.phys, PhysMapSpec::typical_server());
        assert_eq!(t.workload.setup.len(), 1);
        assert_eq!(t.workload.workers[0].len(), 5);
        assert_eq!(t.lines.setup, [6]);
        assert_eq!(t.lines.workers, [vec![8, 9, 10, 11, 12]]);
        assert_eq!(t.lines.line(Some(0), 2), Some(10));
        assert_eq!(t.lines.line(Some(1), 0), None);
        assert_eq!(
            t.workload.workers[0][2],
            Op::Remap {
                vma: 0,
                off: 0,
                pages: 16,
                pfn: 0xc1000,
                mode: CacheMode::WC
            }
        );
    }

    #[test]
    fn errors_name_the_line() {
        let replace = |from: &str, to: &str| OK.replacen(from, to, 1);
        let cases: &[(String, usize, &str)] = &[
            (
                replace("\nremap 0 0 16", "\nremap 0 4 16"),
                10,
                "outside vma 0",
            ),
            (
                replace("\nremap 0", "\nremap 7"),
                10,
                "vma 7 does not exist",
            ),
            (replace("\nremap", "\nremix"), 10, "unknown op `remix`"),
            (
                replace("0xc1000 WC", "0xc1000 XX"),
                10,
                "unknown cache mode",
            ),
            (replace("0xc1000 WC", "0xc1g00 WC"), 10, "not a number"),
            (replace("16 0xc1000", "16"), 10, "takes 5 arguments"),
            (
                replace("mmap 1 0 16 pfnmap", "mmap 1 0 16 normal"),
                10,
                "not a pfnmap",
            ),
            (replace("proc 1", "proc 99999999999"), 8, "too large"),
            (replace("v1", "v2"), 1, "reads v1"),
            (
                replace("pfntrack-trace v1\n", ""),
                1,
                "not a pfntrack trace",
            ),
            (replace("end\n", ""), 12, "truncated"),
            (replace("exit 1", "exit 2"), 12, "process 2 does not exist"),
            (replace("pat off", "pat maybe"), 4, "pat on"),
            (replace("worker 0", "worker 1"), 7, "expected `worker 0`"),
            (replace("setup\n", ""), 5, "before any section"),
            (replace("proc 1", "proc 1\nioremap 0 0x1 1 WB"), 9, "setup"),
            (
                replace("meta seed 42", "phys mmio 0x1000 0x1800 uncachable"),
                3,
                "page aligned",
            ),
            (
                replace("exit 1\n", "exit 1\npat on\n"),
                13,
                "after the header",
            ),
        ];
        for (text, line, what) in cases {
            let (l, m) = err(text);
            assert!(
                m.contains(what) && l == *line,
                "expected line {line} `{what}`, got {l}: {m}"
            );
        }
        assert!(parse("").is_err());
        let e = parse(&OK.replace("mmap", "mmap\u{0}")).unwrap_err();
        assert!(e.line().is_some());
    }

    #[test]
    fn generated_workload_round_trips() {
        let mut sc = Scenario::preset("mixed").unwrap();
        sc.churn_ops = 2_000;
        sc.ioremaps = 20;
        let w = generate(&sc, 3, 2);
        let h = TraceHeader::for_scenario("mixed", &sc, 3, 2);
        let mut out = Vec::new();
        write_trace(&mut out, &h, &w).unwrap();
        let t = parse_trace(out.as_slice(), Path::new("x")).unwrap();
        assert_eq!(t.header, h);
        assert_eq!(t.workload, w);
        let params: Scenario = serde_json::from_str(t.header.meta("params").unwrap()).unwrap();
        assert_eq!(params, sc);
    }
}
