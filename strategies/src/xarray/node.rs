//! `struct xa_node` (include/linux/xarray.h) and the node cache that stands in
//! for the kernel's `radix_tree_node` kmem_cache (lib/radix-tree.c, mm/slub.c).
//!
//! This file owns the one invariant the rest of the XArray's `unsafe` code
//! leans on: a node's `shift` says which member of its slot union is live
//! (`shift == 0`: a leaf holding entries; otherwise: an interior node holding
//! child pointers). Only [`NodeCache::alloc`] writes `shift`, and it
//! re-initialises the slots whenever a recycled node changes kind, so the
//! typed views [`XaNode::slots`] / [`XaNode::slots_mut`] are sound for any
//! caller.
//!
//! Layout (x86_64, 8-byte `T` with a niche such as `NonNull`):
//!
//! ```text
//!  0 shift offset count (pad)    kernel: shift offset count nr_values
//!  8 parent                      kernel: parent, array, private_list/rcu_head
//! 16 slots[0..64]  (512 bytes)   kernel: slots at 40, then 3 mark bitmaps
//! 528 end                        kernel: 576 (see XA_NODE_KERNEL_SIZE)
//! ```
//!
//! The cache carves nodes out of 16 KiB slabs (the kernel's order-2 slabs for
//! `radix_tree_node`) in allocation order and recycles freed nodes LIFO, as
//! SLUB's per-CPU freelist does, so node placement (and with it the cache and
//! TLB behaviour of sparse keys) follows the same pattern as in the kernel.
//! Slabs are returned to the system only when the cache is dropped.
//!
//! Lock: none of its own; the owning `XArray` is protected by its caller's
//! `xa_lock`.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;

use super::XA_CHUNK_SIZE;

/// A pointer to a live node of one `XArray`.
pub(super) type NodePtr<T> = NonNull<XaNode<T>>;

/// Bytes a node slab spans: an order-2 slab, like `radix_tree_node`'s.
const SLAB_BYTES: usize = 4 * 4096;

/// `struct xa_node` without the parts pfntrack does not model (marks,
/// `nr_values`, the `array` back pointer and the RCU/private list union).
#[repr(C)]
pub(super) struct XaNode<T> {
    /// Index bits below this node's slot number: 0 for a leaf, then 6, 12,
    /// ... up to 60. Decides the live member of `slots` (file header).
    /// Private: only [`NodeCache::alloc`] writes it.
    shift: u8,
    /// This node's slot number in its parent (0 for the root).
    pub(super) offset: u8,
    /// Slots in use. Invariant: equals the number of `Some` slots; only the
    /// root may be 0, and only transiently inside an operation.
    pub(super) count: u8,
    /// The node one level up, `None` for the root. While the node sits on
    /// the cache's free list this is the next free node instead.
    pub(super) parent: Option<NodePtr<T>>,
    /// Children (interior) or entries (leaf), chosen by `shift`.
    slots: SlotArray<T>,
}

/// The slot array: `void __rcu *slots[XA_CHUNK_SIZE]` in the kernel, where
/// internal (node) entries and user entries share one word. Rust keeps the
/// two kinds apart; `XaNode::shift` tells which member is initialised.
#[repr(C)]
union SlotArray<T> {
    nodes: [Option<NodePtr<T>>; XA_CHUNK_SIZE],
    entries: ManuallyDrop<[Option<T>; XA_CHUNK_SIZE]>,
}

