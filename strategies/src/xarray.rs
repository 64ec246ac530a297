//! A Linux-like XArray: the radix tree of 64-slot `xa_node`s that the global
//! pfnmap tracking design keys by VMA (lib/xarray.c, include/linux/xarray.h).
//!
//! Structure: `xa_head` is empty, holds the entry for index 0 directly, or
//! points at the root node. A node of `shift` s covers `64 << s` indices;
//! leaves (`shift` 0) hold entries, interior nodes hold children. Index `k >
//! 0` needs the smallest `L` levels with `k < 64^L` (11 for a kernel pointer).
//!
//! Invariants (checked by [`XArray::check_invariants`]), as lib/xarray.c keeps
//! them, so the live node count is a function of the key set alone:
//! - every node's `count` is its number of used slots, and no node but the
//!   root is empty (`xas_delete_node()` frees emptied nodes up the chain);
//! - the tree is shrunk (`xas_shrink()`): the root never has slot 0 as its
//!   only used slot, and an array holding only index 0 has it in the head;
//! - children point back at their parent and their slot (`parent`, `offset`).
//!
//! Lock: none inside. The caller holds its `xa_lock` (a `SpinLock` around
//! the `XArray`) for [`XArray::store`] and [`XArray::erase`], as
//! `xa_store()`/`xa_erase()` take it. Lookups need `&self`, so they run
//! under the same lock (or a read lock): the kernel's lockless RCU walk in
//! `xa_load()` has no counterpart here.
//!
//! Allocation: `xa_store()` allocates nodes with `GFP_NOWAIT` under the lock
//! and, if that fails, drops the lock, allocates one node with the caller's
//! gfp and retries (`__xas_nomem()`). pfntrack models one attempt: the nodes a
//! store needs are reserved through the caller's [`Kmem`] (one
//! `KObj::XaNode` each) before any is linked; if one fails the reservation is
//! undone and the store returns `ENOMEM` with the array unchanged. (The
//! kernel builds the path a node at a time, so a failure part-way leaves the
//! nodes it already linked, empty, in the tree; the entries it holds are the
//! same as here.) Nodes are freed at once, where the kernel frees them after
//! an RCU grace period (`xa_node_free()` -> `call_rcu()`).
//!
//! Not modelled: marks, multi-index entries, value entries (`nr_values`),
//! `XA_FLAGS_ALLOC`, `CONFIG_BASE_SMALL`'s 16-slot nodes. Our node is 16
//! bytes of header plus 64 slots; the kernel's is [`XA_NODE_KERNEL_SIZE`]
//! bytes, the figure kernel-memory accounting must use.

mod node;
#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;

use crate::errno::Errno;
use crate::kmem::{KObj, Kmem};
use node::{NodeCache, NodePtr, Slots, SlotsMut, XaNode};

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
/// union (16), 64 slots (512), 3 mark bitmaps (24). Objects come from the
/// `radix_tree_node` cache.
pub const XA_NODE_KERNEL_SIZE: usize = 576;
/// Levels a full 64-bit index needs: `ceil(64 / XA_CHUNK_SHIFT)`.
pub const XA_MAX_HEIGHT: u32 = u64::BITS.div_ceil(XA_CHUNK_SHIFT);

/// What `xa_head` holds.
enum Head<T> {
    /// `NULL`: no entries.
    Empty,
    /// The entry at index 0, with no node (nothing else is stored).
    Entry(T),
    /// The root node.
    Node(NodePtr<T>),
}

/// A sparse array of `T` indexed by `u64`, laid out like the kernel's
/// XArray. See the module documentation for structure, invariants and
/// locking.
pub struct XArray<T> {
    head: Head<T>,
    /// Entries stored (`len`).
    nr_entries: usize,
    /// Where nodes come from; its live count is `nr_nodes`.
    cache: NodeCache<T>,
}

// SAFETY: the XArray owns its nodes exclusively (no node is shared with
// another XArray or handed out), so moving it to another thread moves
// everything it points at; sending it sends `T`s.
unsafe impl<T: Send> Send for XArray<T> {}
// SAFETY: `&XArray` only reads nodes and hands out `&T`; there is no
// interior mutability.
unsafe impl<T: Sync> Sync for XArray<T> {}

/// Slot number of `index` in a node of `shift` (`get_offset()`).
#[inline(always)]
fn get_offset(index: u64, shift: u8) -> usize {
    ((index >> shift) & XA_CHUNK_MASK) as usize
}

