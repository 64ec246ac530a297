//! A Linux-like XArray: the radix tree of 64-slot `xa_node`s that the global
//! pfnmap tracking design keys by VMA (lib/xarray.c, include/linux/xarray.h,
//! modelled on v6.12/v7.3, which agree on every path used here).
//!
//! Structure: `xa_head` is 0 (empty), an entry (index 0 only) or a node
//! pointer. A node of `shift` s covers `64 << s` indices; leaves (`shift` 0)
//! hold entries. Slots hold words encoded as the kernel encodes them
//! (xarray/entry.rs); nodes are laid out as the kernel's 576-byte `struct
//! xa_node` (xarray/node.rs).
//!
//! The operations follow lib/xarray.c step by step (`CONFIG_XARRAY_MULTI`,
//! `XA_CHUNK_SHIFT` 6), each function naming the kernel function it models,
//! so they do the kernel's work on the paths the designs use: an
//! `xa_state` per operation, `xas_expand()` on every store, the sibling
//! test at each level of the walk and after the stored slot,
//! `xas_init_marks()` clearing the three marks on every erase, `count` and
//! `nr_values` upkeep, `xas_delete_node()` and `xas_shrink()`, and
//! `xa_node_free()` through `call_rcu()` (crate::rcu), after whose grace
//! period the node is cleared (`radix_tree_node_rcu_free()`). The calibration
//! (scripts/calibrate.sh) runs this against the kernel's own C.
//!
//! Invariants (checked by [`XArray::check_invariants`]), as lib/xarray.c
//! keeps them, so the live node count is a function of the key set alone:
//! - every node's `count` is its number of used slots, `nr_values` its
//!   value entries, and no node but the root is empty;
//! - the tree is shrunk: the root never has slot 0 as its only used slot,
//!   and an array holding only index 0 has it in the head;
//! - children point back at their parent and slot (`parent`, `offset`).
//!
//! Locking, as in the kernel: writers ([`XArray::store`], [`XArray::erase`]
//! or the [`XaLock`] from [`XArray::lock`]) hold `xa_lock`; readers
//! ([`XArray::load`], [`XArray::load_rcu`]) take no lock and walk inside an
//! RCU read-side section ([`crate::rcu::rcu_read_lock`]), so a node
//! unlinked by a writer is reclaimed only after every reader that might
//! still be inside it has passed a quiescent state.
//!
//! Function boundaries: a call and a return, and an `xa_state` that lives
//! in memory because its address is passed down, are part of what an XArray
//! operation costs in the kernel. So the functions a gcc-built kernel keeps
//! out of line are out of line here too (`#[inline(never)]`), and the ones
//! it inlines are inlined. The set was read from the symbol table of a
//! Debian-style x86-64 build (6.18, gcc 15, `/proc/kallsyms`): out of line
//! are `xa_load`, `xas_load`, `xas_start`, `xa_store`, `__xa_store`,
//! `xas_store`, `xas_create`, `xas_alloc`, `xa_erase`, `__xa_erase`,
//! `xas_init_marks`, `xas_clear_mark`, with `kmem_cache_alloc` and
//! `call_rcu` outside lib/xarray.c; inlined (no symbol) are `xas_descend`,
//! `xas_expand`, `update_node`, `xas_delete_node`, `xas_shrink`,
//! `xa_node_free`. The calibration's kernel side, lib/xarray.c compiled by
//! gcc -O2, keeps the same set (`nm` on `kbench`).
//!
//! Allocation: `xas_alloc()` allocates each node through the caller's
//! [`Kmem`] (one `KObj::XaNode`). The kernel retries a failed `GFP_NOWAIT`
//! allocation once with the caller's gfp (`__xas_nomem()`); pfntrack models
//! one attempt: on failure the empty nodes the store had linked are deleted
//! again (`xas_delete_node()`), the array is as before, and the store
//! returns `ENOMEM`.
//!
//! Not modelled: multi-index stores (sibling entries are tested for, never
//! made), `XA_FLAGS_ALLOC`/`XA_FREE_MARK`, `xa_update_node_t` callbacks,
//! `CONFIG_BASE_SMALL`'s 16-slot nodes.

mod entry;
mod node;
mod pages;
#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering::*};

use crate::errno::Errno;
use crate::kmem::{KObj, Kmem};
use crate::rcu::{RcuReadGuard, rcu_read_lock};
use crate::spinlock::{SpinLock, SpinLockGuard};
pub use entry::XaEntry;
use entry::{RETRY_ENTRY, ZERO_ENTRY, is_node, is_sibling, is_value, to_sibling};
use node::{NodeCache, NodePtr, XA_MAX_MARKS, XaNode};

