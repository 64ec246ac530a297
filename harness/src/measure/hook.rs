//! The tracking hooks pfntrack times, one latency histogram each. They are
//! the kernel's own call sites, split where the cost differs in kind: a dup
//! or free of an ordinary VMA is a flag or pointer test in every design,
//! while a pfnmap VMA's reaches the design's state, so they are timed apart.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A timed hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// Whole-VMA `remap_pfn_range()`: reserve + remember + map.
    Track,
    /// `vm_area_free()` that dropped the last reference and erased the
    /// reservation from the memtype tree.
    Untrack,
    /// `vm_area_dup()` of a pfnmap VMA (fork, split, mremap).
    Dup,
    /// `vm_area_free()` of a pfnmap VMA that did not untrack.
    Free,
    /// `vm_area_dup()` of an ordinary VMA.
    DupPlain,
    /// `vm_area_free()` of an ordinary VMA.
    FreePlain,
    /// Partial `remap_pfn_range()`: `pfnmap_setup_cachemode()` over the range.
    SetupCachemode,
    /// `vmf_insert_pfn()` fault: one page's cache-mode lookup.
    Fault,
    /// Which range does this VMA hold?
    Lookup,
    /// A driver's `memtype_reserve_io()`.
    Ioremap,
    /// A driver's `memtype_free_io()`.
    Iounmap,
}

impl Hook {
    /// Every hook, in report order.
    pub const ALL: [Hook; 11] = [
        Hook::Track,
        Hook::Untrack,
        Hook::Dup,
        Hook::Free,
        Hook::DupPlain,
        Hook::FreePlain,
        Hook::SetupCachemode,
        Hook::Fault,
        Hook::Lookup,
        Hook::Ioremap,
        Hook::Iounmap,
    ];

    /// Number of hooks (array sizes).
    pub const COUNT: usize = Hook::ALL.len();

    /// Position in [`Hook::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name used in results and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Hook::Track => "track",
            Hook::Untrack => "untrack",
            Hook::Dup => "dup",
            Hook::Free => "free",
            Hook::DupPlain => "dup_plain",
            Hook::FreePlain => "free_plain",
            Hook::SetupCachemode => "setup_cachemode",
            Hook::Fault => "fault",
            Hook::Lookup => "lookup",
            Hook::Ioremap => "ioremap",
            Hook::Iounmap => "iounmap",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a hook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hook `{0}`")]
pub struct UnknownHook(pub String);

impl FromStr for Hook {
    type Err = UnknownHook;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hook::ALL
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| UnknownHook(s.to_string()))
    }
}