/// Levels of nodes needed to hold `index` (0 for index 0, which fits the head).
#[inline]
fn levels_for(index: u64) -> u32 {
    (u64::BITS - index.leading_zeros()).div_ceil(XA_CHUNK_SHIFT)
}

/// Shift of the root of a tree of `levels` (>= 1) levels.
#[inline]
fn root_shift(levels: u32) -> u8 {
    debug_assert!((1..=XA_MAX_HEIGHT).contains(&levels));
    ((levels - 1) * XA_CHUNK_SHIFT) as u8
}

/// Account `n` new `xa_node`s through `kmem`, all or none.
#[inline]
fn reserve_nodes(kmem: &mut impl Kmem, n: u32) -> Result<(), Errno> {
    for done in 0..n {
        if let Err(err) = kmem.alloc(KObj::XaNode) {
            for _ in 0..done {
                kmem.free(KObj::XaNode);
            }
            return Err(err);
        }
    }
    Ok(())
}

impl<T> Default for XArray<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> XArray<T> {
    /// Bytes of one node in this model (for heap cross-checks; kernel
    /// accounting uses [`XA_NODE_KERNEL_SIZE`]).
    pub const NODE_BYTES: usize = size_of::<XaNode<T>>();

    /// `xa_init()`: an empty array. Allocates nothing.
    pub const fn new() -> Self {
        XArray {
            head: Head::Empty,
            nr_entries: 0,
            cache: NodeCache::new(),
        }
    }

    /// Live `xa_node`s.
    #[inline]
    pub fn nr_nodes(&self) -> usize {
        self.cache.live()
    }

    /// Heap bytes held by this array's node slabs, including free and
    /// never-used nodes (slabs are kept until the array is dropped). For
    /// cross-checking a heap measurement, not for kernel-memory figures.
    pub fn slab_bytes(&self) -> usize {
        self.cache.slab_bytes()
    }

    /// Entries stored.
    #[inline]
    pub fn len(&self) -> usize {
        self.nr_entries
    }

