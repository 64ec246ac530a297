//! Which traces a real kernel can replay: the ops a process can express
//! with system calls, and the device ranges their pfns live in.
//!
//! A guest process reaches `remap_pfn_range()` of a whole VMA by
//! `mmap()`ing a PCI BAR's sysfs file (drivers/pci/pci-sysfs.c
//! `pci_mmap_resource()` -> drivers/pci/mmap.c `pci_mmap_resource_range()`
//! -> `io_remap_pfn_range(vma, vma->vm_start, vma->vm_pgoff, vma->vm_end -
//! vma->vm_start, ...)`): `resourceN` maps UC- (`pgprot_device()`, which
//! is `pgprot_noncached()` on x86), `resourceN_wc` WC and exists only for
//! prefetchable BARs. So a trace's `mmap ... pfnmap` followed at once by
//! the `remap` of that whole VMA with UC- or WC is one system call;
//! `fork`, `split` (mprotect), `munmap`, `mremap` and `exit` are
//! themselves. Partial remaps, faults (`vmf_insert_pfn()` needs a driver's
//! fault handler), ioremaps, lookups and `pat off` have no system call, and
//! are refused with the file and line before anything boots.
//!
//! Device ranges: the trace's `phys mmio` regions, in address order, are
//! devices 0, 1, ...; `kernel-check` gives device k a guest BAR at least as
//! large and runs the model over the BAR's real physical addresses.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strategies::CacheMode;
use strategies::phys::{PAGE_SHIFT, PAGE_SIZE, RegionKind};

use crate::workload::{Op, Trace, VmaId};

/// Most device ranges a replayable trace may declare (one PCI device each).
pub const MAX_DEVICES: usize = 16;

/// Largest device range: a guest BAR of this size is backed by this much
/// host memory (`ivshmem-plain`).
pub const MAX_DEVICE_BYTES: u64 = 256 << 20;

/// A device range a trace declares (one `phys mmio` region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRange {
    /// First byte in the trace's physical map.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Whether any remap asks for WC (needs a prefetchable BAR).
    pub wc: bool,
}

impl DeviceRange {
    /// Length in bytes.
    pub fn bytes(&self) -> u64 {
        self.end - self.start
    }
}

/// What a replayable trace needs from the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The device ranges, in address order: device k is index k.
    pub devices: Vec<DeviceRange>,
}

impl Plan {
    /// The device holding pfns `[pfn, pfn + pages)` whole, and the page
    /// offset of `pfn` in it.
    pub fn locate(&self, pfn: u64, pages: u64) -> Option<(usize, u64)> {
        let start = pfn.checked_mul(PAGE_SIZE)?;
        let end = pfn.checked_add(pages)?.checked_mul(PAGE_SIZE)?;
        self.devices
            .iter()
            .position(|d| d.start <= start && end <= d.end)
            .map(|k| (k, (start - self.devices[k].start) >> PAGE_SHIFT))
    }
}

/// A trace (or one of its ops) a real kernel cannot replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refusal {
    /// The trace file.
    pub path: PathBuf,
    /// The 1-based line, when one line is to blame.
    pub line: Option<usize>,
    /// Why.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Why `op` has no system call (`None`: it has one, possibly together
/// with its neighbour).
fn inexpressible(op: &Op) -> Option<&'static str> {
    Some(match op {
        Op::Fault { .. } => {
            "vmf_insert_pfn() faults come from a driver's fault handler; \
             no BAR file mapping takes them"
        }
        Op::Lookup { .. } => "no system call asks which range a VMA tracks",
        Op::Ioremap { .. } | Op::Iounmap { .. } => {
            "ioremap()/iounmap() are driver calls, not system calls \
             (the guest's BARs have no driver)"
        }
        _ => return None,
    })
}

