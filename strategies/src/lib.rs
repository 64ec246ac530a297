//! pfntrack's kernel models: the x86 PAT substrate every pfnmap tracking
//! design shares, the designs themselves behind one trait, and a slow
//! reference model used as the test oracle.
//!
//! Each module names the kernel file it models; read them side by side.

pub mod cachemode;
pub mod errno;
pub mod kmem;
pub mod kref;
pub mod percpu;
pub mod phys;
pub mod spinlock;
pub mod xarray;

pub use cachemode::CacheMode;
pub use errno::{Errno, KResult};
