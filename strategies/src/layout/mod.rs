//! C struct layouts: a description language for structs with Kconfig
//! conditions ([`engine`]), the x86_64 `struct vm_area_struct` built on it
//! ([`vm_area_struct`]), pahole-style output ([`render`]) and a reader for
//! real pahole output ([`pahole`]).
//!
//! This is how pfntrack prices the per-vma design's 8-byte
//! `vm_area_struct::pfnmap_track_ctx` (docs/design.md section 7): lay the struct out
//! for a configuration with and without the field, then hand the sizes to
//! the slab model ([`crate::slab`]) to see whether the field changes the
//! slab stride of every VMA in the system.
//!
//! Entry points: [`VmaConfig::field_cost`] for "what does the field cost in
//! configuration C", [`pahole::parse`] plus [`pahole::FieldEdit`] for "what
//! does it cost in the struct this pahole output shows".

pub mod engine;
pub mod pahole;
pub mod render;
pub mod vm_area_struct;

pub use engine::{AggKind, Cond, Kconfig, Layout, Member, StructDef, Summary};
pub use pahole::{FieldEdit, PaholeError, PaholeStruct};
pub use vm_area_struct::{FieldCost, VmaConfig, VmaOption, VmaSlabCost};

use crate::slab::KmemCache;

/// The slab cache a laid-out struct would live in, and why that one: the
/// v6.15+ `vm_area_struct` cache when the struct is `vm_area_struct` with a
/// `vm_freeptr`; the pre-v6.15 `KMEM_CACHE(vm_area_struct,
/// SLAB_HWCACHE_ALIGN | ...)` (aligned to the struct, free pointer in the
/// middle) for an older `vm_area_struct`; otherwise the kmalloc cache of its
/// size. Return: `None` for an empty or oversized struct.
pub fn cache_for(layout: &Layout) -> Option<(KmemCache, &'static str)> {
    let size = u32::try_from(layout.size).ok().filter(|&s| s > 0)?;
    if layout.name.as_deref() == Some("vm_area_struct") {
        if let Some(f) = layout.find("vm_freeptr") {
            let off = u32::try_from(f.offset).ok()?;
            return Some((
                KmemCache::vm_area_struct(size, off),
                "vm_area_struct cache as of v6.15: free pointer kept in vm_freeptr",
            ));
        }
        let align = u32::try_from(layout.align).ok()?;
        return Some((
            KmemCache::new(
                "vm_area_struct",
                size,
                align,
                crate::slab::SlabFlags::HWCACHE_ALIGN,
            ),
            "no vm_freeptr: the pre-v6.15 KMEM_CACHE(vm_area_struct) cache",
        ));
    }
    Some((
        KmemCache::kmalloc_for(size as usize)?,
        "not vm_area_struct: assuming kmalloc()",
    ))
}