/// Check that every op of `trace` (read from `path`, whose text is `text`)
/// can be replayed with system calls, and find its device ranges.
/// Errors: the first refused op, with its line.
pub fn plan(trace: &Trace, path: &Path, text: &str) -> Result<Plan, Refusal> {
    let refuse = |line: Option<usize>, message: String| Refusal {
        path: path.to_path_buf(),
        line,
        message,
    };
    if !trace.header.pat_enabled {
        let line = text
            .lines()
            .position(|l| l.split('#').next().unwrap_or("").trim() == "pat off")
            .map(|i| i + 1);
        return Err(refuse(
            line,
            "`pat off`: the guest kernels run with PAT on".to_string(),
        ));
    }
    let mut devices: Vec<DeviceRange> = trace
        .header
        .phys
        .regions
        .iter()
        .filter(|r| r.kind == RegionKind::Mmio)
        .map(|r| DeviceRange {
            start: r.start,
            end: r.end,
            wc: false,
        })
        .collect();
    devices.sort_by_key(|d| d.start);
    if let Some(op) = trace.workload.setup.first() {
        let why = inexpressible(op).unwrap_or("only ioremap may appear in setup");
        return Err(refuse(
            trace.lines.line(None, 0),
            format!("{op}: {why}; a replayable trace has an empty setup section"),
        ));
    }
    let mut plan = Plan { devices };
    for (w, ops) in trace.workload.workers.iter().enumerate() {
        let line = |i: usize| trace.lines.line(Some(w), i);
        // A pfnmap mmap waiting for its whole-VMA remap: (index, vma, pages).
        let mut pending: Option<(usize, VmaId, u32)> = None;
        for (i, op) in ops.iter().enumerate() {
            if let Some((mi, vma, pages)) = pending.take() {
                let whole = matches!(*op, Op::Remap { vma: v, off: 0, pages: p, .. }
                    if v == vma && p == pages);
                if !whole {
                    return Err(refuse(
                        line(mi),
                        format!(
                            "{}: a pfnmap VMA is mapped by mmap() of a BAR's resource file, \
                             which remaps the whole VMA at once: the next op must be \
                             `remap {vma} 0 {pages} PFN MODE`",
                            ops[mi]
                        ),
                    ));
                }
            }
            if let Some(why) = inexpressible(op) {
                return Err(refuse(line(i), format!("{op}: {why}")));
            }
            match *op {
                Op::Mmap {
                    vma,
                    pages,
                    pfnmap: true,
                    ..
                } => pending = Some((i, vma, pages)),
                Op::Remap {
                    vma,
                    pfn,
                    pages,
                    mode,
                    ..
                } => {
                    // The pending check above let only the whole-VMA remap
                    // right after its pfnmap mmap through.
                    let follows_mmap = i > 0
                        && matches!(ops[i - 1], Op::Mmap { vma: v, pfnmap: true, .. } if v == vma);
                    if !follows_mmap {
                        return Err(refuse(
                            line(i),
                            format!(
                                "{op}: only the remap of a whole VMA right after its mmap has a \
                                 system call (mmap of a BAR file); no system call remaps part \
                                 of a VMA or remaps it again"
                            ),
                        ));
                    }
                    if mode != CacheMode::UC_MINUS && mode != CacheMode::WC {
                        return Err(refuse(
                            line(i),
                            format!(
                                "{op}: a BAR file maps UC- (resourceN) or WC (resourceN_wc), \
                                 never {mode}"
                            ),
                        ));
                    }
                    let Some((k, _)) = plan.locate(pfn, u64::from(pages)) else {
                        return Err(refuse(
                            line(i),
                            format!(
                                "{op}: pfns {pfn:#x}+{pages} are not inside one device range \
                                 (a `phys mmio` region of the trace)"
                            ),
                        ));
                    };
                    plan.devices[k].wc |= mode == CacheMode::WC;
                }
                _ => {}
            }
        }
        if let Some((mi, vma, pages)) = pending {
            return Err(refuse(
                line(mi),
                format!(
                    "{}: the stream ends before the whole-VMA `remap {vma} 0 {pages} ...` \
                     that mmap of a BAR file implies",
                    ops[mi]
                ),
            ));
        }
    }
    if plan.devices.len() > MAX_DEVICES {
        return Err(refuse(
            None,
            format!(
                "{} `phys mmio` regions: kernel-check gives each a PCI device, at most {MAX_DEVICES}",
                plan.devices.len()
            ),
        ));
    }
    if let Some(d) = plan.devices.iter().find(|d| d.bytes() > MAX_DEVICE_BYTES) {
        return Err(refuse(
            None,
            format!(
                "`phys mmio` region [{:#x}, {:#x}) is larger than {} MiB, the largest guest BAR \
                 kernel-check provides",
                d.start,
                d.end,
                MAX_DEVICE_BYTES >> 20
            ),
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::parse_trace;

    const HEAD: &str = "pfntrack-trace v1\n\
        pat on\n\
        phys ram 0x100000 0x20000000 wrback\n\
        phys mmio 0xfe900000 0xfea00000 uncachable\n\
        phys mmio 0xfeb00000 0xfec00000 uncachable\n\
        setup\n\
        worker 0\n\
        proc 1\n";

    fn try_plan(body: &str) -> Result<Plan, Refusal> {
        let text = format!("{HEAD}{body}end\n");
        let t = parse_trace(text.as_bytes(), Path::new("k.trace")).unwrap();
        plan(&t, Path::new("k.trace"), &text)
    }

    fn refused(body: &str) -> (usize, String) {
        let r = try_plan(body).unwrap_err();
        (r.line.unwrap(), r.to_string())
    }

    #[test]
    fn expressible_trace_has_devices() {
        let p = try_plan(
            "mmap 1 0 16 pfnmap\nremap 0 0 16 0xfe910 UC-\n\
             mmap 1 1 4 pfnmap\nremap 1 0 4 0xfeb00 WC\n\
             mmap 1 2 8 normal\nfork 1 2 10\nsplit 0 4 20\nmunmap 20 2 2 21\n\
             mremap 1 move\nmremap 0 shrink 2\nmremap 1 grow 9\nexit 2\nexit 1\n",
        )
        .unwrap();
        assert_eq!(p.devices.len(), 2);
        assert!(!p.devices[0].wc && p.devices[1].wc);
        assert_eq!(p.locate(0xfe910, 16), Some((0, 0x10)));
        assert_eq!(p.locate(0xfe9ff, 2), None);
    }

    #[test]
    fn refusals_name_the_line() {
        let (l, m) = refused("mmap 1 0 16 pfnmap\nremap 0 0 8 0xfe910 UC-\n");
        assert_eq!(l, 9);
        assert!(m.starts_with("k.trace:9: mmap 1 0 16 pfnmap"), "{m}");
        let (l, m) =
            refused("mmap 1 0 16 pfnmap\nremap 0 0 16 0xfe910 UC-\nremap 0 2 2 0xfe910 UC-\n");
        assert_eq!(l, 11);
        assert!(m.contains("remaps part"), "{m}");
        let (l, m) = refused("mmap 1 0 16 pfnmap\nremap 0 0 16 0xfe910 UC-\nfault 0 1 0xfe911\n");
        assert_eq!(l, 11);
        assert!(m.contains("vmf_insert_pfn"), "{m}");
        let (l, m) = refused("mmap 1 0 16 pfnmap\nremap 0 0 16 0xfe910 WB\n");
        assert_eq!(l, 10);
        assert!(m.contains("never WB"), "{m}");
        let (l, m) = refused("mmap 1 0 16 pfnmap\nremap 0 0 16 0xfe9f8 UC-\n");
        assert_eq!(l, 10);
        assert!(m.contains("not inside one device range"), "{m}");
        let (l, m) = refused("mmap 1 0 2 normal\nlookup 0\n");
        assert_eq!(l, 10);
        assert!(m.contains("no system call"), "{m}");
        let (l, _) = refused("mmap 1 0 2 pfnmap\n");
        assert_eq!(l, 9);
    }

    #[test]
    fn setup_and_pat_off_are_refused() {
        let text = HEAD.replace("setup\n", "setup\nioremap 0 0xfe900 1 UC-\n") + "end\n";
        let t = parse_trace(text.as_bytes(), Path::new("s.trace")).unwrap();
        let r = plan(&t, Path::new("s.trace"), &text).unwrap_err();
        assert_eq!(r.line, Some(7));
        assert!(r.message.contains("ioremap"), "{r}");
        let text = HEAD.replace("pat on", "pat off") + "end\n";
        let t = parse_trace(text.as_bytes(), Path::new("p.trace")).unwrap();
        let r = plan(&t, Path::new("p.trace"), &text).unwrap_err();
        assert_eq!(r.line, Some(2));
    }
}
