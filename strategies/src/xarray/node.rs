//! `struct xa_node` (include/linux/xarray.h) laid out as the kernel lays it
//! out, and the node cache that stands in for the `radix_tree_node`
//! kmem_cache (lib/radix-tree.c over mm/slub.c), with frees deferred past a
//! grace period through [`crate::rcu::call_rcu`], as `xa_node_free()`
//! defers them (lib/xarray.c).
//!
//! Layout (x86-64, 576 bytes, as the kernel's):
//!
//! ```text
//!   0 shift offset count nr_values (pad 4)
//!   8 parent                 the node one level up, 0 for the root
//!  16 array                  the XArray it belongs to (XA_RCU_FREE when freed)
//!  24 private_list/rcu_head  16 bytes (the queued `call_rcu()` head)
//!  40 slots[64]              512 bytes of encoded words (entry.rs)
//! 552 marks[3]               one 64-bit bitmap per mark
//! 576
//! ```
//!
//! Every field is an atomic so readers may walk a node while the writer
//! (under `xa_lock`) changes it, without any `&mut` to a published node.
//! Relaxed loads and stores compile to plain moves on x86-64; the
//! publishing stores of slots and heads are Release, the readers' loads
//! Acquire (`rcu_assign_pointer()` / `rcu_dereference()`).
//!
//! Lifetime: nodes live in 16 KiB slabs (the order-2 slabs SLUB uses for
//! 576-byte objects with a constructor: 28 a slab, at a 584-byte stride
//! because SLUB keeps a constructed object's free pointer after it). Each
//! slab is 16 KiB aligned and ends with a pointer to its cache's [`Slabs`]
//! (the kernel finds a freed object's cache through its `struct slab`),
//! which is how the RCU callback, `radix_tree_node_rcu_free()`, finds where
//! to return the node after clearing its slots and marks. Cleared nodes
//! become allocatable again LIFO, like SLUB's per-CPU freelist. The
//! [`Slabs`] outlive the array: dropping the cache queues one last callback
//! behind every node callback (`rcu_barrier()`), which gives the slabs back
//! to the page pool (xarray/pages.rs) for the next array.

use std::mem::offset_of;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering::*};

use super::XA_CHUNK_SIZE;
use super::pages::{BLOCK_BYTES, alloc_block, free_block};
use crate::rcu::{RcuHead, call_rcu, rcu_barrier};
use crate::spinlock::SpinLock;

/// `XA_MAX_MARKS`.
pub(super) const XA_MAX_MARKS: usize = 3;

/// `struct xa_node`.
#[repr(C, align(8))]
pub(super) struct XaNode {
    /// Index bits below this node's slot number: 0 for a leaf.
    pub(super) shift: AtomicU8,
    /// This node's slot number in its parent.
    pub(super) offset: AtomicU8,
    /// Slots in use (entries, children and siblings).
    pub(super) count: AtomicU8,
    /// Slots holding value entries.
    pub(super) nr_values: AtomicU8,
    _pad: u32,
    /// Address of the parent node, 0 for the root (`xa_parent()`).
    pub(super) parent: AtomicUsize,
    /// The owning array's address, or [`XA_RCU_FREE`] while being freed.
    pub(super) array: AtomicUsize,
    /// `private_list` / `rcu_head`: the head `xa_node_free()` queues.
    pub(super) rcu: RcuHead,
    /// Encoded entries (entry.rs).
    pub(super) slots: [AtomicUsize; XA_CHUNK_SIZE],
    /// `marks[XA_MAX_MARKS][XA_MARK_LONGS]`.
    pub(super) marks: [AtomicU64; XA_MAX_MARKS],
}

const _: () = assert!(size_of::<XaNode>() == super::XA_NODE_KERNEL_SIZE);

/// `XA_RCU_FREE`: what `xa_node_free()` writes to `node->array`.
pub(super) const XA_RCU_FREE: usize = 0x6; // xa_mk_internal(1)

impl XaNode {
    /// `xa_entry()`: slot `offset`, for a reader (`rcu_dereference()`).
    #[inline(always)]
    pub(super) fn slot(&self, offset: usize) -> usize {
        self.slots[offset].load(Acquire)
    }

    /// `node_clear_mark()`: clear `mark` at `offset`; whether it was set.
    #[inline(always)]
    pub(super) fn clear_mark(&self, offset: usize, mark: usize) -> bool {
        let m = self.marks[mark].load(Relaxed);
        let bit = 1u64 << offset;
        if m & bit == 0 {
            return false;
        }
        self.marks[mark].store(m & !bit, Relaxed);
        true
    }

