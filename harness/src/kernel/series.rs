//! Kernel series (`6.1`, `6.12`, `7.3`, ...) and the two families of pfnmap
//! tracking they belong to, told apart by version and confirmed by
//! behaviour in the guest (never by pinning point releases).
//!
//! - [`Family::VmPat`]: the `VM_PAT` flag, up to v6.15. `remap_pfn_range()`
//!   of a whole VMA reserves and sets `VM_PAT` (`track_pfn_remap()`), fork
//!   reserves the range again for the child (`track_pfn_copy()`), and every
//!   unmap of a `VM_PAT` VMA frees the range it re-derives from its page
//!   tables (`untrack_pfn()`, arch/x86/mm/pat/memtype.c), with the
//!   end-match trim of `memtype_erase()` (memtype_interval.c) for mremap.
//! - [`Family::PfnmapTrackCtx`]: v6.16 on, "mm: rewrite pfnmap tracking and
//!   remove VM_PAT": a kref'd `pfnmap_track_ctx` shared by every VMA
//!   duplicated from the remapped one, untracked on the last put
//!   (mm/memory.c, mm/vma_init.c).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::model::ModelChoice;

/// A kernel series: `MAJOR.MINOR`, as `scripts/kernel-vm.sh` and
/// `--kernel` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Series {
    /// `VERSION` of the kernel Makefile.
    pub major: u32,
    /// `PATCHLEVEL`.
    pub minor: u32,
}

/// The first series of the `pfnmap_track_ctx` family.
pub const FIRST_CTX_SERIES: Series = Series {
    major: 6,
    minor: 16,
};

/// `--kernel` named no `MAJOR.MINOR` series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel series `{0}` is not MAJOR.MINOR (e.g. 6.1, 6.12, 6.16, 7.3)")]
pub struct BadSeries(pub String);

impl FromStr for Series {
    type Err = BadSeries;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadSeries(s.to_string());
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        let num = |t: &str| {
            if t.is_empty() || t.len() > 4 || !t.bytes().all(|b| b.is_ascii_digit()) {
                Err(bad())
            } else {
                t.parse::<u32>().map_err(|_| bad())
            }
        };
        Ok(Series {
            major: num(major)?,
            minor: num(minor)?,
        })
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Series {
    /// The series of a kernel release string as `uname -r` prints it
    /// (`6.1.0-57-cloud-amd64`, `6.12.117+deb12-cloud-amd64`,
    /// `7.3.4+deb13-cloud-amd64`): its first two numbers.
    pub fn of_release(release: &str) -> Option<Series> {
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Series { major, minor })
    }

    /// The family this series belongs to by version.
    pub fn family(self) -> Family {
        if self < FIRST_CTX_SERIES {
            Family::VmPat
        } else {
            Family::PfnmapTrackCtx
        }
    }
}

/// How a kernel tracks whole-VMA pfn remaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// `VM_PAT` (v6.15 and before).
    #[serde(rename = "vm-pat")]
    VmPat,
    /// `vma->pfnmap_track_ctx` (v6.16 on).
    #[serde(rename = "pfnmap-track-ctx")]
    PfnmapTrackCtx,
}

impl Family {
    /// The short name printed in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Family::VmPat => "VM_PAT",
            Family::PfnmapTrackCtx => "pfnmap_track_ctx",
        }
    }

    /// The model `kernel-check` compares a kernel of this family with when
    /// `--model` is not given: `legacy` (the v6.15 `VM_PAT` code) for
    /// `VM_PAT` kernels, `per-vma` (the v6.16 rewrite) for the ctx family.
    pub const fn default_model(self) -> ModelChoice {
        match self {
            Family::VmPat => ModelChoice::Design(strategies::Strategy::Legacy),
            Family::PfnmapTrackCtx => ModelChoice::Design(strategies::Strategy::PerVma),
        }
    }

    /// The family a fork probe shows: a fork of a process holding one
    /// whole-VMA remap leaves `entries` memtype entries for its range.
    /// `VM_PAT` reserves again for the child (2), the ctx family shares
    /// the one reservation (1). Anything else is neither.
    pub fn from_fork_probe(entries: usize) -> Option<Family> {
        match entries {
            2 => Some(Family::VmPat),
            1 => Some(Family::PfnmapTrackCtx),
            _ => None,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_parse_and_order() {
        let s: Series = "6.12".parse().unwrap();
        assert_eq!((s.major, s.minor), (6, 12));
        assert_eq!(s.to_string(), "6.12");
        for bad in ["6", "6.", ".1", "6.1.2", "v6.1", "6.x", "", "99999.1"] {
            assert!(bad.parse::<Series>().is_err(), "{bad}");
        }
        let v = |t: &str| t.parse::<Series>().unwrap();
        assert!(v("6.1") < v("6.12") && v("6.12") < v("6.16") && v("6.16") < v("7.0"));
    }

    #[test]
    fn families_by_version() {
        let fam = |t: &str| t.parse::<Series>().unwrap().family();
        assert_eq!(fam("6.1"), Family::VmPat);
        assert_eq!(fam("6.12"), Family::VmPat);
        assert_eq!(fam("6.15"), Family::VmPat);
        assert_eq!(fam("6.16"), Family::PfnmapTrackCtx);
        assert_eq!(fam("7.3"), Family::PfnmapTrackCtx);
        assert_eq!(
            Family::VmPat.default_model(),
            ModelChoice::Design(strategies::Strategy::Legacy)
        );
        assert_eq!(
            Family::PfnmapTrackCtx.default_model(),
            ModelChoice::Design(strategies::Strategy::PerVma)
        );
    }

    #[test]
    fn release_strings() {
        let of = Series::of_release;
        assert_eq!(
            of("6.1.0-57-cloud-amd64"),
            Some(Series { major: 6, minor: 1 })
        );
        assert_eq!(
            of("6.12.117+deb12-cloud-amd64"),
            Some(Series {
                major: 6,
                minor: 12
            })
        );
        assert_eq!(
            of("7.3.4+deb13-cloud-amd64"),
            Some(Series { major: 7, minor: 3 })
        );
        assert_eq!(of("linux"), None);
    }

    #[test]
    fn fork_probe() {
        assert_eq!(Family::from_fork_probe(2), Some(Family::VmPat));
        assert_eq!(Family::from_fork_probe(1), Some(Family::PfnmapTrackCtx));
        assert_eq!(Family::from_fork_probe(0), None);
        assert_eq!(Family::from_fork_probe(3), None);
    }
}