/// `XA_CHUNK_SHIFT`: index bits a node resolves (6 unless `CONFIG_BASE_SMALL`).
pub const XA_CHUNK_SHIFT: u32 = 6;
/// `XA_CHUNK_SHIFT` with `CONFIG_BASE_SMALL` (16-slot nodes): documented
/// only; this model always uses [`XA_CHUNK_SHIFT`].
pub const XA_CHUNK_SHIFT_BASE_SMALL: u32 = 4;
/// `XA_CHUNK_SIZE`: slots per node.
pub const XA_CHUNK_SIZE: usize = 1 << XA_CHUNK_SHIFT;
/// `XA_CHUNK_MASK`.
pub const XA_CHUNK_MASK: u64 = XA_CHUNK_SIZE as u64 - 1;
/// `sizeof(struct xa_node)` on x86_64: 8 bytes of shift/offset/count/
/// nr_values (with padding), `parent`, `array`, the `private_list`/`rcu_head`
/// union (16), 64 slots (512), 3 mark bitmaps (24). This model's node has
/// the same size and layout.
pub const XA_NODE_KERNEL_SIZE: usize = 576;
/// Levels a full 64-bit index needs: `ceil(64 / XA_CHUNK_SHIFT)`.
pub const XA_MAX_HEIGHT: u32 = u64::BITS.div_ceil(XA_CHUNK_SHIFT);

/// `xas->xa_node` values that are not nodes (include/linux/xarray.h).
const XAS_BOUNDS: usize = entry::mk_internal(1);
const XAS_RESTART: usize = entry::mk_internal(3);
/// The lowest `XAS_ERROR()` value: `xa_mk_internal(-MAX_ERRNO)`.
const XAS_ERR_MIN: usize = entry::mk_internal(4095usize.wrapping_neg());
/// `XAS_ERROR(-ENOMEM)`.
const XAS_ENOMEM: usize = entry::mk_internal(12usize.wrapping_neg());

/// A sparse array of `T` indexed by `u64`, laid out and operated like the
/// kernel's XArray. See the module documentation.
#[repr(C)]
pub struct XArray<T> {
    /// `xa_head`: 0, an entry for index 0, or a node word.
    head: AtomicUsize,
    /// `xa_lock` and what only writers touch.
    lock: SpinLock<Locked>,
    _entries: PhantomData<T>,
}

/// The writer-side state behind `xa_lock`.
struct Locked {
    cache: NodeCache,
    /// Entries stored.
    nr_entries: usize,
}

/// `xa_lock()` held: the writer's view of an [`XArray`].
pub struct XaLock<'a, T> {
    xa: &'a XArray<T>,
    locked: SpinLockGuard<'a, Locked>,
}

/// `get_offset()`.
#[inline(always)]
fn get_offset(index: u64, shift: u8) -> usize {
    ((index >> shift) & XA_CHUNK_MASK) as usize
}

/// Levels of nodes needed to hold `index` (0 for index 0, which fits the head).
#[inline]
#[cfg(test)]
fn levels_for(index: u64) -> u32 {
    (u64::BITS - index.leading_zeros()).div_ceil(XA_CHUNK_SHIFT)
}

/// `xa_mk_node()`.
#[inline(always)]
fn mk_node(node: NodePtr) -> usize {
    node.as_ptr() as usize | 2
}

/// `xa_to_node()`. Only for words that pass [`is_node`].
#[inline(always)]
fn to_node<'a>(w: usize) -> &'a XaNode {
    debug_assert!(is_node(w));
    // SAFETY: node words are made by `mk_node` from live nodes; readers
    // are inside an RCU read-side section and writers hold `xa_lock`, so the node stays mapped
    // (slabs outlive every walker) for the borrow.
    unsafe { &*((w - 2) as *const XaNode) }
}

#[inline(always)]
fn to_node_ptr(w: usize) -> NodePtr {
    debug_assert!(is_node(w));
    // SAFETY: a node word is a non-null node address plus 2.
    unsafe { NodePtr::new_unchecked((w - 2) as *mut XaNode) }
}

/// `max_index()`: the largest index a head can hold.
#[inline]
fn max_index(head: usize) -> u64 {
    if !is_node(head) {
        return 0;
    }
    let shift = u32::from(to_node(head).shift.load(Relaxed));
    (XA_CHUNK_SIZE as u64)
        .checked_shl(shift)
        .filter(|&m| m != 0 && shift < 58)
        .map_or(u64::MAX, |m| m - 1)
}

/// `struct xa_state`: the cursor every operation carries.
struct XaState<'a> {
    /// `xas->xa`: its head, which is at the array's address (`XArray` is
    /// `repr(C)` with the head first), so one pointer serves as both, as
    /// the kernel's one `xa` pointer does.
    head: &'a AtomicUsize,
    xa_index: u64,
    xa_shift: u8,
    xa_sibs: u8,
    xa_offset: u8,
    /// A node address, 0 (at the head), or one of `XAS_*`.
    xa_node: usize,
    /// `xas->xa_alloc`: a node allocated ahead of need. Always 0 here (the
    /// model never preallocates), but tested where the kernel tests it.
    xa_alloc: usize,
}

impl<'a> XaState<'a> {
    /// `XA_STATE()`.
    #[inline(always)]
    fn new<T>(xa: &'a XArray<T>, index: u64) -> Self {
        XaState {
            head: &xa.head,
            xa_index: index,
            xa_shift: 0,
            xa_sibs: 0,
            xa_offset: 0,
            xa_node: XAS_RESTART,
            xa_alloc: 0,
        }
    }