    /// Whether no entry is stored (`xa_empty()`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        matches!(self.head, Head::Empty)
    }

    /// Levels of nodes under the head: 0 when empty or when only index 0 is
    /// stored (in the head), else the root's `shift / 6 + 1`.
    pub fn height(&self) -> u32 {
        match self.head {
            // SAFETY: the root is a live node owned by `self`.
            Head::Node(root) => u32::from(unsafe { root.as_ref() }.shift()) / XA_CHUNK_SHIFT + 1,
            Head::Empty | Head::Entry(_) => 0,
        }
    }

    /// `xa_load()`: the entry at `index`.
    #[inline]
    pub fn load(&self, index: u64) -> Option<&T> {
        let mut node = match &self.head {
            Head::Node(root) => *root,
            Head::Entry(entry) => return if index == 0 { Some(entry) } else { None },
            Head::Empty => return None,
        };
        // SAFETY: the root and every child pointer reachable from it are
        // live nodes owned by `self`; `&self` keeps them unchanged for the
        // lifetime of the returned reference.
        let root = unsafe { node.as_ref() };
        if (index >> root.shift()) > XA_CHUNK_MASK {
            return None; // xas_start(): beyond what the tree covers
        }
        loop {
            // SAFETY: as above.
            let n: &XaNode<T> = unsafe { node.as_ref() };
            let offset = get_offset(index, n.shift());
            match n.slots() {
                Slots::Leaf(entries) => return entries[offset].as_ref(),
                Slots::Interior(nodes) => node = nodes[offset]?,
            }
        }
    }

    /// The entry at `index`, for modifying in place (caller holds `xa_lock`).
    #[inline]
    pub fn load_mut(&mut self, index: u64) -> Option<&mut T> {
        let mut node = match &mut self.head {
            Head::Node(root) => *root,
            Head::Entry(entry) => return if index == 0 { Some(entry) } else { None },
            Head::Empty => return None,
        };
        // SAFETY: as in `load`; `&mut self` makes the access exclusive, and
        // only one node reference exists at a time.
        if (index >> unsafe { node.as_ref() }.shift()) > XA_CHUNK_MASK {
            return None;
        }
        loop {
            // SAFETY: as above.
            let n: &mut XaNode<T> = unsafe { &mut *node.as_ptr() };
            let offset = get_offset(index, n.shift());
            match n.slots_mut() {
                SlotsMut::Leaf(entries) => return entries[offset].as_mut(),
                SlotsMut::Interior(nodes) => node = nodes[offset]?,
            }
        }
    }

    /// `xa_store()`: store `entry` at `index` and return the entry it
    /// replaces.
    ///
    /// Context: the caller holds `xa_lock`. Nodes the store needs are
    /// accounted through `kmem` (one `KObj::XaNode` each) before any is
    /// linked.
    ///
    /// Return: the previous entry, or `Err(ENOMEM)` when a node allocation
    /// fails; the array is then exactly as before and the nodes accounted in
    /// this call are freed again through `kmem`.
    #[inline]
    pub fn store(
        &mut self,
        index: u64,
        entry: T,
        kmem: &mut impl Kmem,
    ) -> Result<Option<T>, Errno> {
        let mut node = match &mut self.head {
            Head::Node(root) => *root,
            Head::Entry(old) if index == 0 => return Ok(Some(std::mem::replace(old, entry))),
            Head::Empty if index == 0 => {
                self.head = Head::Entry(entry);
                self.nr_entries += 1;
                return Ok(None);
            }
            Head::Empty | Head::Entry(_) => return self.store_expand(index, entry, kmem),
        };
        // SAFETY: the root is live and owned by `self`.
        if (index >> unsafe { node.as_ref() }.shift()) > XA_CHUNK_MASK {
            return self.store_expand(index, entry, kmem);
        }
        loop {
            // SAFETY: nodes reachable from the head are live and owned by
            // `self`; `&mut self` makes this the only reference.
            let n: &mut XaNode<T> = unsafe { &mut *node.as_ptr() };
            let offset = get_offset(index, n.shift());
            match n.slots_mut() {
                SlotsMut::Leaf(entries) => {
                    let old = entries[offset].replace(entry);
                    if old.is_none() {
                        n.count += 1;
                        self.nr_entries += 1;
                    }
                    return Ok(old);
                }
                SlotsMut::Interior(nodes) => match nodes[offset] {
                    Some(child) => node = child,
                    None => {
                        let needed = u32::from(n.shift()) / XA_CHUNK_SHIFT;
                        reserve_nodes(kmem, needed)?;
                        self.create_path(node, index, entry);
                        return Ok(None);
                    }
                },
            }
        }
    }

    /// `xas_expand()` then `xas_create()`: the head is too small for `index`
    /// (empty, an index-0 entry, or a root of too small a shift). Grows the
    /// tree with new roots whose slot 0 holds the old head, then builds the
    /// path to `index`, which never exists yet (its root slot is not 0).
    #[cold]
    #[inline(never)]
    fn store_expand(
        &mut self,
        index: u64,
        entry: T,
        kmem: &mut impl Kmem,
    ) -> Result<Option<T>, Errno> {
        let want = levels_for(index);
        let have = self.height();
        debug_assert!(want > have && index != 0);
        // Wrapping nodes: one per new level above the old head; none when
        // the array is empty (the root is created by the path instead).
        let (wrap, path) = match self.head {
            Head::Empty => (0, want),
            Head::Entry(_) => (want, want - 1),
            Head::Node(_) => (want - have, want - 1),
        };
        reserve_nodes(kmem, wrap + path)?;

        let top = match std::mem::replace(&mut self.head, Head::Empty) {
            Head::Empty => self.cache.alloc(root_shift(want), 0, None),
            Head::Entry(old) => {
                let leaf = self.cache.alloc(0, 0, None);
                // SAFETY: `leaf` was just allocated and is referenced nowhere else.
                let l = unsafe { &mut *leaf.as_ptr() };
                l.entries_mut()[0] = Some(old);
                l.count = 1;
                self.wrap_root(leaf, want - 1)
            }
            Head::Node(root) => self.wrap_root(root, want - have),
        };
        self.head = Head::Node(top);
        self.create_path(top, index, entry);
        Ok(None)
    }

    /// Put `levels` new roots above `root`, each holding the previous one in
    /// slot 0; returns the new top (not yet in the head).
    fn wrap_root(&mut self, mut root: NodePtr<T>, levels: u32) -> NodePtr<T> {
        for _ in 0..levels {
            // SAFETY: `root` is live and owned by `self`; no other reference
            // to it exists during this block.
            let shift = unsafe { root.as_ref() }.shift() + XA_CHUNK_SHIFT as u8;
            let top = self.cache.alloc(shift, 0, None);
            // SAFETY: `top` is fresh and distinct from `root`.
            let t = unsafe { &mut *top.as_ptr() };
            t.nodes_mut()[0] = Some(root);
            t.count = 1;
            // SAFETY: as above; the reference to `top` is no longer used.
            let r = unsafe { &mut *root.as_ptr() };
            r.parent = Some(top);
            r.offset = 0;
            root = top;
        }
        root
    }

    /// `xas_create()`'s loop: `node`'s slot for `index` is empty; allocate
    /// the nodes below it down to the leaf (already accounted) and store.
    fn create_path(&mut self, mut node: NodePtr<T>, index: u64, entry: T) {
        loop {
            // SAFETY: `node` is live and owned by `self`; it is the only
            // node reference held.
            let n = unsafe { &mut *node.as_ptr() };
            let shift = n.shift();
            let offset = get_offset(index, shift);
            n.count += 1;
            if shift == 0 {
                let slot = &mut n.entries_mut()[offset];
                debug_assert!(slot.is_none());
                *slot = Some(entry);
                self.nr_entries += 1;
                return;
            }
            let child = self
                .cache
                .alloc(shift - XA_CHUNK_SHIFT as u8, offset as u8, Some(node));
            // SAFETY: `n` is still the only reference to `node`; the cache
            // returned a different, unlinked node.
            let slot = &mut unsafe { &mut *node.as_ptr() }.nodes_mut()[offset];
            debug_assert!(slot.is_none());
            *slot = Some(child);
            node = child;
        }
    }

    /// `xa_erase()`: remove and return the entry at `index`, freeing nodes
    /// that become empty (up the chain) through `kmem` and shrinking the
    /// tree.
    ///
    /// Context: the caller holds `xa_lock`. Cannot fail.
    #[inline]
    pub fn erase(&mut self, index: u64, kmem: &mut impl Kmem) -> Option<T> {
        let mut node = match &self.head {
            Head::Node(root) => *root,
            Head::Entry(_) if index == 0 => {
                let Head::Entry(old) = std::mem::replace(&mut self.head, Head::Empty) else {
                    unreachable!()
                };
                self.nr_entries -= 1;
                return Some(old);
            }
            Head::Entry(_) | Head::Empty => return None,
        };
        // SAFETY: the root is live and owned by `self`.
        if (index >> unsafe { node.as_ref() }.shift()) > XA_CHUNK_MASK {
            return None;
        }
        loop {
            // SAFETY: nodes reachable from the head are live and owned by
            // `self`; this is the only reference.
            let n: &mut XaNode<T> = unsafe { &mut *node.as_ptr() };
            let offset = get_offset(index, n.shift());
            match n.slots_mut() {
                SlotsMut::Leaf(entries) => {
                    let old = entries[offset].take()?;
                    n.count -= 1;
                    self.nr_entries -= 1;
                    if n.count == 0 {
                        self.delete_node(node, kmem);
                    } else if n.parent.is_none() {
                        self.shrink(kmem);
                    }
                    return Some(old);
                }
                SlotsMut::Interior(nodes) => node = nodes[offset]?,
            }
        }
    }

    /// `xas_delete_node()`: `node` just became empty; free it and every
    /// ancestor that empties in turn, then shrink if the root survived.
    fn delete_node(&mut self, mut node: NodePtr<T>, kmem: &mut impl Kmem) {
        loop {
            let (parent, offset) = {
                // SAFETY: `node` is live, owned by `self`, referenced only here.
                let n = unsafe { node.as_ref() };
                debug_assert_eq!(n.count, 0);
                (n.parent, usize::from(n.offset))
            };
            // SAFETY: `node` is empty; it is unlinked below (or is the root,
            // cleared from the head), and no reference to it remains.
            unsafe { self.cache.free(node) };
            kmem.free(KObj::XaNode);
            let Some(parent) = parent else {
                self.head = Head::Empty;
                return;
            };
            // SAFETY: the parent is live and owned by `self`.
            let p = unsafe { &mut *parent.as_ptr() };
            p.nodes_mut()[offset] = None;
            p.count -= 1;
            if p.count != 0 {
                if p.parent.is_none() {
                    self.shrink(kmem);
                }
                return;
            }
            node = parent;
        }
    }

    /// `xas_shrink()`: while the root's only used slot is slot 0, make that
    /// slot the head and free the root; ends with an entry in the head when
    /// only index 0 is left.
    fn shrink(&mut self, kmem: &mut impl Kmem) {
        while let Head::Node(root) = self.head {
            // SAFETY: the root is live, owned by `self`, referenced only here.
            let r = unsafe { &mut *root.as_ptr() };
            if r.count != 1 {
                return;
            }
            self.head = match r.slots_mut() {
                SlotsMut::Leaf(entries) => match entries[0].take() {
                    Some(entry) => Head::Entry(entry),
                    None => return,
                },
                SlotsMut::Interior(nodes) => match nodes[0].take() {
                    Some(child) => {
                        // SAFETY: the child is live and distinct from the root.
                        unsafe { &mut *child.as_ptr() }.parent = None;
                        Head::Node(child)
                    }
                    None => return,
                },
            };
            r.count = 0;
            // SAFETY: the old root is empty and no longer in the head; `r`
            // is not used again.
            unsafe { self.cache.free(root) };
            kmem.free(KObj::XaNode);
        }
    }

    /// `xa_destroy()`: drop every entry and free every node through `kmem`,
    /// leaving the array empty. Dropping an `XArray` frees its memory too,
    /// but without telling a `Kmem`.
    pub fn destroy(&mut self, kmem: &mut impl Kmem) {
        match std::mem::replace(&mut self.head, Head::Empty) {
            Head::Empty => {}
            Head::Entry(entry) => drop(entry),
            Head::Node(root) => self.free_subtree(root, kmem),
        }
        self.nr_entries = 0;
    }

    /// `xas_free_nodes()`: drop the entries under `node` and free it and
    /// every node below it (recursion depth is at most `XA_MAX_HEIGHT`).
    fn free_subtree(&mut self, node: NodePtr<T>, kmem: &mut impl Kmem) {
        // SAFETY: `node` is live, owned by `self`, unlinked from the head
        // by the caller; the reference ends before the node is freed.
        match unsafe { &mut *node.as_ptr() }.slots_mut() {
            SlotsMut::Leaf(entries) => entries.iter_mut().for_each(|e| drop(e.take())),
            SlotsMut::Interior(nodes) => {
                for child in nodes.iter_mut().filter_map(Option::take) {
                    self.free_subtree(child, kmem);
                }
            }
        }
        // SAFETY: every slot was emptied above; nothing refers to `node`.
        unsafe { self.cache.free(node) };
        kmem.free(KObj::XaNode);
    }

    /// Present entries in index order (`xa_for_each()`).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        let (node, head_entry) = match &self.head {
            Head::Empty => (None, None),
            Head::Entry(entry) => (None, Some(entry)),
            Head::Node(root) => (Some(*root), None),
        };
        Iter {
            node,
            offset: 0,
            index: 0,
            head_entry,
            left: self.nr_entries,
            _array: PhantomData,
        }
    }

    /// Check every structural invariant (module header) and the counters;
    /// panics with the node and slot at fault. Walks the whole tree.
    pub fn check_invariants(&self) {
        self.cache.check_free_list();
        match &self.head {
            Head::Empty => {
                assert_eq!(
                    self.nr_entries, 0,
                    "xarray: empty head but len {}",
                    self.nr_entries
                );
                assert_eq!(
                    self.nr_nodes(),
                    0,
                    "xarray: empty head but {} live nodes",
                    self.nr_nodes()
                );
            }
            Head::Entry(_) => {
                assert_eq!(
                    self.nr_entries, 1,
                    "xarray: entry in head but len {}",
                    self.nr_entries
                );
                assert_eq!(
                    self.nr_nodes(),
                    0,
                    "xarray: entry in head but {} live nodes",
                    self.nr_nodes()
                );
            }
            Head::Node(root) => {
                // SAFETY: the root is live and owned by `self`.
                let r = unsafe { root.as_ref() };
                assert!(r.parent.is_none(), "xarray: root has a parent");
                assert!(r.count > 0, "xarray: empty root node left in the head");
                let only_slot0 = r.count == 1
                    && match r.slots() {
                        Slots::Leaf(entries) => entries[0].is_some(),
                        Slots::Interior(nodes) => nodes[0].is_some(),
                    };
                assert!(
                    !only_slot0,
                    "xarray: not shrunk: root (shift {}) uses only slot 0",
                    r.shift()
                );
                let (nodes, entries) = self.check_node(*root, 0);
                assert_eq!(nodes, self.nr_nodes(), "xarray: nodes in tree != nr_nodes");
                assert_eq!(entries, self.nr_entries, "xarray: entries in tree != len");
            }
        }
    }

    /// Check `node` (whose index prefix is `base`) and its subtree; returns
    /// (nodes, entries) found.
    fn check_node(&self, node: NodePtr<T>, base: u64) -> (usize, usize) {
        // SAFETY: nodes reachable from the head are live and owned by `self`.
        let n = unsafe { node.as_ref() };
        let shift = n.shift();
        assert!(
            shift % XA_CHUNK_SHIFT as u8 == 0,
            "xarray: node {base:#x} has shift {shift}"
        );
        let mut nodes = 1;
        let mut entries = 0;
        let used = match n.slots() {
            Slots::Leaf(slots) => {
                let used = slots.iter().filter(|s| s.is_some()).count();
                entries += used;
                used
            }
            Slots::Interior(slots) => {
                let mut used = 0;
                for (offset, child) in slots.iter().enumerate() {
                    let Some(child) = *child else { continue };
                    used += 1;
                    // SAFETY: as above.
                    let c = unsafe { child.as_ref() };
                    let at = || format!("xarray: node shift {shift} base {base:#x} slot {offset}");
                    assert!(
                        c.parent == Some(node),
                        "{}: child's parent link is wrong",
                        at()
                    );
                    assert!(
                        usize::from(c.offset) == offset,
                        "{}: child's offset is wrong",
                        at()
                    );
                    assert!(
                        c.shift() + XA_CHUNK_SHIFT as u8 == shift,
                        "{}: child's shift is wrong",
                        at()
                    );
                    assert!(c.count > 0, "{}: empty non-root node not freed", at());
                    let child_base = base | ((offset as u64) << shift);
                    let (n, e) = self.check_node(child, child_base);
                    nodes += n;
                    entries += e;
                }
                used
            }
        };
        assert_eq!(
            usize::from(n.count),
            used,
            "xarray: node shift {shift} base {base:#x}: count != used slots"
        );
        (nodes, entries)
    }
}