    /// `node_any_mark()`.
    #[inline(always)]
    pub(super) fn any_mark(&self, mark: usize) -> bool {
        self.marks[mark].load(Relaxed) != 0
    }

    /// `radix_tree_node_rcu_free()`'s clearing: slots, marks, list head,
    /// as the kernel clears them, with `memset()`.
    ///
    /// # Safety
    /// `node`'s grace period has ended: nothing else references it.
    unsafe fn clear(node: *mut XaNode) {
        // SAFETY: the caller's promise: this is the only access to the node,
        // and all-zero bytes are valid atomics.
        unsafe {
            std::ptr::write_bytes(&raw mut (*node).slots, 0, 1);
            std::ptr::write_bytes(&raw mut (*node).marks, 0, 1);
            (*node).rcu.reset();
        }
    }

    /// Whether every slot is empty.
    pub(super) fn all_slots_empty(&self) -> bool {
        self.slots.iter().all(|s| s.load(Relaxed) == 0)
    }
}

/// A node pointer (`struct xa_node *`); 8-aligned so `| 2` encodes it.
pub(super) type NodePtr = NonNull<XaNode>;

/// Bytes of a node slab (an order-2 block from [`super::pages`]).
const SLAB_BYTES: usize = BLOCK_BYTES;
/// Stride of a node in a slab: SLUB keeps the free pointer after an object
/// whose cache has a constructor (576 + 8).
const STRIDE: usize = super::XA_NODE_KERNEL_SIZE + 8;
/// Nodes per slab (28).
pub(super) const NODES_PER_SLAB: usize = SLAB_BYTES / STRIDE;

/// Offset of the free pointer in a node's slot: after the object, as SLUB
/// places it for a cache with a constructor.
const FREEPTR: usize = super::XA_NODE_KERNEL_SIZE;
/// Offset of the slab footer that names the [`Slabs`]: after the last node.
const FOOTER: usize = NODES_PER_SLAB * STRIDE;
const _: () = assert!(FOOTER + size_of::<usize>() <= SLAB_BYTES);

/// The free pointer of the node at `addr` (SLUB's `get_freepointer()`).
#[inline(always)]
fn freeptr<'a>(addr: usize) -> &'a AtomicUsize {
    // SAFETY: `addr` is a node in a live slab; the word after it is inside
    // the node's stride, initialised when the slab was made, and used only
    // as this link.
    unsafe { &*((addr + FREEPTR) as *const AtomicUsize) }
}

/// What the array's cache and its pending RCU callbacks share: the slabs,
/// and the stack of nodes whose grace period has ended.
pub(super) struct Slabs {
    /// Every slab's base address (freed with the `Slabs`).
    slabs: SpinLock<Vec<usize>>,
    /// Nodes cleared after their grace period, linked through their free
    /// pointers; pushed by callbacks, taken by the writer.
    rcu_freed: AtomicUsize,
    /// The head of the last callback, which frees these slabs.
    barrier: RcuHead,
}

impl Drop for Slabs {
    fn drop(&mut self) {
        for &base in self.slabs.get_mut().iter() {
            // SAFETY: each base came from `alloc_block()` in
            // `NodeCache::alloc_fresh`, and is freed once, here, when no
            // array or callback can reach its nodes any more.
            unsafe { free_block(NonNull::new_unchecked(base as *mut u8)) };
        }
    }
}

/// The `radix_tree_node` cache of one XArray.
///
/// Invariants: every node on `free` is cleared (all slots and marks zero)
/// and reachable from nothing else; `live` counts nodes handed out and not
/// yet passed to [`NodeCache::free_rcu`].
pub(super) struct NodeCache {
    /// Owned by this cache until its drop hands it to the last callback.
    shared: NonNull<Slabs>,
    /// LIFO freelist of cleared nodes, linked through their free pointers.
    free: usize,
    nr_free: usize,
    /// Next never-used node in the newest slab and how many are left.
    fresh: usize,
    fresh_left: usize,
    /// Nodes allocated and not freed (`nr_nodes`).
    live: usize,
}

// SAFETY: the cache is used by one writer at a time (under `xa_lock`); the
// `Slabs` it points to is shared with callbacks only through atomics and
// its own lock.
unsafe impl Send for NodeCache {}