/// Shared view of a node's slots.
pub(super) enum Slots<'a, T> {
    /// An interior node's children.
    Interior(&'a [Option<NodePtr<T>>; XA_CHUNK_SIZE]),
    /// A leaf's entries.
    Leaf(&'a [Option<T>; XA_CHUNK_SIZE]),
}

/// Exclusive view of a node's slots.
pub(super) enum SlotsMut<'a, T> {
    /// An interior node's children.
    Interior(&'a mut [Option<NodePtr<T>>; XA_CHUNK_SIZE]),
    /// A leaf's entries.
    Leaf(&'a mut [Option<T>; XA_CHUNK_SIZE]),
}

impl<T> SlotArray<T> {
    /// All-empty slots of the kind a node with `shift` needs.
    #[inline]
    fn empty(shift: u8) -> Self {
        if shift == 0 {
            SlotArray {
                entries: ManuallyDrop::new([const { None }; XA_CHUNK_SIZE]),
            }
        } else {
            SlotArray {
                nodes: [None; XA_CHUNK_SIZE],
            }
        }
    }
}

impl<T> XaNode<T> {
    /// Index bits below this node's slot number.
    #[inline(always)]
    pub(super) fn shift(&self) -> u8 {
        self.shift
    }

    /// The slots, typed by the node's kind.
    #[inline(always)]
    pub(super) fn slots(&self) -> Slots<'_, T> {
        if self.shift == 0 {
            // SAFETY: `shift == 0` means `entries` is the initialised member
            // (file header invariant, kept by `NodeCache::alloc`).
            Slots::Leaf(unsafe { &self.slots.entries })
        } else {
            // SAFETY: `shift != 0` means `nodes` is the initialised member.
            Slots::Interior(unsafe { &self.slots.nodes })
        }
    }

    /// The slots, typed by the node's kind, for writing. Callers cannot
    /// change the node's kind through this view, so the invariant holds.
    #[inline(always)]
    pub(super) fn slots_mut(&mut self) -> SlotsMut<'_, T> {
        if self.shift == 0 {
            // SAFETY: as in `slots`; `ManuallyDrop` derefs to the array.
            SlotsMut::Leaf(unsafe { &mut self.slots.entries })
        } else {
            // SAFETY: as in `slots`.
            SlotsMut::Interior(unsafe { &mut self.slots.nodes })
        }
    }

    /// An interior node's child pointers. Panics on a leaf: a broken tree.
    #[inline(always)]
    pub(super) fn nodes_mut(&mut self) -> &mut [Option<NodePtr<T>>; XA_CHUNK_SIZE] {
        match self.slots_mut() {
            SlotsMut::Interior(nodes) => nodes,
            SlotsMut::Leaf(_) => unreachable!("xa_node: leaf where an interior node belongs"),
        }
    }

    /// A leaf's entries. Panics on an interior node: a broken tree.
    #[inline(always)]
    pub(super) fn entries_mut(&mut self) -> &mut [Option<T>; XA_CHUNK_SIZE] {
        match self.slots_mut() {
            SlotsMut::Leaf(entries) => entries,
            SlotsMut::Interior(_) => unreachable!("xa_node: interior node where a leaf belongs"),
        }
    }

    /// Whether every slot is empty (what a node must be when freed).
    pub(super) fn all_slots_empty(&self) -> bool {
        match self.slots() {
            Slots::Interior(nodes) => nodes.iter().all(Option::is_none),
            Slots::Leaf(entries) => entries.iter().all(Option::is_none),
        }
    }
}

/// The `radix_tree_node` cache of one `XArray`: slabs of nodes, a LIFO free
/// list threaded through `XaNode::parent`, and a bump pointer into the newest
/// slab.
///
/// Invariant: every node on the free list has all slots empty, of the kind
/// its `shift` says; every node handed out and not yet freed is owned by the
/// `XArray` that owns this cache.
pub(super) struct NodeCache<T> {
    /// Most recently freed node (reused first, like SLUB's freelist).
    free: Option<NodePtr<T>>,
    /// Next never-used node in the newest slab.
    fresh: *mut XaNode<T>,
    /// Never-used nodes left at `fresh`.
    fresh_left: usize,
    /// Every slab, for `Drop`.
    slabs: Vec<NonNull<[MaybeUninit<XaNode<T>>]>>,
    /// Nodes handed out and not freed (`nr_nodes`).
    live: usize,
    /// Nodes on the free list.
    nr_free: usize,
}

impl<T> NodeCache<T> {
    /// Nodes one slab holds (at least one, whatever `T` weighs).
    pub(super) const NODES_PER_SLAB: usize = {
        let n = SLAB_BYTES / size_of::<XaNode<T>>();
        if n == 0 { 1 } else { n }
    };

    /// An empty cache; no memory until the first allocation.
    pub(super) const fn new() -> Self {
        NodeCache {
            free: None,
            fresh: std::ptr::null_mut(),
            fresh_left: 0,
            slabs: Vec::new(),
            live: 0,
            nr_free: 0,
        }
    }

    /// Nodes handed out and not yet freed.
    #[inline]
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Bytes of slab memory held (live, free and never-used nodes).
    pub(super) fn slab_bytes(&self) -> usize {
        self.slabs.len() * Self::NODES_PER_SLAB * size_of::<XaNode<T>>()
    }

