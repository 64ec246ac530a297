//! The tracking designs, one file each, all implementing
//! [`crate::tracker::PfnmapTracking`].

pub mod legacy;
pub mod memtype_ext;
pub mod null;
pub mod per_vma;
pub mod reference;
pub mod xarray;
