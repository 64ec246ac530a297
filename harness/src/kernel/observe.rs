//! Reading what a real kernel shows: debugfs `x86/pat_memtype_list`
//! (`memtype_seq_show()`, arch/x86/mm/pat/memtype.c), its `x86/PAT:` log
//! lines, `/proc/iomem` and a PCI device's sysfs `resource` file. Pure
//! text parsing, shared by the guest player and the host's checks.

use strategies::CacheMode;
use strategies::memtype::MemtypeEntry;
use strategies::memtype_log::InvalidFree;
use strategies::phys::PAGE_SIZE;

/// The file the guest reads after every op.
pub const PAT_MEMTYPE_LIST: &str = "/sys/kernel/debug/x86/pat_memtype_list";

/// The cache mode `cattr_name()` printed as `name`.
pub fn from_cattr_name(name: &str) -> Option<CacheMode> {
    CacheMode::ALL
        .into_iter()
        .find(|cm| cm.cattr_name() == name)
}

/// An entry the way the kernel prints it:
/// `PAT: [mem 0x%016Lx-0x%016Lx] %s` with the exclusive end.
pub fn format_entry(e: &MemtypeEntry) -> String {
    format!(
        "PAT: [mem 0x{:016x}-0x{:016x}] {}",
        e.start,
        e.end,
        e.ty.cattr_name()
    )
}

/// One line of `pat_memtype_list` (`None` for its title line or anything
/// else that is not an entry).
pub fn parse_memtype_line(line: &str) -> Option<MemtypeEntry> {
    let rest = line.trim().strip_prefix("PAT: [mem ")?;
    let (range, ty) = rest.split_once("] ")?;
    let (start, end) = range.split_once('-')?;
    Some(MemtypeEntry {
        start: hex(start)?,
        end: hex(end)?,
        ty: from_cattr_name(ty.trim())?,
    })
}

/// Every entry of a `pat_memtype_list` text.
pub fn parse_memtype_list(text: &str) -> Vec<MemtypeEntry> {
    text.lines().filter_map(parse_memtype_line).collect()
}

fn hex(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(digits, 16).ok()
}

/// Does `[start, end)` overlap any of `ranges`?
pub fn overlaps_any(start: u64, end: u64, ranges: &[(u64, u64)]) -> bool {
    ranges.iter().any(|&(s, e)| start < e && s < end)
}

/// The entries overlapping `ranges` (the BARs), sorted: what is compared.
pub fn entries_overlapping(entries: &[MemtypeEntry], ranges: &[(u64, u64)]) -> Vec<MemtypeEntry> {
    let mut v: Vec<_> = entries
        .iter()
        .filter(|e| overlaps_any(e.start, e.end, ranges))
        .copied()
        .collect();
    v.sort_unstable();
    v
}

/// A kernel log line from PAT: `x86/PAT: COMM:PID freeing invalid memtype
/// [mem 0x...-0x...]` (`memtype_free()`), with the inclusive end the
/// kernel prints turned back into an exclusive one.
pub fn parse_invalid_free(line: &str) -> Option<InvalidFree> {
    let at = line.find("freeing invalid memtype [mem ")?;
    let rest = &line[at + "freeing invalid memtype [mem ".len()..];
    let (range, _) = rest.split_once(']')?;
    let (start, last) = range.split_once('-')?;
    Some(InvalidFree {
        start: hex(start)?,
        end: hex(last)?.checked_add(1)?,
    })
}

/// Is this kernel log text one of PAT's (`x86/PAT: ...`)?
pub fn is_pat_log(line: &str) -> bool {
    line.contains("x86/PAT:")
}

/// The text of one `/dev/kmsg` record (`PRIO,SEQ,TS,FLAGS;TEXT\n` and
/// optional ` KEY=VALUE` continuation lines): `TEXT`.
pub fn kmsg_text(record: &str) -> &str {
    let text = record.split_once(';').map_or(record, |(_, t)| t);
    text.split('\n').next().unwrap_or("")
}