    /// `xas_invalid()`.
    #[inline(always)]
    fn invalid(&self) -> bool {
        self.xa_node & 3 != 0
    }

    /// `__xas_nomem()`, called after every store: whether the store failed
    /// for want of memory. The kernel then allocates a node with the
    /// caller's gfp and retries; this model does not retry (see the module
    /// documentation), so the caller undoes the store. Otherwise it frees
    /// the nodes preallocated in `xa_alloc` (`xas_destroy()`), which this
    /// model never makes. Out of line, as in the kernel.
    #[inline(never)]
    fn nomem(&mut self) -> bool {
        if self.xa_node != XAS_ENOMEM {
            debug_assert_eq!(self.xa_alloc, 0, "xas_destroy: a preallocated node");
            return false;
        }
        true
    }

    /// `xas_error()`: an `XAS_ERROR()` state (`xa_is_err()`).
    #[inline(always)]
    fn error(&self) -> bool {
        entry::is_internal(self.xa_node) && self.xa_node >= XAS_ERR_MIN
    }

    /// `xas_top()`.
    #[inline(always)]
    fn top(&self) -> bool {
        self.xa_node <= XAS_RESTART
    }

    #[inline(always)]
    fn node(&self) -> Option<&'a XaNode> {
        if self.xa_node == 0 || self.invalid() {
            None
        } else {
            // SAFETY: a valid `xa_node` is a live node (see `to_node`).
            Some(unsafe { &*(self.xa_node as *const XaNode) })
        }
    }

    /// `xas_start()`. Out of line, as in the kernel (see "Function
    /// boundaries" in the module documentation).
    #[inline(never)]
    fn start(&mut self) -> usize {
        if !self.invalid() {
            return self.reload(); // xas_valid()
        }
        if self.error() {
            return 0;
        }
        let entry = self.head.load(Acquire);
        if !is_node(entry) {
            if self.xa_index != 0 {
                self.xa_node = XAS_BOUNDS;
                return 0;
            }
        } else if (self.xa_index >> to_node(entry).shift.load(Relaxed)) > XA_CHUNK_MASK {
            self.xa_node = XAS_BOUNDS;
            return 0;
        }
        self.xa_node = 0;
        entry
    }

    /// `xas_reload()` (include/linux/xarray.h): the entry at the state's
    /// index in the node it already points at.
    #[inline(always)]
    fn reload(&self) -> usize {
        let Some(node) = self.node() else {
            return self.head.load(Acquire);
        };
        let entry = node.slot(get_offset(self.xa_index, node.shift.load(Relaxed)));
        if !is_sibling(entry) {
            return entry;
        }
        node.slot(to_sibling(entry))
    }

    /// `xas_descend()`: step into `node`, whose `shift` the caller has read
    /// (`node->shift` is a plain field in the kernel, read once by the
    /// compiled code however often the source names it); follow a sibling
    /// to its canonical slot.
    #[inline(always)]
    fn descend(&mut self, node: &XaNode, shift: u8) -> usize {
        let offset = get_offset(self.xa_index, shift);
        let entry = node.slot(offset);
        self.xa_node = node as *const XaNode as usize;
        if is_sibling(entry) {
            return self.descend_sibling(node, shift, entry);
        }
        self.xa_offset = offset as u8;
        entry
    }

    /// The sibling loop of `xas_descend()`, apart so the common path stays
    /// short (gcc lays the kernel's out of line in the same way): no store
    /// the designs make leaves a sibling entry, but every walk tests for one.
    #[cold]
    #[inline(never)]
    fn descend_sibling(&mut self, node: &XaNode, shift: u8, mut entry: usize) -> usize {
        let mut offset = 0;
        while is_sibling(entry) {
            offset = to_sibling(entry);
            entry = node.slot(offset);
            if shift != 0 && is_node(entry) {
                entry = RETRY_ENTRY;
            }
        }
        self.xa_offset = offset as u8;
        entry
    }

    /// `xas_load()`. Out of line (exported in the kernel).
    #[inline(never)]
    fn load(&mut self) -> usize {
        let mut entry = self.start();
        while is_node(entry) {
            let node = to_node(entry);
            let shift = node.shift.load(Relaxed);
            if self.xa_shift > shift {
                break;
            }
            entry = self.descend(node, shift);
            if shift == 0 {
                break;
            }
        }
        entry
    }

    /// `xas_retry()`: whether to walk again (a zero or retry entry).
    #[inline(always)]
    fn retry(&mut self, entry: usize) -> bool {
        if entry == ZERO_ENTRY {
            return true;
        }
        if entry != RETRY_ENTRY {
            return false;
        }
        self.xa_node = XAS_RESTART; // xas_reset()
        true
    }

    /// `xas_alloc()`: a node below the current one (or a new root). Out of
    /// line, as in the kernel.
    #[inline(never)]
    fn alloc(
        &mut self,
        cache: &mut NodeCache,
        kmem: &mut impl Kmem,
        shift: u8,
    ) -> Option<&'a XaNode> {
        if self.invalid() {
            return None;
        }
        if self.xa_alloc != 0 {
            // The kernel takes the preallocated node here.
            unreachable!("xas_alloc: this model never preallocates");
        }
        if kmem.alloc(KObj::XaNode).is_err() {
            self.xa_node = XAS_ENOMEM; // xas_set_err(xas, -ENOMEM)
            return None;
        }
        let ptr = cache.alloc();
        // SAFETY: a fresh node from the cache, published only below.
        let node: &'a XaNode = unsafe { &*ptr.as_ptr() };
        if let Some(parent) = self.node() {
            node.offset.store(self.xa_offset, Relaxed);
            let c = parent.count.load(Relaxed);
            debug_assert!((c as usize) < XA_CHUNK_SIZE);
            parent.count.store(c + 1, Relaxed);
        }
        debug_assert!(node.all_slots_empty());
        node.shift.store(shift, Relaxed);
        node.count.store(0, Relaxed);
        node.nr_values.store(0, Relaxed);
        node.parent.store(self.xa_node, Relaxed);
        node.array
            .store(self.head as *const AtomicUsize as usize, Relaxed);
        Some(node)
    }

    /// `xas_expand()`: add roots until the head covers `xa_index`; returns
    /// the shift below which `xas_create()` builds, or `None` on ENOMEM.
    #[inline]
    fn expand(
        &mut self,
        cache: &mut NodeCache,
        kmem: &mut impl Kmem,
        mut head: usize,
    ) -> Option<u8> {
        let max = self.xa_index; // xas_max() without siblings
        let mut shift: u32 = 0;
        if head == 0 {
            if max == 0 {
                return Some(0);
            }
            while (max >> shift) >= XA_CHUNK_SIZE as u64 {
                shift += XA_CHUNK_SHIFT;
            }
            return Some((shift + XA_CHUNK_SHIFT) as u8);
        } else if is_node(head) {
            shift = u32::from(to_node(head).shift.load(Relaxed)) + XA_CHUNK_SHIFT;
        }
        self.xa_node = 0;
        let mut node_addr = 0;
        while max > max_index(head) {
            let node = self.alloc(cache, kmem, shift as u8)?;
            node.count.store(1, Relaxed);
            if is_value(head) {
                node.nr_values.store(1, Relaxed);
            }
            node.slots[0].store(head, Relaxed);
            // The kernel copies the array-level marks (`xa_marked()`, bits
            // in `xa_flags`) into the new root here; this model keeps no
            // array-level marks (none is ever set), so there is nothing to
            // copy.
            if is_node(head) {
                let child = to_node(head);
                child.offset.store(0, Relaxed);
                child.parent.store(node as *const XaNode as usize, Release);
            }
            head = mk_node(NodePtr::from(node));
            self.head.store(head, Release);
            shift += XA_CHUNK_SHIFT;
            node_addr = node as *const XaNode as usize;
        }
        self.xa_node = node_addr;
        Some(shift as u8)
    }

    /// `xas_create()`: build the path to `xa_index`; returns the entry
    /// there (0 if none) with `xa_node`/`xa_offset` at its slot. Out of
    /// line, as in the kernel; `xas_expand()` is inlined into it.
    #[inline(never)]
    fn create(&mut self, cache: &mut NodeCache, kmem: &mut impl Kmem, allow_root: bool) -> usize {
        let order = self.xa_shift;
        let mut shift;
        let mut entry;
        let mut slot: &AtomicUsize;
        if self.top() {
            let head = self.head.load(Relaxed);
            self.xa_node = 0;
            match self.expand(cache, kmem, head) {
                Some(s) => shift = s,
                None => return 0,
            }
            if shift == 0 && !allow_root {
                shift = XA_CHUNK_SHIFT as u8;
            }
            entry = self.head.load(Relaxed);
            slot = self.head;
        } else if let Some(node) = self.node() {
            let offset = usize::from(self.xa_offset);
            shift = node.shift.load(Relaxed);
            entry = node.slots[offset].load(Relaxed);
            slot = &node.slots[offset];
        } else {
            shift = 0;
            entry = self.head.load(Relaxed);
            slot = self.head;
        }
        while shift > order {
            shift -= XA_CHUNK_SHIFT as u8;
            let node = if entry == 0 {
                let Some(node) = self.alloc(cache, kmem, shift) else {
                    break;
                };
                slot.store(mk_node(NodePtr::from(node)), Release); // rcu_assign_pointer
                node
            } else if is_node(entry) {
                to_node(entry)
            } else {
                break;
            };
            entry = self.descend(node, node.shift.load(Relaxed));
            slot = &node.slots[usize::from(self.xa_offset)];
        }
        entry
    }

    /// `xas_store()` for a single-index entry (`entry` 0 erases). Out of
    /// line (exported in the kernel); `update_node()`,
    /// `xas_delete_node()` and `xas_shrink()` are inlined into it.
    #[inline(never)]
    fn store(&mut self, cache: &mut NodeCache, kmem: &mut impl Kmem, entry: usize) -> usize {
        let value = is_value(entry);
        let mut first = if entry != 0 {
            let allow_root = !is_node(entry) && entry != ZERO_ENTRY;
            self.create(cache, kmem, allow_root)
        } else {
            self.load()
        };
        if self.invalid() {
            return first;
        }
        let node = self.node();
        if let Some(n) = node
            && self.xa_shift < n.shift.load(Relaxed)
        {
            self.xa_sibs = 0;
        }
        if first == entry && self.xa_sibs == 0 {
            return first;
        }
        let mut next = first;
        let mut offset = usize::from(self.xa_offset);
        let max = offset + usize::from(self.xa_sibs);
        let mut count: i32 = 0;
        let mut values: i32 = 0;
        if entry == 0 {
            self.init_marks();
        }
        let mut entry = entry;
        loop {
            match node {
                Some(n) => n.slots[offset].store(entry, Release),
                None => self.head.store(entry, Release),
            }
            if is_node(next) && node.is_none_or(|n| n.shift.load(Relaxed) != 0) {
                // xas_free_nodes(): replacing a subtree; never on the
                // single-index paths the designs use.
                unreachable!("xas_store: a node replaced by a single-index store");
            }
            let Some(n) = node else { break };
            count += i32::from(next == 0) - i32::from(entry == 0);
            values += i32::from(!is_value(first)) - i32::from(!value);
            if entry != 0 {
                if offset == max {
                    break;
                }
                if !is_sibling(entry) {
                    entry = entry::mk_internal(usize::from(self.xa_offset));
                }
            } else if offset == XA_CHUNK_MASK as usize {
                break;
            }
            offset += 1;
            next = n.slots[offset].load(Relaxed); // xa_entry_locked()
            if !is_sibling(next) {
                if entry == 0 && offset > max {
                    break;
                }
                first = next;
            }
        }
        self.update_node(cache, kmem, count, values);
        first
    }

    /// `update_node()`.
    #[inline]
    fn update_node(
        &mut self,
        cache: &mut NodeCache,
        kmem: &mut impl Kmem,
        count: i32,
        values: i32,
    ) {
        let Some(node) = self.node() else { return };
        if count == 0 && values == 0 {
            return;
        }
        let c = i32::from(node.count.load(Relaxed)) + count;
        let v = i32::from(node.nr_values.load(Relaxed)) + values;
        debug_assert!((0..=XA_CHUNK_SIZE as i32).contains(&c) && (0..=c).contains(&v));
        node.count.store(c as u8, Relaxed);
        node.nr_values.store(v as u8, Relaxed);
        if count < 0 {
            self.delete_node(cache, kmem);
        }
    }

    /// `xas_init_marks()`: clear every mark of the slot being erased. Out
    /// of line (exported in the kernel).
    #[inline(never)]
    fn init_marks(&mut self) {
        for mark in 0..XA_MAX_MARKS {
            self.clear_mark(mark);
        }
    }

    /// `xas_clear_mark()`: clear `mark` here and up the tree while the
    /// nodes have no other slot marked. Out of line (exported in the
    /// kernel).
    #[inline(never)]
    fn clear_mark(&mut self, mark: usize) {
        let mut node = self.node();
        let mut offset = usize::from(self.xa_offset);
        if self.invalid() {
            return;
        }
        while let Some(n) = node {
            if !n.clear_mark(offset, mark) {
                return;
            }
            if n.any_mark(mark) {
                return;
            }
            offset = usize::from(n.offset.load(Relaxed));
            let parent = n.parent.load(Relaxed);
            // SAFETY: a parent link names a live node (or is 0).
            node = (parent != 0).then(|| unsafe { &*(parent as *const XaNode) });
        }
        // xa_marked(): the array-level marks (xa_flags) are never set here.
    }

    /// `xas_delete_node()`: free the now-empty node and every ancestor that
    /// empties in turn; shrink if the root survives.
    #[inline]
    fn delete_node(&mut self, cache: &mut NodeCache, kmem: &mut impl Kmem) {
        let mut node = self.node().expect("xas_delete_node without a node");
        loop {
            if node.count.load(Relaxed) != 0 {
                if self.head.load(Relaxed) == mk_node(NodePtr::from(node)) {
                    self.shrink(cache, kmem);
                }
                return;
            }
            let parent = node.parent.load(Relaxed);
            self.xa_node = parent;
            self.xa_offset = node.offset.load(Relaxed);
            // Unlink before the free, as the kernel clears the parent's slot
            // (or the head) right after xa_node_free(): call_rcu() wants
            // the node unreachable when it may run the callback at once.
            let p = if parent == 0 {
                self.head.store(0, Release);
                None
            } else {
                // SAFETY: a parent link names a live node.
                let p = unsafe { &*(parent as *const XaNode) };
                p.slots[usize::from(self.xa_offset)].store(0, Release);
                Some(p)
            };
            // SAFETY: the node is empty and unlinked just above; readers
            // that found it earlier may still walk it until their grace
            // period ends, which `free_rcu` waits for.
            unsafe { cache.free_rcu(NodePtr::from(node)) };
            kmem.free(KObj::XaNode);
            let Some(p) = p else {
                self.xa_node = XAS_BOUNDS;
                return;
            };
            p.count.store(p.count.load(Relaxed) - 1, Relaxed);
            node = p;
        }
    }

    /// `xas_shrink()`: while the root's only slot in use is slot 0, make
    /// that slot the head and free the root.
    #[inline]
    fn shrink(&mut self, cache: &mut NodeCache, kmem: &mut impl Kmem) {
        let mut node = self.node().expect("xas_shrink without a node");
        loop {
            if node.count.load(Relaxed) != 1 {
                break;
            }
            let entry = node.slots[0].load(Relaxed);
            if entry == 0 {
                break;
            }
            if !is_node(entry) && node.shift.load(Relaxed) != 0 {
                break;
            }
            self.xa_node = XAS_BOUNDS;
            self.head.store(entry, Release);
            node.count.store(0, Relaxed);
            node.nr_values.store(0, Relaxed);
            if !is_node(entry) {
                // A reader still in the old root must start again.
                node.slots[0].store(RETRY_ENTRY, Release);
            }
            // SAFETY: unlinked from the head above; readers inside it are
            // waited for by the grace period.
            unsafe { cache.free_rcu(NodePtr::from(node)) };
            kmem.free(KObj::XaNode);
            if !is_node(entry) {
                break;
            }
            node = to_node(entry);
            node.parent.store(0, Relaxed);
        }
    }
}

