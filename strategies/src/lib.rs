//! pfntrack's kernel models: the x86 PAT substrate every pfnmap tracking
//! design shares, the designs themselves behind one trait, and a slow
//! reference model used as the test oracle.
//!
//! Each module names the kernel file it models; read them side by side.

pub mod cachemode;
pub mod designs;
pub mod errno;
pub mod interval_tree;
pub mod kmem;
pub mod kref;
pub mod layout;
pub mod memtype;
pub mod memtype_log;
pub mod percpu;
pub mod pfnmap_ctx;
pub mod phys;
pub mod rcu;
pub mod slab;
pub mod spinlock;
pub mod strategy;
pub mod tracker;
pub mod xarray;

pub use cachemode::CacheMode;
pub use errno::{Errno, KResult};
pub use strategy::Strategy;
pub use tracker::{
    Footprint, PfnRange, PfnUntrack, PfnmapPte, PfnmapTracking, TrackerConfig, Vma, VmaKey,
};