    /// `xas_alloc()`'s node, initialised: empty slots of the right kind,
    /// `count` 0, linked to nothing yet (the caller links it). Like the
    /// kernel's allocator this cannot fail here: the failure point is the
    /// caller's `Kmem` reservation, made before.
    #[inline]
    pub(super) fn alloc(
        &mut self,
        shift: u8,
        offset: u8,
        parent: Option<NodePtr<T>>,
    ) -> NodePtr<T> {
        debug_assert!(
            shift <= 60 && shift.is_multiple_of(6),
            "xa_node shift {shift}"
        );
        let Some(node) = self.free else {
            return self.alloc_fresh(shift, offset, parent);
        };
        // SAFETY: free-list nodes belong to this cache, are initialised and
        // referenced by nothing else (they were unlinked before `free`).
        let n = unsafe { &mut *node.as_ptr() };
        self.free = n.parent;
        self.nr_free -= 1;
        self.live += 1;
        if (n.shift == 0) != (shift == 0) {
            // Changing kind: the other union member must become the live one.
            // The old slots are all empty, so nothing needs dropping.
            n.slots = SlotArray::empty(shift);
        }
        n.shift = shift;
        n.offset = offset;
        n.count = 0;
        n.parent = parent;
        node
    }

    #[cold]
    #[inline(never)]
    fn alloc_fresh(&mut self, shift: u8, offset: u8, parent: Option<NodePtr<T>>) -> NodePtr<T> {
        if self.fresh_left == 0 {
            let slab = Box::<[XaNode<T>]>::new_uninit_slice(Self::NODES_PER_SLAB);
            let slab = NonNull::from(Box::leak(slab));
            self.slabs.push(slab);
            self.fresh = slab.as_ptr().cast::<XaNode<T>>();
            self.fresh_left = Self::NODES_PER_SLAB;
        }
        let p = self.fresh;
        self.fresh_left -= 1;
        // SAFETY: `p` is inside the newest slab (`fresh_left` counted it);
        // one past the end is allowed when this was the last node.
        self.fresh = unsafe { p.add(1) };
        // SAFETY: `p` is valid for writes, aligned and never used before.
        unsafe {
            p.write(XaNode {
                shift,
                offset,
                count: 0,
                parent,
                slots: SlotArray::empty(shift),
            });
        }
        self.live += 1;
        // SAFETY: `p` points into a slab, so it is not null.
        unsafe { NonNull::new_unchecked(p) }
    }

    /// `xa_node_free()`: put `node` on the free list (LIFO).
    ///
    /// # Safety
    /// `node` came from this cache's [`NodeCache::alloc`], is not already
    /// free, is no longer reachable from the tree, and no reference to it is
    /// live. Its slots must all be empty (checked in debug builds).
    #[inline]
    pub(super) unsafe fn free(&mut self, node: NodePtr<T>) {
        // SAFETY: the caller guarantees exclusive access to a live node.
        let n = unsafe { &mut *node.as_ptr() };
        debug_assert!(n.all_slots_empty(), "freeing an xa_node with entries");
        n.count = 0;
        n.parent = self.free;
        self.free = Some(node);
        self.live -= 1;
        self.nr_free += 1;
    }

    /// Walk the free list and check its length and emptiness (for
    /// `XArray::check_invariants`).
    pub(super) fn check_free_list(&self) {
        let mut seen = 0;
        let mut cur = self.free;
        while let Some(node) = cur {
            // SAFETY: free-list nodes are initialised and owned by the cache.
            let n = unsafe { node.as_ref() };
            assert!(
                n.all_slots_empty(),
                "xa_node cache: free node has slots in use"
            );
            seen += 1;
            assert!(
                seen <= self.nr_free,
                "xa_node cache: free list longer than nr_free"
            );
            cur = n.parent;
        }
        assert_eq!(seen, self.nr_free, "xa_node cache: free list length");
        let carved: usize = self.slabs.len() * Self::NODES_PER_SLAB - self.fresh_left;
        assert_eq!(
            carved,
            self.live + self.nr_free,
            "xa_node cache: nodes carved from slabs != live + free"
        );
    }
}

impl<T> Drop for NodeCache<T> {
    fn drop(&mut self) {
        for slab in self.slabs.drain(..) {
            // SAFETY: each slab came from `Box::leak` in `alloc_fresh` and is
            // dropped once; `MaybeUninit` runs no destructors, and the owning
            // `XArray` dropped every entry before the cache goes.
            drop(unsafe { Box::from_raw(slab.as_ptr()) });
        }
    }
}