impl NodeCache {
    /// An empty cache.
    pub(super) fn new() -> Self {
        let shared = Box::new(Slabs {
            slabs: SpinLock::new(Vec::new()),
            rcu_freed: AtomicUsize::new(0),
            barrier: RcuHead::new(),
        });
        NodeCache {
            // SAFETY: `Box::into_raw` never returns null.
            shared: unsafe { NonNull::new_unchecked(Box::into_raw(shared)) },
            free: 0,
            nr_free: 0,
            fresh: 0,
            fresh_left: 0,
            live: 0,
        }
    }

    fn shared(&self) -> &Slabs {
        // SAFETY: the `Slabs` lives until the callback queued by this
        // cache's drop runs.
        unsafe { self.shared.as_ref() }
    }

    /// Nodes handed out and not freed.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Bytes of slab memory held.
    pub(super) fn slab_bytes(&self) -> usize {
        self.shared().slabs.lock().len() * SLAB_BYTES
    }

    /// `kmem_cache_alloc(radix_tree_node_cachep)`: a cleared node (the
    /// constructor's state), its header not yet set. Out of line, as the
    /// kernel's exported `kmem_cache_alloc_noprof()` is.
    #[inline(never)]
    pub(super) fn alloc(&mut self) -> NodePtr {
        if self.free == 0 {
            self.refill();
        }
        let node = if self.free != 0 {
            let p = self.free;
            self.free = freeptr(p).load(Relaxed);
            self.nr_free -= 1;
            p as *const XaNode
        } else {
            self.alloc_fresh()
        };
        self.live += 1;
        // SAFETY: both paths give a non-null node pointer.
        unsafe { NonNull::new_unchecked(node as *mut XaNode) }
    }

    /// Take every node whose grace period has ended.
    #[cold]
    fn refill(&mut self) {
        let shared = self.shared();
        if shared.rcu_freed.load(Relaxed) == 0 {
            return;
        }
        let mut p = shared.rcu_freed.swap(0, Acquire);
        while p != 0 {
            let next = freeptr(p).load(Relaxed);
            freeptr(p).store(self.free, Relaxed);
            self.free = p;
            self.nr_free += 1;
            p = next;
        }
    }

    /// A never-used node: a new slab when the current one is used up; the
    /// constructor (`radix_tree_node_ctor()`) zeroes each node once.
    #[cold]
    fn alloc_fresh(&mut self) -> *const XaNode {
        if self.fresh_left == 0 {
            let base = alloc_block().as_ptr();
            for i in 0..NODES_PER_SLAB {
                // SAFETY: in bounds of the fresh slab.
                let obj = unsafe { base.add(i * STRIDE) };
                // SLUB's setup_object(): the constructor, called through
                // the cache's function pointer, once per object.
                let ctor = std::hint::black_box(radix_tree_node_ctor as unsafe fn(*mut u8));
                // SAFETY: `obj` is a node-sized, node-aligned part of the
                // slab that nothing else references yet.
                unsafe { ctor(obj) };
                // The object's free pointer, after it (all-zero: none yet).
                // SAFETY: the word after the node is inside its stride.
                unsafe { obj.add(FREEPTR).cast::<usize>().write(0) };
            }
            // SAFETY: the footer is inside the slab, past the last node.
            unsafe {
                base.add(FOOTER)
                    .cast::<usize>()
                    .write(self.shared.as_ptr() as usize)
            };
            self.shared().slabs.lock().push(base as usize);
            self.fresh = base as usize;
            self.fresh_left = NODES_PER_SLAB;
        }
        let p = self.fresh as *const XaNode;
        self.fresh += STRIDE;
        self.fresh_left -= 1;
        p
    }

    /// `xa_node_free()`: mark the node freed and queue
    /// `radix_tree_node_rcu_free()` with `call_rcu()`; after every reader
    /// that could see it has left, the callback clears it and makes it
    /// allocatable.
    ///
    /// # Safety
    /// `node` came from this cache, is live, and is no longer reachable
    /// from the tree (readers that found it earlier may still walk it).
    pub(super) unsafe fn free_rcu(&mut self, node: NodePtr) {
        self.live -= 1;
        // SAFETY: the node is live and owned by this cache.
        let n = unsafe { node.as_ref() };
        n.array.store(XA_RCU_FREE, Relaxed);
        // The head as a pointer into the whole node, for `container_of()`.
        // SAFETY: in bounds of the node.
        let head = unsafe { NonNull::new_unchecked(&raw mut (*node.as_ptr()).rcu) };
        // SAFETY: the node is unlinked (the caller's promise), its head is
        // not queued (a node is freed once per allocation), and the slab it
        // lives in outlives the callback (freed only by the barrier queued
        // after it).
        unsafe { call_rcu(head, radix_tree_node_rcu_free) };
    }

