//! The design registry: one enum variant per design, chosen once (outside
//! any timed loop) and turned into a concrete type with [`with_tracker!`].
//!
//! Adding a design is one variant here, one arm in `with_tracker!`, and one
//! line in the conformance suite.

use std::fmt;
use std::str::FromStr;

/// A tracking design pfntrack can run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Strategy {
    /// `vma->pfnmap_track_ctx` with a kref: the merged design (v6.16).
    #[serde(rename = "per-vma")]
    PerVma,
    /// A global XArray from VMA pointer to the same ctx.
    #[serde(rename = "xarray")]
    Xarray,
    /// The memtype tree itself refcounts entries and indexes VMAs.
    #[serde(rename = "memtype-ext")]
    MemtypeExt,
    /// The design the rewrite replaced: VM_PAT (v6.15), bugs and all.
    #[serde(rename = "legacy")]
    Legacy,
    /// Does nothing: measures the harness's own cost per hook.
    #[serde(rename = "null")]
    Null,
    /// Slow, obviously correct oracle for tests; never benchmarked.
    #[serde(rename = "reference")]
    Reference,
    /// The same for `legacy` (v6.15 semantics); never benchmarked.
    #[serde(rename = "legacy-reference")]
    LegacyReference,
}

impl Strategy {
    /// Every strategy, designs first.
    pub const ALL: [Strategy; 7] = [
        Strategy::PerVma,
        Strategy::Xarray,
        Strategy::MemtypeExt,
        Strategy::Legacy,
        Strategy::Null,
        Strategy::Reference,
        Strategy::LegacyReference,
    ];

    /// The designs measured and checked by default: the three proposals,
    /// baseline (`per-vma`) first, and the design they replace.
    pub const DESIGNS: [Strategy; 4] = [
        Strategy::PerVma,
        Strategy::Xarray,
        Strategy::MemtypeExt,
        Strategy::Legacy,
    ];

    /// The oracle a design is checked against: the reference model of its
    /// kernel generation. `None` for the null design and the oracles.
    pub const fn oracle(self) -> Option<Strategy> {
        match self {
            Strategy::PerVma | Strategy::Xarray | Strategy::MemtypeExt => Some(Strategy::Reference),
            Strategy::Legacy => Some(Strategy::LegacyReference),
            Strategy::Null | Strategy::Reference | Strategy::LegacyReference => None,
        }
    }

    /// Whether this is a test oracle (never benchmarked).
    pub const fn is_oracle(self) -> bool {
        matches!(self, Strategy::Reference | Strategy::LegacyReference)
    }

    /// The command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::PerVma => "per-vma",
            Strategy::Xarray => "xarray",
            Strategy::MemtypeExt => "memtype-ext",
            Strategy::Legacy => "legacy",
            Strategy::Null => "null",
            Strategy::Reference => "reference",
            Strategy::LegacyReference => "legacy-reference",
        }
    }

    /// One line for `pfntrack list`.
    pub const fn summary(self) -> &'static str {
        match self {
            Strategy::PerVma => {
                "pointer in every vm_area_struct to a kref'd {pfn, size} ctx (merged, v6.16)"
            }
            Strategy::Xarray => "no VMA field; global XArray maps VMA pointer -> the same ctx",
            Strategy::MemtypeExt => {
                "no VMA field; memtype entries refcounted + VMA-keyed rbtree under memtype_lock"
            }
            Strategy::Legacy => {
                "VM_PAT as up to v6.15: fork re-reserves, unmap re-derives the range (replaced)"
            }
            Strategy::Null => "does nothing: the harness's own cost per hook",
            Strategy::Reference => "slow, obviously correct oracle used by `check` and tests",
            Strategy::LegacyReference => {
                "the same oracle with v6.15 (VM_PAT) semantics, for legacy"
            }
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a known strategy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown design `{0}` (expected one of: per-vma, xarray, memtype-ext, legacy, null, reference, \
     legacy-reference)"
)]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| UnknownStrategy(s.to_string()))
    }
}

/// Run `$body` with `$T` bound to the concrete design type for `$strategy`:
/// generics, not `dyn`, in whatever `$body` times.
///
/// ```
/// use strategies::{Strategy, tracker::PfnmapTracking, with_tracker};
/// let name = with_tracker!(Strategy::Xarray, T => <T as PfnmapTracking>::STRATEGY.name());
/// assert_eq!(name, "xarray");
/// ```
#[macro_export]
macro_rules! with_tracker {
    ($strategy:expr, $T:ident => $body:expr) => {
        match $strategy {
            $crate::Strategy::PerVma => {
                type $T = $crate::designs::per_vma::PerVma;
                $body
            }
            $crate::Strategy::Xarray => {
                type $T = $crate::designs::xarray::XarrayTracker;
                $body
            }
            $crate::Strategy::MemtypeExt => {
                type $T = $crate::designs::memtype_ext::MemtypeExt;
                $body
            }
            $crate::Strategy::Legacy => {
                type $T = $crate::designs::legacy::Legacy;
                $body
            }
            $crate::Strategy::Null => {
                type $T = $crate::designs::null::NullTracker;
                $body
            }
            $crate::Strategy::Reference => {
                type $T = $crate::designs::reference::Reference;
                $body
            }
            $crate::Strategy::LegacyReference => {
                type $T = $crate::designs::reference::LegacyReference;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(s.name().parse::<Strategy>(), Ok(s));
            assert_eq!(s.to_string(), s.name());
        }
        assert!("pervma".parse::<Strategy>().is_err());
    }
}
