//! x86 page cache modes and the PAT compatibility rule
//! (arch/x86/include/asm/pgtable_types.h, arch/x86/include/asm/pgtable.h).

use std::fmt;
use std::str::FromStr;

/// `enum page_cache_mode`: the memory type a mapping asks for or gets.
///
/// `UC` and `UC_MINUS` are different types: `UC-` can be overridden by an
/// MTRR, `UC` cannot. The discriminants follow the kernel's enum.
#[allow(non_camel_case_types)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum CacheMode {
    /// `_PAGE_CACHE_MODE_WB`: write-back, the default.
    WB = 0,
    /// `_PAGE_CACHE_MODE_WC`: write-combining.
    WC = 1,
    /// `_PAGE_CACHE_MODE_UC_MINUS`: uncached, MTRR may override.
    UC_MINUS = 2,
    /// `_PAGE_CACHE_MODE_UC`: strongly uncached.
    UC = 3,
    /// `_PAGE_CACHE_MODE_WT`: write-through.
    WT = 4,
    /// `_PAGE_CACHE_MODE_WP`: write-protected.
    WP = 5,
}

impl CacheMode {
    /// Every cache mode, in the kernel's enum order.
    pub const ALL: [CacheMode; 6] = [
        CacheMode::WB,
        CacheMode::WC,
        CacheMode::UC_MINUS,
        CacheMode::UC,
        CacheMode::WT,
        CacheMode::WP,
    ];

    /// The kernel's spelling of this type as a value: what follows
    /// `_PAGE_CACHE_MODE_` (with `UC-` for `UC_MINUS`, as the x86 PAT
    /// documentation writes it). Traces, scenario files and pfntrack's
    /// reports use it. The kernel's own messages and debugfs's
    /// `pat_memtype_list` print [`CacheMode::cattr_name`] instead.
    pub const fn name(self) -> &'static str {
        match self {
            CacheMode::WB => "WB",
            CacheMode::WC => "WC",
            CacheMode::UC_MINUS => "UC-",
            CacheMode::UC => "UC",
            CacheMode::WT => "WT",
            CacheMode::WP => "WP",
        }
    }
}

impl CacheMode {
    /// The name `cattr_name()` prints (arch/x86/mm/pat/memtype.h:18 in
    /// 6.12.117; the same in 6.1.192 and 7.3.4): in `pat_memtype_list`,
    /// and in the conflict and "freeing invalid memtype" messages around it.
    pub const fn cattr_name(self) -> &'static str {
        match self {
            CacheMode::UC => "uncached",
            CacheMode::UC_MINUS => "uncached-minus",
            CacheMode::WB => "write-back",
            CacheMode::WC => "write-combining",
            CacheMode::WT => "write-through",
            CacheMode::WP => "write-protected",
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text was not one of `WB WC UC- UC WT WP`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cache mode `{0}` (expected one of WB, WC, UC-, UC, WT, WP)")]
pub struct UnknownCacheMode(pub String);

impl FromStr for CacheMode {
    type Err = UnknownCacheMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "WB" | "wb" => Ok(CacheMode::WB),
            "WC" | "wc" => Ok(CacheMode::WC),
            "UC-" | "uc-" | "UC_MINUS" | "uc_minus" => Ok(CacheMode::UC_MINUS),
            "UC" | "uc" => Ok(CacheMode::UC),
            "WT" | "wt" => Ok(CacheMode::WT),
            "WP" | "wp" => Ok(CacheMode::WP),
            _ => Err(UnknownCacheMode(s.to_string())),
        }
    }
}

/// `is_new_memtype_allowed()` (arch/x86/include/asm/pgtable.h): may a mapping
/// that asked for `want` silently take the already-reserved type `got`?
///
/// Refused exactly when the caller would get a *more cached* type than it
/// asked for: UC-/WC/WT turned into WB, or WT turned into WC. The kernel's
/// first check (the untracked ISA range always allows) is the caller's job,
/// see [`crate::memtype::Pat::reserve_pfn_range`].
pub const fn is_new_memtype_allowed(want: CacheMode, got: CacheMode) -> bool {
    !matches!(
        (want, got),
        (CacheMode::UC_MINUS, CacheMode::WB)
            | (CacheMode::WC, CacheMode::WB)
            | (CacheMode::WT, CacheMode::WB)
            | (CacheMode::WT, CacheMode::WC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cm in CacheMode::ALL {
            assert_eq!(cm.name().parse::<CacheMode>(), Ok(cm));
        }
        assert!("XX".parse::<CacheMode>().is_err());
    }

    #[test]
    fn forbidden_pairs_are_exactly_the_kernel_four() {
        let forbidden: std::collections::BTreeSet<_> = CacheMode::ALL
            .into_iter()
            .flat_map(|want| CacheMode::ALL.into_iter().map(move |got| (want, got)))
            .filter(|&(want, got)| !is_new_memtype_allowed(want, got))
            .collect();
        let kernel: std::collections::BTreeSet<_> = [
            (CacheMode::UC_MINUS, CacheMode::WB),
            (CacheMode::WC, CacheMode::WB),
            (CacheMode::WT, CacheMode::WB),
            (CacheMode::WT, CacheMode::WC),
        ]
        .into_iter()
        .collect();
        assert_eq!(forbidden, kernel);
    }
}