impl<T> Drop for XArray<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return; // the cache frees the slabs; no entry needs a destructor
        }
        // Nothing to account to: the owner had its chance with `destroy`.
        self.destroy(&mut crate::kmem::NoAccounting);
    }
}

impl<T: fmt::Debug> fmt::Debug for XArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// [`XArray::iter`]'s iterator: an `xas_find()` walk using the nodes'
/// parent links, so it needs no stack.
struct Iter<'a, T> {
    /// Node being scanned; `None` when done (or the head held the entry).
    node: Option<NodePtr<T>>,
    /// Next slot to look at in `node`.
    offset: usize,
    /// Index bits of the path so far; the bits of each level are set when
    /// its slot is chosen, so they are all right once a leaf is reached.
    index: u64,
    /// The index-0 entry held in the head, not yet returned.
    head_entry: Option<&'a T>,
    /// Entries not yet returned.
    left: usize,
    _array: PhantomData<&'a XArray<T>>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = (u64, &'a T);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.head_entry.take() {
            self.left -= 1;
            return Some((0, entry));
        }
        while let Some(node) = self.node {
            // SAFETY: the iterator borrows the XArray for 'a, so its nodes
            // stay live and unchanged.
            let n: &'a XaNode<T> = unsafe { node.as_ref() };
            let from = self.offset;
            match n.slots() {
                Slots::Leaf(entries) => {
                    let found = entries[from..].iter().position(Option::is_some);
                    if let Some(i) = found {
                        let offset = from + i;
                        self.offset = offset + 1;
                        self.left -= 1;
                        let index = (self.index & !XA_CHUNK_MASK) | offset as u64;
                        return entries[offset].as_ref().map(|entry| (index, entry));
                    }
                }
                Slots::Interior(nodes) => {
                    let found = nodes[from..]
                        .iter()
                        .enumerate()
                        .find_map(|(i, c)| Some((i, (*c)?)));
                    if let Some((i, child)) = found {
                        let offset = from + i;
                        let shift = n.shift();
                        self.index =
                            (self.index & !(XA_CHUNK_MASK << shift)) | ((offset as u64) << shift);
                        // Back here, the walk resumes after the child's
                        // own `offset`.
                        self.node = Some(child);
                        self.offset = 0;
                        continue;
                    }
                }
            }
            // This node is done: continue after it in its parent.
            self.offset = usize::from(n.offset) + 1;
            self.node = n.parent;
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}
