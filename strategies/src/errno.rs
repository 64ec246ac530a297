//! The kernel error codes the modelled paths return (include/uapi/asm-generic/errno-base.h).

use std::fmt;

/// An error code as the kernel returns it, negated at the C boundary.
///
/// Only the codes the pfnmap tracking paths can produce exist here, so a
/// design that invents another error fails to compile rather than silently
/// diverging from the kernel.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Errno {
    /// `-EINVAL` (22): bad range, conflicting type refused, freeing an invalid memtype.
    EINVAL,
    /// `-EBUSY` (16): a conflicting memory type is already reserved.
    EBUSY,
    /// `-ENOMEM` (12): an allocation failed, or `vm_area_dup()` hit `REFCOUNT_MAX`.
    ENOMEM,
}

impl Errno {
    /// The value a kernel function returns for this error (negative).
    pub const fn to_kernel(self) -> i32 {
        match self {
            Errno::EINVAL => -22,
            Errno::EBUSY => -16,
            Errno::ENOMEM => -12,
        }
    }

    /// Parse the symbolic name (`EINVAL`, `EBUSY`, `ENOMEM`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "EINVAL" => Some(Errno::EINVAL),
            "EBUSY" => Some(Errno::EBUSY),
            "ENOMEM" => Some(Errno::ENOMEM),
            _ => None,
        }
    }

    /// The symbolic name, as the kernel headers spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Errno::EINVAL => "EINVAL",
            Errno::EBUSY => "EBUSY",
            Errno::ENOMEM => "ENOMEM",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_kernel())
    }
}

impl std::error::Error for Errno {}

/// Shorthand for results of modelled kernel functions.
pub type KResult<T> = Result<T, Errno>;
