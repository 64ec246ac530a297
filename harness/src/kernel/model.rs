//! Which model `kernel-check` runs beside a real kernel: one of the
//! designs (`--model per-vma`, ...), or a model broken on purpose
//! (`--model mutant:...`) to show that the comparison catches a wrong
//! model at the right op.

use std::fmt;
use std::str::FromStr;

use strategies::Strategy;

/// A model `kernel-check` can compare with a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelChoice {
    /// A design of the strategies crate.
    Design(Strategy),
    /// A deliberately wrong model (see [`Mutant`]).
    Mutant(Mutant),
}

/// Models broken on purpose: each must diverge from the kernel it
/// pretends to model, at the op where its bug first matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// `per-vma` whose first `kref_put()` of a ctx untracks (the later
    /// ones, including the last, do not): the reservation disappears while
    /// VMAs still map the range.
    PerVmaUntrackFirstPut,
    /// `legacy` whose `memtype_erase()` lacks v6.15's end match: an
    /// untrack of a shrunk or split-off tail logs "freeing invalid memtype"
    /// and leaves the entry whole, where the kernel trims it.
    LegacyNoEndMatch,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: [Mutant; 2] = [Mutant::PerVmaUntrackFirstPut, Mutant::LegacyNoEndMatch];

    /// The name after `mutant:`.
    pub const fn name(self) -> &'static str {
        match self {
            Mutant::PerVmaUntrackFirstPut => "per-vma-untrack-first-put",
            Mutant::LegacyNoEndMatch => "legacy-no-end-match",
        }
    }

    /// What is wrong with it.
    pub const fn summary(self) -> &'static str {
        match self {
            Mutant::PerVmaUntrackFirstPut => {
                "per-vma, but the first put of a shared ctx untracks instead of the last"
            }
            Mutant::LegacyNoEndMatch => {
                "legacy, but memtype_erase() without the end match (exact match only)"
            }
        }
    }
}

/// `--model` named nothing known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown model `{0}` (expected a design: per-vma, xarray, memtype-ext, legacy, reference, \
     legacy-reference, null; \
     or mutant:{mutants})",
    mutants = Mutant::ALL.map(Mutant::name).join(", mutant:")
)]
pub struct UnknownModel(pub String);

impl FromStr for ModelChoice {
    type Err = UnknownModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = s.strip_prefix("mutant:") {
            return Mutant::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .map(ModelChoice::Mutant)
                .ok_or_else(|| UnknownModel(s.to_string()));
        }
        s.parse::<Strategy>()
            .map(ModelChoice::Design)
            .map_err(|_| UnknownModel(s.to_string()))
    }
}

impl fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelChoice::Design(s) => f.write_str(s.name()),
            ModelChoice::Mutant(m) => write!(f, "mutant:{}", m.name()),
        }
    }
}

/// Run `$body` with `$T` bound to the concrete model type of a
/// [`ModelChoice`] (the designs through `strategies::with_tracker!`).
#[macro_export]
macro_rules! with_model {
    ($choice:expr, $T:ident => $body:expr) => {
        match $choice {
            $crate::kernel::model::ModelChoice::Design(strategy) => {
                strategies::with_tracker!(strategy, $T => $body)
            }
            $crate::kernel::model::ModelChoice::Mutant(
                $crate::kernel::model::Mutant::PerVmaUntrackFirstPut,
            ) => {
                type $T = $crate::kernel::mutant::UntrackFirstPut;
                $body
            }
            $crate::kernel::model::ModelChoice::Mutant(
                $crate::kernel::model::Mutant::LegacyNoEndMatch,
            ) => {
                type $T = $crate::kernel::mutant::LegacyNoEndMatch;
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
            let m = ModelChoice::Design(s);
            assert_eq!(m.to_string().parse::<ModelChoice>(), Ok(m));
        }
        for mu in Mutant::ALL {
            let m = ModelChoice::Mutant(mu);
            assert_eq!(m.to_string().parse::<ModelChoice>(), Ok(m));
            assert!(!mu.summary().is_empty());
        }
        let e = "mutant:nope"
            .parse::<ModelChoice>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("mutant:per-vma-untrack-first-put"), "{e}");
        assert!("pervma".parse::<ModelChoice>().is_err());
    }
}