    /// Walk the free list and check its length and emptiness.
    pub(super) fn check_free_list(&self) {
        let mut seen = 0;
        let mut p = self.free;
        while p != 0 {
            // SAFETY: free-list nodes are initialised and owned by the cache.
            let n = unsafe { &*(p as *const XaNode) };
            assert!(
                n.all_slots_empty(),
                "xa_node cache: free node has slots in use"
            );
            assert!(
                n.marks.iter().all(|m| m.load(Relaxed) == 0),
                "xa_node cache: free node has marks set"
            );
            seen += 1;
            assert!(
                seen <= self.nr_free,
                "xa_node cache: free list longer than nr_free"
            );
            p = freeptr(p).load(Relaxed);
        }
        assert_eq!(seen, self.nr_free, "xa_node cache: free list length");
    }
}

impl Drop for NodeCache {
    /// `kmem_cache_destroy()` after `rcu_barrier()`: the slabs go once every
    /// node callback queued before now has run.
    fn drop(&mut self) {
        // SAFETY: a field of the live `Slabs`; the pointer keeps the whole
        // box's provenance, for the callback's `Box::from_raw`.
        let head = unsafe { NonNull::new_unchecked(&raw mut (*self.shared.as_ptr()).barrier) };
        // SAFETY: the head is the `Slabs`' own, queued once (the cache is
        // dropped once); the `Slabs` stays alive until the callback frees it.
        unsafe { rcu_barrier(head, free_slabs) };
    }
}

/// The last callback of a cache: free its slabs.
///
/// # Safety
/// `head` is the `barrier` of a leaked `Slabs`, and every node callback of
/// that cache has run.
unsafe fn free_slabs(head: NonNull<RcuHead>) {
    let slabs = head
        .as_ptr()
        .cast::<u8>()
        .wrapping_sub(offset_of!(Slabs, barrier))
        .cast::<Slabs>();
    // SAFETY: `head` is in a `Slabs` leaked by `NodeCache::new` (the
    // caller's promise), which nothing references any more.
    drop(unsafe { Box::from_raw(slabs) });
}

/// `radix_tree_node_ctor()` (lib/radix-tree.c): zero a new node and
/// initialise its list head. Out of line: SLUB calls it through the
/// cache's `ctor` pointer for each object of a new slab.
///
/// # Safety
/// `obj` points to `size_of::<XaNode>()` writable bytes, 8-aligned, that
/// nothing else references.
#[inline(never)]
unsafe fn radix_tree_node_ctor(obj: *mut u8) {
    // SAFETY: the caller's promise; all-zero bytes are a valid `XaNode`
    // (atomics and integers), which includes the empty list head.
    unsafe { obj.write_bytes(0, size_of::<XaNode>()) };
}

/// `radix_tree_node_rcu_free()` (lib/radix-tree.c): the grace period is
/// over; clear the slots and marks (only cleared nodes go back to a cache
/// with a constructor) and `kmem_cache_free()` the node to its cache,
/// found through the slab footer.
///
/// # Safety
/// `head` is the `rcu` of a node freed by [`NodeCache::free_rcu`], whose
/// grace period has ended.
unsafe fn radix_tree_node_rcu_free(head: NonNull<RcuHead>) {
    // container_of(), keeping the head's provenance (the whole node: see
    // `free_rcu`).
    let node = head
        .as_ptr()
        .cast::<u8>()
        .wrapping_sub(offset_of!(XaNode, rcu))
        .cast::<XaNode>();
    let addr = node as usize;
    // SAFETY: the head is a node's `rcu`, and nothing else references the
    // node after its grace period.
    unsafe { XaNode::clear(node) };
    let footer = (addr & !(SLAB_BYTES - 1)) + FOOTER;
    // SAFETY: the footer of the node's 16 KiB-aligned slab holds the
    // address of the `Slabs`, which outlives every node callback.
    let shared = unsafe { &*(*(footer as *const usize) as *const Slabs) };
    let mut head = shared.rcu_freed.load(Relaxed);
    loop {
        freeptr(addr).store(head, Relaxed);
        match shared
            .rcu_freed
            .compare_exchange_weak(head, addr, Release, Relaxed)
        {
            Ok(_) => break,
            Err(h) => head = h,
        }
    }
}