impl<T: XaEntry> Default for XArray<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: XaEntry> XArray<T> {
    /// `xa_init()`: an empty array. Allocates nothing but the cache handle.
    pub fn new() -> Self {
        XArray {
            head: AtomicUsize::new(0),
            lock: SpinLock::new(Locked {
                cache: NodeCache::new(),
                nr_entries: 0,
            }),
            _entries: PhantomData,
        }
    }

    /// Bytes of one node in this model: the kernel's.
    pub const NODE_BYTES: usize = XA_NODE_KERNEL_SIZE;

    /// `xa_lock()`: exclusive writer access until the returned guard drops.
    #[inline]
    pub fn lock(&self) -> XaLock<'_, T> {
        XaLock {
            xa: self,
            locked: self.lock.lock(),
        }
    }

    /// `xa_load()`: the entry at `index`, read without `xa_lock` inside
    /// `rcu_read_lock()` .. `rcu_read_unlock()`. Out of line (exported in
    /// the kernel).
    #[inline(never)]
    pub fn load(&self, index: u64) -> Option<T> {
        let guard = rcu_read_lock();
        let entry = self.load_rcu(index, &guard);
        drop(guard);
        entry
    }

    /// `xa_load()`'s walk inside a read-side section the caller already
    /// holds, as a kernel caller inside `rcu_read_lock()` would use
    /// `xas_load()`.
    #[inline]
    pub fn load_rcu(&self, index: u64, _guard: &RcuReadGuard) -> Option<T> {
        let mut xas = XaState::new(self, index);
        let entry = loop {
            let mut entry = xas.load();
            if entry == ZERO_ENTRY {
                entry = 0; // xa_is_zero() reads as NULL
            }
            if !xas.retry(entry) {
                break entry;
            }
        };
        // SAFETY: non-internal words in slots were made by `T::into_word`.
        (entry != 0).then(|| unsafe { T::from_word(entry) })
    }

    /// `xa_store()`: take `xa_lock`, store, drop it. Out of line (exported
    /// in the kernel).
    #[inline(never)]
    pub fn store(&self, index: u64, entry: T, kmem: &mut impl Kmem) -> Result<Option<T>, Errno> {
        self.lock().store(index, entry, kmem)
    }

    /// `xa_erase()`: take `xa_lock`, erase, drop it. Out of line (exported
    /// in the kernel).
    #[inline(never)]
    pub fn erase(&self, index: u64, kmem: &mut impl Kmem) -> Option<T> {
        self.lock().erase(index, kmem)
    }

    /// Live `xa_node`s (takes `xa_lock`).
    pub fn nr_nodes(&self) -> usize {
        self.lock.lock().cache.live()
    }

    /// Heap bytes held by this array's node slabs.
    pub fn slab_bytes(&self) -> usize {
        self.lock.lock().cache.slab_bytes()
    }

    /// Entries stored (takes `xa_lock`).
    pub fn len(&self) -> usize {
        self.lock.lock().nr_entries
    }

    /// Whether no entry is stored (`xa_empty()`).
    pub fn is_empty(&self) -> bool {
        self.head.load(Acquire) == 0
    }

    /// Levels of nodes under the head: 0 when empty or when only index 0 is
    /// stored (in the head), else the root's `shift / 6 + 1`.
    pub fn height(&self) -> u32 {
        let _l = self.lock.lock();
        let head = self.head.load(Relaxed);
        if is_node(head) {
            u32::from(to_node(head).shift.load(Relaxed)) / XA_CHUNK_SHIFT + 1
        } else {
            0
        }
    }

    /// Present entries in index order (`xa_for_each()`), read under
    /// `xa_lock`.
    pub fn iter(&self) -> std::vec::IntoIter<(u64, T)> {
        self.lock().entries().into_iter()
    }

    /// `xa_destroy()`: free every node through `kmem` and forget every
    /// entry, leaving the array empty.
    pub fn destroy(&self, kmem: &mut impl Kmem) {
        self.lock().destroy(kmem);
    }

    /// Check every structural invariant (module header) and the counters;
    /// panics with the node and slot at fault. Walks the whole tree under
    /// `xa_lock`.
    pub fn check_invariants(&self) {
        self.lock().check_invariants();
    }
}