/// The top-level `System RAM` ranges of `/proc/iomem` as page-aligned
/// half-open `[start, end)` (inner pages only).
pub fn parse_iomem_ram(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let (range, name) = l.split_once(" : ")?;
            if name.trim() != "System RAM" {
                return None;
            }
            let (s, e) = range.split_once('-')?;
            let start = hex(s)?.next_multiple_of(PAGE_SIZE);
            let end = (hex(e)? + 1) / PAGE_SIZE * PAGE_SIZE;
            (start < end).then_some((start, end))
        })
        .collect()
}

/// `IORESOURCE_MEM` (include/linux/ioport.h).
pub const IORESOURCE_MEM: u64 = 0x0000_0200;
/// `IORESOURCE_PREFETCH`.
pub const IORESOURCE_PREFETCH: u64 = 0x0000_2000;

/// Line `bar` of a PCI device's sysfs `resource` file (`START END FLAGS`,
/// inclusive end): `(start, exclusive end, flags)`.
pub fn parse_resource_line(text: &str, bar: usize) -> Option<(u64, u64, u64)> {
    let line = text.lines().nth(bar)?;
    let mut w = line.split_ascii_whitespace();
    let start = hex(w.next()?)?;
    let last = hex(w.next()?)?;
    let flags = hex(w.next()?)?;
    if start == 0 && last == 0 {
        return None;
    }
    Some((start, last.checked_add(1)?, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtype_lines_round_trip() {
        let text = "PAT memtype list:\n\
            PAT: [mem 0x000000001ffe0000-0x000000001ffe3000] write-back\n\
            PAT: [mem 0x00000000fe900000-0x00000000fea00000] uncached-minus\n\
            PAT: [mem 0x00000000feb00000-0x00000000feb01000] write-combining\n";
        let v = parse_memtype_list(text);
        assert_eq!(v.len(), 3);
        assert_eq!(
            v[1],
            MemtypeEntry {
                start: 0xfe90_0000,
                end: 0xfea0_0000,
                ty: CacheMode::UC_MINUS
            }
        );
        for e in &v {
            assert_eq!(parse_memtype_line(&format_entry(e)), Some(*e));
        }
        for cm in CacheMode::ALL {
            assert_eq!(from_cattr_name(cm.cattr_name()), Some(cm));
        }
        assert_eq!(parse_memtype_line("PAT: [mem 0x1-0x2] broken"), None);
        let bars = [(0xfe90_0000, 0xfea0_0000)];
        assert_eq!(entries_overlapping(&v, &bars), vec![v[1]]);
    }

    #[test]
    fn invalid_free_lines() {
        let line = "x86/PAT: pfntrack:57 freeing invalid memtype [mem 0xfe900000-0xfe900fff]";
        assert!(is_pat_log(line));
        assert_eq!(
            parse_invalid_free(line),
            Some(InvalidFree {
                start: 0xfe90_0000,
                end: 0xfe90_1000
            })
        );
        // The model's message prints the same range.
        let f = parse_invalid_free(line).unwrap();
        assert!(line.ends_with(&f.to_string()));
        assert_eq!(
            parse_invalid_free("x86/PAT: conflicting memory types"),
            None
        );
        assert_eq!(
            kmsg_text("6,1234,5678,-;x86/PAT: a:1 b\n SUBSYSTEM=x\n"),
            "x86/PAT: a:1 b"
        );
    }

    #[test]
    fn iomem_and_resource() {
        let iomem = "00000000-00000fff : Reserved\n\
            00001000-0009fbff : System RAM\n\
            00100000-1ffdffff : System RAM\n  08e00000-09f6f05f : Kernel code\n\
            20000000-febfffff : PCI Bus 0000:00\n  fe900000-fe9fffff : 0000:00:04.0\n";
        assert_eq!(
            parse_iomem_ram(iomem),
            vec![(0x1000, 0x9f000), (0x10_0000, 0x1ffe_0000)]
        );
        let res = "0x00000000fea00000 0x00000000fea000ff 0x0000000000040200\n\
            0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
            0x00000000feb00000 0x00000000febfffff 0x000000000014220c\n";
        assert_eq!(parse_resource_line(res, 1), None);
        let (s, e, f) = parse_resource_line(res, 2).unwrap();
        assert_eq!((s, e), (0xfeb0_0000, 0xfec0_0000));
        assert!(f & IORESOURCE_PREFETCH != 0 && f & IORESOURCE_MEM != 0);
        assert_eq!(parse_resource_line(res, 7), None);
    }
}