impl<T: XaEntry> XaLock<'_, T> {
    /// `xas_load()` under `xa_lock`.
    #[inline]
    pub fn load(&self, index: u64) -> Option<T> {
        let mut xas = XaState::new(self.xa, index);
        let entry = xas.load();
        // SAFETY: non-internal words in slots were made by `T::into_word`;
        // under xa_lock no retry or zero entry is left behind.
        (entry != 0 && entry != ZERO_ENTRY).then(|| unsafe { T::from_word(entry) })
    }

    /// `__xa_store()`: store `entry` at `index`; returns the entry it
    /// replaces.
    ///
    /// Context: `xa_lock` held (this guard). Each node the store needs is
    /// allocated through `kmem` (one `KObj::XaNode`).
    ///
    /// Return: the previous entry, or `Err(ENOMEM)` when a node allocation
    /// fails; the array is then exactly as before and the nodes allocated
    /// in this call are freed again through `kmem`.
    ///
    /// Out of line (exported in the kernel).
    #[inline(never)]
    pub fn store(
        &mut self,
        index: u64,
        entry: T,
        kmem: &mut impl Kmem,
    ) -> Result<Option<T>, Errno> {
        let word = entry.into_word();
        debug_assert!(word != 0 && !entry::is_internal(word));
        let cache = &mut self.locked.cache;
        let mut xas = XaState::new(self.xa, index);
        let curr = xas.store(cache, kmem, word);
        if xas.nomem() {
            self.undo_failed_store(index, kmem);
            return Err(Errno::ENOMEM);
        }
        let curr = if curr == ZERO_ENTRY { 0 } else { curr };
        if curr == 0 {
            self.locked.nr_entries += 1;
        }
        // SAFETY: a previous entry was made by `T::into_word`.
        Ok((curr != 0).then(|| unsafe { T::from_word(curr) }))
    }

    /// A store failed part-way: delete the empty nodes it linked (and the
    /// roots it added), which restores the array's shape exactly.
    #[cold]
    fn undo_failed_store(&mut self, index: u64, kmem: &mut impl Kmem) {
        let cache = &mut self.locked.cache;
        let mut xas = XaState::new(self.xa, index);
        // Find the deepest node on the path; the failed store left it empty
        // (or it is a pre-existing node, which has entries).
        let mut deepest = 0;
        let mut entry = xas.start();
        while is_node(entry) {
            let node = to_node(entry);
            deepest = node as *const XaNode as usize;
            let shift = node.shift.load(Relaxed);
            entry = xas.descend(node, shift);
            if shift == 0 {
                break;
            }
        }
        if deepest != 0 {
            xas.xa_node = deepest;
            // SAFETY: a node on the path is live.
            let node = unsafe { &*(deepest as *const XaNode) };
            if node.count.load(Relaxed) == 0 {
                xas.delete_node(cache, kmem);
            }
        }
        let head = self.xa.head.load(Relaxed);
        if is_node(head) {
            xas.xa_node = head - 2;
            xas.shrink(cache, kmem);
        }
    }

    /// `__xa_erase()`: remove and return the entry at `index`, freeing the
    /// nodes that empty and shrinking the tree. Cannot fail. Out of line
    /// (exported in the kernel).
    #[inline(never)]
    pub fn erase(&mut self, index: u64, kmem: &mut impl Kmem) -> Option<T> {
        let cache = &mut self.locked.cache;
        let mut xas = XaState::new(self.xa, index);
        let curr = xas.store(cache, kmem, 0);
        let curr = if curr == ZERO_ENTRY { 0 } else { curr };
        if curr == 0 {
            return None;
        }
        self.locked.nr_entries -= 1;
        // SAFETY: the erased entry was made by `T::into_word`.
        Some(unsafe { T::from_word(curr) })
    }

    /// Live `xa_node`s.
    pub fn nr_nodes(&self) -> usize {
        self.locked.cache.live()
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.locked.nr_entries
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.locked.nr_entries == 0
    }

    /// Every entry in index order.
    fn entries(&self) -> Vec<(u64, T)> {
        fn walk<T: XaEntry>(w: usize, base: u64, out: &mut Vec<(u64, T)>) {
            if is_node(w) {
                let n = to_node(w);
                let shift = n.shift.load(Relaxed);
                for (i, s) in n.slots.iter().enumerate() {
                    let e = s.load(Relaxed);
                    if e != 0 && !is_sibling(e) {
                        walk(e, base | ((i as u64) << shift), out);
                    }
                }
            } else if w != 0 && w != ZERO_ENTRY && w != RETRY_ENTRY {
                // SAFETY: a non-internal slot word came from `T::into_word`.
                out.push((base, unsafe { T::from_word(w) }));
            }
        }
        let mut out = Vec::with_capacity(self.locked.nr_entries);
        walk(self.xa.head.load(Relaxed), 0, &mut out);
        out
    }

    /// `xa_destroy()` under the lock.
    fn destroy(&mut self, kmem: &mut impl Kmem) {
        fn free_all(w: usize, cache: &mut NodeCache, kmem: &mut impl Kmem) {
            if !is_node(w) {
                return;
            }
            let n = to_node(w);
            for s in &n.slots {
                let e = s.swap(0, Relaxed);
                free_all(e, cache, kmem);
            }
            n.count.store(0, Relaxed);
            n.nr_values.store(0, Relaxed);
            // SAFETY: unlinked from the head by the caller; the grace
            // period covers readers still inside.
            unsafe { cache.free_rcu(to_node_ptr(w)) };
            kmem.free(KObj::XaNode);
        }
        let head = self.xa.head.swap(0, AcqRel);
        free_all(head, &mut self.locked.cache, kmem);
        self.locked.nr_entries = 0;
    }

    fn check_invariants(&self) {
        let cache = &self.locked.cache;
        cache.check_free_list();
        let head = self.xa.head.load(Relaxed);
        let nr = self.locked.nr_entries;
        if !is_node(head) {
            let want = usize::from(head != 0);
            assert_eq!(nr, want, "xarray: head {head:#x} but len {nr}");
            assert_eq!(
                cache.live(),
                0,
                "xarray: no root but {} live nodes",
                cache.live()
            );
            return;
        }
        let r = to_node(head);
        assert_eq!(r.parent.load(Relaxed), 0, "xarray: root has a parent");
        assert!(
            r.count.load(Relaxed) > 0,
            "xarray: empty root node left in the head"
        );
        let only_slot0 = r.count.load(Relaxed) == 1 && r.slots[0].load(Relaxed) != 0;
        assert!(
            !only_slot0,
            "xarray: not shrunk: root (shift {}) uses only slot 0",
            r.shift.load(Relaxed)
        );
        let (nodes, entries) = check_node(r, 0, self.xa as *const XArray<T> as usize);
        assert_eq!(nodes, cache.live(), "xarray: nodes in tree != nr_nodes");
        assert_eq!(entries, nr, "xarray: entries in tree != len");
    }
}

/// Check `n` (index prefix `base`) and its subtree; returns (nodes, entries).
fn check_node(n: &XaNode, base: u64, array: usize) -> (usize, usize) {
    let shift = n.shift.load(Relaxed);
    let me = n as *const XaNode as usize;
    let at = |slot: usize| format!("xarray: node shift {shift} base {base:#x} slot {slot}");
    assert!(
        shift.is_multiple_of(XA_CHUNK_SHIFT as u8),
        "xarray: node {base:#x} has shift {shift}"
    );
    assert_eq!(n.array.load(Relaxed), array, "{}: wrong array", at(0));
    assert!(
        n.marks.iter().all(|m| m.load(Relaxed) == 0),
        "{}: marks set",
        at(0)
    );
    let (mut nodes, mut entries, mut used, mut values) = (1, 0, 0, 0);
    for (offset, s) in n.slots.iter().enumerate() {
        let w = s.load(Relaxed);
        if w == 0 {
            continue;
        }
        used += 1;
        if shift == 0 {
            assert!(
                !entry::is_internal(w),
                "{}: internal entry in a leaf",
                at(offset)
            );
            entries += 1;
            values += usize::from(is_value(w));
            continue;
        }
        assert!(is_node(w), "{}: entry in an interior node", at(offset));
        let c = to_node(w);
        assert_eq!(
            c.parent.load(Relaxed),
            me,
            "{}: child's parent link is wrong",
            at(offset)
        );
        assert_eq!(
            usize::from(c.offset.load(Relaxed)),
            offset,
            "{}: child's offset is wrong",
            at(offset)
        );
        assert_eq!(
            c.shift.load(Relaxed) + XA_CHUNK_SHIFT as u8,
            shift,
            "{}: child's shift is wrong",
            at(offset)
        );
        assert!(
            c.count.load(Relaxed) > 0,
            "{}: empty non-root node not freed",
            at(offset)
        );
        let (cn, ce) = check_node(c, base | ((offset as u64) << shift), array);
        nodes += cn;
        entries += ce;
    }
    assert_eq!(
        usize::from(n.count.load(Relaxed)),
        used,
        "{}: count != used slots",
        at(0)
    );
    assert_eq!(
        usize::from(n.nr_values.load(Relaxed)),
        values,
        "{}: nr_values != value entries",
        at(0)
    );
    (nodes, entries)
}

impl<T> Drop for XArray<T> {
    fn drop(&mut self) {
        // Entries are `Copy` handles with nothing to drop; the nodes go back
        // through the grace period (a reader cannot exist any more, but the
        // cache's slabs are shared with pending callbacks either way).
        fn free_all(w: usize, cache: &mut NodeCache) {
            if !is_node(w) {
                return;
            }
            let n = to_node(w);
            for s in &n.slots {
                free_all(s.swap(0, Relaxed), cache);
            }
            // SAFETY: `&mut self`: nothing else can reach the node.
            unsafe { cache.free_rcu(to_node_ptr(w)) };
        }
        let head = *self.head.get_mut();
        free_all(head, &mut self.lock.get_mut().cache);
    }
}

impl<T: XaEntry + fmt::Debug> fmt::Debug for XArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
