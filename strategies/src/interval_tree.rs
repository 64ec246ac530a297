//! The augmented interval red-black tree that holds x86's PAT memtype
//! reservations: what arch/x86/mm/pat/memtype_interval.c builds with
//! `INTERVAL_TREE_DEFINE()` (include/linux/interval_tree_generic.h) over
//! lib/rbtree.c and the augment callbacks of include/linux/rbtree_augmented.h.
//!
//! Structure: a red-black tree of closed intervals `[start, last]` (inclusive
//! `last`, as in interval_tree_generic.h; the memtype layer passes `end - 1`),
//! ordered by `start`. Equal starts descend to the right, so duplicates are
//! allowed and keep their insertion order in an in-order walk. Nodes live in an
//! arena (`Vec`) addressed by `u32` indices; freed slots are reused LIFO, as a
//! slab would hand back the object just freed. The tree caches its leftmost
//! node like `struct rb_root_cached`.
//!
//! Invariant: the red-black rules (root black, no red node with a red child,
//! the same number of black nodes on every root-to-leaf path), in-order starts
//! non-decreasing, and every node's `subtree_last` equal to the largest `last`
//! in its subtree. `subtree_last` is kept exact on insert (raised on the way
//! down), on erase (recomputed upwards, the `propagate` and `copy` callbacks)
//! and on every rotation (the `rotate` callback). [`IntervalTree::check_invariants`]
//! verifies all of it.
//!
//! Locking is the caller's (`memtype_lock` in arch/x86/mm/pat/memtype.c): the
//! tree itself is a plain single-threaded structure taking `&mut self` to
//! change.
//!
//! Written from the kernel's documented semantics, not translated from its
//! source.

use std::fmt;

/// The "no node" index, the arena's NULL pointer.
const NIL: u32 = u32::MAX;

/// Handle to a node; stable until that node is removed (then its slot may be
/// reused by a later insert, like a pointer that was `kfree()`d and handed out
/// again by the slab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    /// The arena slot this handle names (for diagnostics and tests).
    pub fn index(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Color {
    Red,
    Black,
}

/// One tree node: `struct memtype`'s `start`, `end - 1`, `subtree_max_end`
/// and `rb_node`, with the caller's value in place of `type`.
///
/// ```text
///  0        8              16      20      24       32      36    37     64
///  | start  | subtree_last | left  | right | last   | parent| color| value.. |
///  '------- read at every level of a descent ------'
/// ```
///
/// Aligned to 64 bytes, so a node fills one cache line as the kernel's
/// 56-byte `struct memtype` fills its kmalloc-64 object: at 1M entries the
/// tree's cost is cache and TLB misses, and a 40-byte node packed at a
/// 40-byte stride would straddle two lines for half the nodes (two misses
/// where the kernel takes one) while needing fewer pages (fewer TLB misses).
/// The calibration (scripts/calibrate.sh) compares the two.
#[repr(C, align(64))]
struct Node<V> {
    start: u64,
    /// Largest `last` in the subtree rooted here, this node included.
    /// Exact, not merely an upper bound: the early stop of `propagate` relies
    /// on it.
    subtree_last: u64,
    /// `[left, right]`, `NIL` when absent. On a free slot `child[0]` links
    /// the free list.
    child: [u32; 2],
    last: u64,
    /// `NIL` for the root.
    parent: u32,
    color: Color,
    /// `None` exactly when the slot is free.
    value: Option<V>,
}

/// An augmented interval red-black tree of `[start, last]` ranges carrying a
/// `V` each. See the module documentation for structure and invariants.
pub struct IntervalTree<V> {
    nodes: Vec<Node<V>>,
    root: u32,
    /// Cached first node in order (`rb_root_cached::rb_leftmost`), `NIL` when
    /// empty.
    leftmost: u32,
    /// Head of the free-slot list, threaded through `child[0]`.
    free: u32,
    len: usize,
}

impl<V> Default for IntervalTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> IntervalTree<V> {
    /// An empty tree (`RB_ROOT_CACHED`).
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty tree whose arena holds `n` nodes before it reallocates.
    pub fn with_capacity(n: usize) -> Self {
        IntervalTree {
            nodes: Vec::with_capacity(n),
            root: NIL,
            leftmost: NIL,
            free: NIL,
            len: 0,
        }
    }

    /// Number of intervals in the tree.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tree holds no interval.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of node slots the arena can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// Whether `id` names a node currently in the tree. A removed node's id
    /// reads as live again once its slot is reused.
    pub fn contains(&self, id: NodeId) -> bool {
        self.nodes
            .get(id.0 as usize)
            .is_some_and(|n| n.value.is_some())
    }

    /// Remove every interval, keeping the arena's memory.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.root = NIL;
        self.leftmost = NIL;
        self.free = NIL;
        self.len = 0;
    }

    // `n` and `nm` follow a link without a bounds check, as the kernel's
    // rb_node pointers are followed: a bounds check at every level of every
    // walk made the tree do 1.6-1.9 times the kernel's instructions per op
    // (`scripts/calibrate.sh --count`), most of the difference. They take
    // only links read from the tree itself (`root`, `leftmost`, `child`,
    // `parent`, never NIL at the call) or ids that `live()` checked.
    // Invariant: every such link is a slot index below `nodes.len()`,
    // because slots are only pushed, never popped, and `clear()` resets
    // every link together with the arena; `check_invariants` verifies it.

    #[inline(always)]
    fn n(&self, i: u32) -> &Node<V> {
        debug_assert!((i as usize) < self.nodes.len(), "link {i} past the arena");
        // SAFETY: `i` is a link of this tree or a checked id, below
        // `nodes.len()` by the invariant stated above.
        unsafe { self.nodes.get_unchecked(i as usize) }
    }

    #[inline(always)]
    fn nm(&mut self, i: u32) -> &mut Node<V> {
        debug_assert!((i as usize) < self.nodes.len(), "link {i} past the arena");
        // SAFETY: as in `n`.
        unsafe { self.nodes.get_unchecked_mut(i as usize) }
    }

    #[inline(always)]
    fn live(&self, id: NodeId) -> &Node<V> {
        match self.nodes.get(id.0 as usize) {
            Some(n) if n.value.is_some() => n,
            _ => panic!("interval tree: {id:?} is not in the tree"),
        }
    }

    #[inline(always)]
    fn is_red(&self, i: u32) -> bool {
        i != NIL && self.n(i).color == Color::Red
    }

    /// `interval_insert()`: add `[start, last]` (inclusive) after every
    /// interval already present with the same start.
    ///
    /// Return: the new node's id. O(log n).
    pub fn insert(&mut self, start: u64, last: u64, value: V) -> NodeId {
        debug_assert!(
            start <= last,
            "interval tree: insert of [{start:#x}, {last:#x}] with start > last"
        );
        // Fail before touching the tree, not halfway through.
        assert!(
            self.free != NIL || self.nodes.len() < NIL as usize,
            "interval tree: more than u32::MAX - 1 nodes"
        );
        // Descend, raising subtree_last on the way: the new node will sit
        // below every node visited.
        let mut parent = NIL;
        let mut dir = 0;
        let mut leftmost = true;
        let mut cur = self.root;
        while cur != NIL {
            let n = self.nm(cur);
            if n.subtree_last < last {
                n.subtree_last = last;
            }
            parent = cur;
            dir = usize::from(start >= n.start);
            leftmost &= dir == 0;
            cur = n.child[dir];
        }
        let node = Node {
            start,
            subtree_last: last,
            child: [NIL; 2],
            last,
            parent,
            color: Color::Red,
            value: Some(value),
        };
        let id = if self.free != NIL {
            let id = self.free;
            let slot = self.nm(id);
            let next = slot.child[0];
            *slot = node;
            self.free = next;
            id
        } else {
            // Checked above: below NIL, so it fits.
            let id = self.nodes.len() as u32;
            self.nodes.push(node);
            id
        };
        if parent == NIL {
            self.root = id;
        } else {
            self.nm(parent).child[dir] = id;
        }
        if leftmost {
            self.leftmost = id;
        }
        self.insert_fixup(id);
        self.len += 1;
        NodeId(id)
    }

    /// `interval_remove()`: unlink `id` and hand back its value; its slot
    /// goes to the free list.
    ///
    /// Panics if `id` is not in the tree. O(log n).
    pub fn remove(&mut self, id: NodeId) -> V {
        self.live(id);
        let z = id.0;
        if self.leftmost == z {
            self.leftmost = self.next_in_order(z);
        }
        let Node {
            child: [zl, zr],
            parent: zp,
            color: zcolor,
            ..
        } = *self.n(z);
        // Parent of a NIL position that lost a black node, if any.
        let mut rebalance = NIL;
        if zl == NIL || zr == NIL {
            let child = if zl == NIL { zr } else { zl };
            self.replace_child(zp, z, child);
            if child != NIL {
                // A node with one child is black and the child a red leaf:
                // the child takes over the black.
                debug_assert!(zcolor == Color::Black && self.is_red(child));
                let c = self.nm(child);
                c.parent = zp;
                c.color = Color::Black;
            } else if zcolor == Color::Black {
                rebalance = zp;
            }
            self.propagate(zp, NIL);
        } else {
            // Two children: the successor y (leftmost of the right subtree)
            // takes z's place, colour and subtree_last; y's right child x
            // takes y's old place under xp.
            let mut y = zr;
            let xp;
            let x;
            if self.n(zr).child[0] == NIL {
                xp = y;
                x = self.n(y).child[1];
            } else {
                while self.n(y).child[0] != NIL {
                    y = self.n(y).child[0];
                }
                xp = self.n(y).parent;
                x = self.n(y).child[1];
                self.nm(xp).child[0] = x;
                self.nm(y).child[1] = zr;
                self.nm(zr).parent = y;
            }
            let ycolor = self.n(y).color;
            let zlast = self.n(z).subtree_last;
            let yn = self.nm(y);
            yn.child[0] = zl;
            yn.parent = zp;
            yn.color = zcolor;
            yn.subtree_last = zlast;
            self.nm(zl).parent = y;
            self.replace_child(zp, z, y);
            if x != NIL {
                debug_assert!(ycolor == Color::Black && self.is_red(x));
                let xn = self.nm(x);
                xn.parent = xp;
                xn.color = Color::Black;
            } else if ycolor == Color::Black {
                rebalance = xp;
            }
            // y's copied value may be stale (it counted z), so recompute it
            // even when the walk from xp stops early below it.
            self.propagate(xp, y);
            self.propagate(y, NIL);
        }
        if rebalance != NIL {
            self.erase_fixup(rebalance);
        }
        let free = self.free;
        let slot = self.nm(z);
        let value = slot.value.take().expect("checked live above");
        slot.child[0] = free;
        self.free = z;
        self.len -= 1;
        value
    }

    /// The inclusive start of `id`'s interval. Panics if `id` is not in the tree.
    #[inline]
    pub fn start(&self, id: NodeId) -> u64 {
        self.live(id).start
    }

    /// The inclusive last address of `id`'s interval. Panics if `id` is not in
    /// the tree.
    #[inline]
    pub fn last(&self, id: NodeId) -> u64 {
        self.live(id).last
    }

    /// The value stored with `id`. Panics if `id` is not in the tree.
    #[inline]
    pub fn value(&self, id: NodeId) -> &V {
        self.live(id).value.as_ref().expect("live node has a value")
    }

    /// The value stored with `id`, mutably; the interval itself cannot change
    /// in place (remove and reinsert, as memtype.c does). Panics if `id` is
    /// not in the tree.
    #[inline]
    pub fn value_mut(&mut self, id: NodeId) -> &mut V {
        self.live(id);
        self.nm(id.0).value.as_mut().expect("live node has a value")
    }

    /// `interval_iter_first()`: the first node in order (lowest start; among
    /// equal starts the earliest inserted) whose interval intersects
    /// `[start, last]`.
    #[inline]
    pub fn iter_first(&self, start: u64, last: u64) -> Option<NodeId> {
        if self.root == NIL
            || self.n(self.root).subtree_last < start
            || self.n(self.leftmost).start > last
        {
            return None;
        }
        self.subtree_search(self.root, start, last)
    }

    /// `interval_iter_next()`: the next node in order after `id` whose
    /// interval intersects `[start, last]`. Panics if `id` is not in the tree.
    pub fn iter_next(&self, id: NodeId, start: u64, last: u64) -> Option<NodeId> {
        self.live(id);
        let mut node = id.0;
        let mut right = self.n(node).child[1];
        loop {
            // Everything after `node` in order is in its right subtree or
            // above it; the right subtree comes first.
            if right != NIL && start <= self.n(right).subtree_last {
                return self.subtree_search(right, start, last);
            }
            // Climb to the first ancestor we reach from its left side.
            loop {
                let parent = self.n(node).parent;
                if parent == NIL {
                    return None;
                }
                let from = node;
                node = parent;
                right = self.n(node).child[1];
                if right != from {
                    break;
                }
            }
            let n = self.n(node);
            if last < n.start {
                return None;
            }
            if start <= n.last {
                return Some(NodeId(node));
            }
        }
    }

    /// Every node intersecting `[start, last]`, in order: `iter_first` then
    /// `iter_next` (the kernel's `interval_iter_first/next` loop).
    pub fn overlaps(&self, start: u64, last: u64) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::successors(self.iter_first(start, last), move |&id| {
            self.iter_next(id, start, last)
        })
    }

    /// Every node, in order (`rb_first()` then `rb_next()`).
    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        let first = (self.leftmost != NIL).then_some(NodeId(self.leftmost));
        std::iter::successors(first, move |&id| {
            let next = self.next_in_order(id.0);
            (next != NIL).then_some(NodeId(next))
        })
    }

    /// Leftmost node of the subtree at `node` that intersects
    /// `[start, last]`. Requires `start <= subtree_last(node)`.
    #[inline]
    fn subtree_search(&self, mut node: u32, start: u64, last: u64) -> Option<NodeId> {
        loop {
            let n = self.n(node);
            let left = n.child[0];
            if left != NIL && start <= self.n(left).subtree_last {
                // Some node on the left ends late enough; the first such node
                // is the answer if it starts early enough, and if it does not,
                // nothing after it does either.
                node = left;
                continue;
            }
            if n.start > last {
                return None;
            }
            if start <= n.last {
                return Some(NodeId(node));
            }
            let right = n.child[1];
            if right == NIL || self.n(right).subtree_last < start {
                return None;
            }
            node = right;
        }
    }

    /// In-order successor index of `node`, `NIL` after the last (`rb_next()`).
    fn next_in_order(&self, mut node: u32) -> u32 {
        let right = self.n(node).child[1];
        if right != NIL {
            node = right;
            while self.n(node).child[0] != NIL {
                node = self.n(node).child[0];
            }
            return node;
        }
        loop {
            let parent = self.n(node).parent;
            if parent == NIL || self.n(parent).child[0] == node {
                return parent;
            }
            node = parent;
        }
    }

    /// `compute_subtree_last()`: the node's own last and its children's
    /// subtree_last, whichever is largest.
    #[inline(always)]
    fn compute_subtree_last(&self, i: u32) -> u64 {
        let n = self.n(i);
        let mut max = n.last;
        for c in n.child {
            if c != NIL {
                max = max.max(self.n(c).subtree_last);
            }
        }
        max
    }

    /// The augment `propagate` callback: recompute subtree_last from `node`
    /// up to, not including, `stop`, ending early once a value is unchanged
    /// (everything above is then unchanged too).
    fn propagate(&mut self, mut node: u32, stop: u32) {
        while node != stop {
            let s = self.compute_subtree_last(node);
            let n = self.nm(node);
            if n.subtree_last == s {
                break;
            }
            n.subtree_last = s;
            node = n.parent;
        }
    }

    /// Point `parent`'s link to `old` at `new` (or the root, if `parent` is
    /// `NIL`).
    #[inline(always)]
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else {
            let p = self.nm(parent);
            let d = usize::from(p.child[1] == old);
            p.child[d] = new;
        }
    }

    /// Rotate at `x` towards side `d` (`d == 0`: left rotation): x's child on
    /// the other side takes x's place and x becomes its child on side `d`.
    /// Also the augment `rotate` callback: the risen node now spans exactly
    /// what x spanned, and x is recomputed from its new children.
    fn rotate(&mut self, x: u32, d: usize) {
        let y = self.n(x).child[1 - d];
        let b = self.n(y).child[d];
        let p = self.n(x).parent;
        let xlast = self.n(x).subtree_last;
        {
            let xn = self.nm(x);
            xn.child[1 - d] = b;
            xn.parent = y;
        }
        if b != NIL {
            self.nm(b).parent = x;
        }
        {
            let yn = self.nm(y);
            yn.child[d] = x;
            yn.parent = p;
            yn.subtree_last = xlast;
        }
        self.replace_child(p, x, y);
        let s = self.compute_subtree_last(x);
        self.nm(x).subtree_last = s;
    }

    /// Restore the red-black rules after linking the red leaf `node`
    /// (`__rb_insert()`'s job).
    fn insert_fixup(&mut self, mut node: u32) {
        loop {
            let parent = self.n(node).parent;
            if parent == NIL {
                self.nm(node).color = Color::Black;
                return;
            }
            if self.n(parent).color == Color::Black {
                return;
            }
            // A red parent is never the root, so the grandparent exists.
            let gparent = self.n(parent).parent;
            debug_assert!(gparent != NIL, "red root");
            let d = usize::from(self.n(gparent).child[1] == parent);
            let uncle = self.n(gparent).child[1 - d];
            if self.is_red(uncle) {
                // Push the red up and continue from the grandparent.
                self.nm(parent).color = Color::Black;
                self.nm(uncle).color = Color::Black;
                self.nm(gparent).color = Color::Red;
                node = gparent;
                continue;
            }
            let mut parent = parent;
            if self.n(parent).child[1 - d] == node {
                // Inner grandchild: turn it into an outer one first.
                self.rotate(parent, d);
                parent = node;
            }
            self.rotate(gparent, 1 - d);
            self.nm(parent).color = Color::Black;
            self.nm(gparent).color = Color::Red;
            return;
        }
    }

    /// Restore the red-black rules after a black node was removed from below
    /// `parent`, leaving one side a black short (`____rb_erase_color()`'s
    /// job). The short side starts as a `NIL` position.
    fn erase_fixup(&mut self, mut parent: u32) {
        let mut node = NIL;
        loop {
            // `node` (black or NIL, not the root) is one black short. Its
            // sibling is never NIL: that side has a black height of at least 1.
            let d = usize::from(self.n(parent).child[1] == node);
            let mut sib = self.n(parent).child[1 - d];
            if self.is_red(sib) {
                // Red sibling: rotate it up so the sibling is black.
                self.rotate(parent, d);
                self.nm(sib).color = Color::Black;
                self.nm(parent).color = Color::Red;
                sib = self.n(parent).child[1 - d];
            }
            let mut far = self.n(sib).child[1 - d];
            if !self.is_red(far) {
                let near = self.n(sib).child[d];
                if !self.is_red(near) {
                    // Both nephews black: take a black off the sibling's side
                    // and move the shortage up.
                    self.nm(sib).color = Color::Red;
                    if self.n(parent).color == Color::Red {
                        self.nm(parent).color = Color::Black;
                        return;
                    }
                    node = parent;
                    parent = self.n(node).parent;
                    if parent == NIL {
                        return;
                    }
                    continue;
                }
                // Near nephew red: rotate it up to be the far one's parent.
                self.rotate(sib, 1 - d);
                far = sib;
                sib = near;
            }
            // Far nephew red: rotate the sibling up; it takes the parent's
            // colour, the parent and far nephew turn black.
            self.rotate(parent, d);
            let pcolor = self.n(parent).color;
            self.nm(sib).color = pcolor;
            self.nm(parent).color = Color::Black;
            self.nm(far).color = Color::Black;
            return;
        }
    }

    /// Check every invariant in the module header, the cached leftmost node,
    /// the length and the free list; panics naming the offending node.
    /// O(n).
    pub fn check_invariants(&self) {
        let mut seen = vec![false; self.nodes.len()];
        let mut count = 0usize;
        if self.root != NIL {
            let r = self.n(self.root);
            assert!(
                r.parent == NIL,
                "interval tree: root {} has parent {}",
                self.root,
                r.parent
            );
            assert!(
                r.color == Color::Black,
                "interval tree: root {} is red",
                self.root
            );
            self.check_subtree(self.root, &mut seen, &mut count);
        }
        assert_eq!(
            count, self.len,
            "interval tree: {count} nodes reachable but len is {}",
            self.len
        );
        // Leftmost.
        let mut first = self.root;
        while first != NIL && self.n(first).child[0] != NIL {
            first = self.n(first).child[0];
        }
        assert_eq!(
            self.leftmost, first,
            "interval tree: cached leftmost {} but the first node is {first}",
            self.leftmost
        );
        // Free list: exactly the unreachable slots, each free.
        let mut free = self.free;
        let mut nr_free = 0usize;
        while free != NIL {
            let i = free as usize;
            assert!(
                i < self.nodes.len(),
                "interval tree: free list points past the arena at {free}"
            );
            assert!(
                !seen[i] && self.nodes[i].value.is_none(),
                "interval tree: slot {free} is on the free list but in use"
            );
            seen[i] = true;
            nr_free += 1;
            free = self.nodes[i].child[0];
        }
        assert_eq!(
            nr_free + self.len,
            self.nodes.len(),
            "interval tree: {} slots, {} in the tree, {nr_free} free: slots leaked",
            self.nodes.len(),
            self.len
        );
        // Order: in-order starts non-decreasing.
        let mut prev: Option<(NodeId, u64)> = None;
        for id in self.iter() {
            let s = self.start(id);
            if let Some((p, ps)) = prev {
                assert!(
                    ps <= s,
                    "interval tree: {p:?} (start {ps:#x}) comes before {id:?} (start {s:#x}) in order"
                );
            }
            prev = Some((id, s));
        }
    }

    /// Check the subtree at `i`; return its black height.
    fn check_subtree(&self, i: u32, seen: &mut [bool], count: &mut usize) -> usize {
        assert!(
            (i as usize) < self.nodes.len(),
            "interval tree: link to {i} points past the arena"
        );
        assert!(!seen[i as usize], "interval tree: node {i} linked twice");
        seen[i as usize] = true;
        *count += 1;
        let n = self.n(i);
        assert!(n.value.is_some(), "interval tree: free slot {i} is linked");
        assert!(
            n.start <= n.last,
            "interval tree: node {i} has start {:#x} > last {:#x}",
            n.start,
            n.last
        );
        let mut heights = [0usize; 2];
        for (d, &c) in n.child.iter().enumerate() {
            if c == NIL {
                continue;
            }
            let cn = self.n(c);
            assert!(
                cn.parent == i,
                "interval tree: node {c} is a child of {i} but its parent is {}",
                cn.parent
            );
            assert!(
                !(n.color == Color::Red && cn.color == Color::Red),
                "interval tree: red node {i} has red child {c}"
            );
            let ordered = if d == 0 {
                cn.start <= n.start
            } else {
                cn.start >= n.start
            };
            assert!(
                ordered,
                "interval tree: child {c} (start {:#x}) on the wrong side of {i} (start {:#x})",
                cn.start, n.start
            );
            heights[d] = self.check_subtree(c, seen, count);
        }
        assert_eq!(
            heights[0], heights[1],
            "interval tree: node {i} has black heights {} (left) and {} (right)",
            heights[0], heights[1]
        );
        let want = self.compute_subtree_last(i);
        assert_eq!(
            n.subtree_last, want,
            "interval tree: node {i} has subtree_last {:#x}, its subtree's largest last is {want:#x}",
            n.subtree_last
        );
        heights[0] + usize::from(n.color == Color::Black)
    }
}

impl<V: fmt::Debug> fmt::Debug for IntervalTree<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|id| {
                (
                    format!("{}: [{:#x}, {:#x}]", id.0, self.start(id), self.last(id)),
                    self.value(id),
                )
            }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes per structural test: enough for several levels of rotations,
    /// small enough for miri.
    const N: u64 = if cfg!(miri) { 40 } else { 200 };

    fn ids_of<V: Copy>(t: &IntervalTree<V>, it: impl Iterator<Item = NodeId>) -> Vec<V> {
        it.map(|id| *t.value(id)).collect()
    }

    #[test]
    fn memtype_node_takes_one_kmalloc_64_slot() {
        // start, subtree_last, last, three links, colour and a cache mode in
        // one 64-byte, line-aligned slot, as struct memtype in kmalloc-64.
        assert_eq!(std::mem::size_of::<Node<crate::CacheMode>>(), 64);
        assert_eq!(std::mem::align_of::<Node<crate::CacheMode>>(), 64);
    }

    #[test]
    fn empty_tree_finds_nothing() {
        let t: IntervalTree<u32> = IntervalTree::default();
        t.check_invariants();
        assert!(t.is_empty());
        assert_eq!(t.iter_first(0, u64::MAX), None);
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn ascending_inserts_rotate_left_and_keep_subtree_last() {
        // [0, 100] first, then short intervals to its right: the left
        // rotation at the root must carry 100 into the new root.
        let mut t = IntervalTree::new();
        let a = t.insert(0, 100, 0);
        t.insert(1, 1, 1);
        t.insert(2, 2, 2);
        t.check_invariants();
        assert_eq!(t.root, 1, "node 1 rotated to the root");
        assert_eq!(t.n(t.root).subtree_last, 100);
        assert_eq!(t.iter_first(50, 60), Some(a));
        for i in 3..N {
            t.insert(i, i, i as u32);
            t.check_invariants();
        }
        // [0, 100] still covers everything up to 100 after the rotations.
        let mid = N / 2;
        assert_eq!(ids_of(&t, t.overlaps(mid, mid)), vec![0, mid as u32]);
    }

    #[test]
    fn descending_inserts_rotate_right() {
        let mut t = IntervalTree::new();
        for i in (0..N).rev() {
            t.insert(i * 10, i * 10 + 5, i as u32);
            t.check_invariants();
        }
        assert_eq!(ids_of(&t, t.overlaps(12, 21)), vec![1, 2]);
        assert_eq!(ids_of(&t, t.iter()), (0..N as u32).collect::<Vec<_>>());
    }

    #[test]
    fn zigzag_inserts_take_the_double_rotation() {
        // 10, 0, 5: the inner grandchild case, left then right rotation.
        let mut t = IntervalTree::new();
        t.insert(10, 10, 0);
        t.insert(0, 50, 1);
        let c = t.insert(5, 5, 2);
        t.check_invariants();
        assert_eq!(NodeId(t.root), c);
        assert_eq!(t.n(t.root).subtree_last, 50);
        // Mirror: 0, 10, 5.
        let mut t = IntervalTree::new();
        t.insert(0, 0, 0);
        t.insert(10, 60, 1);
        let c = t.insert(5, 5, 2);
        t.check_invariants();
        assert_eq!(NodeId(t.root), c);
        assert_eq!(t.n(t.root).subtree_last, 60);
    }

    #[test]
    fn duplicates_stay_in_insertion_order() {
        let mut t = IntervalTree::new();
        let ids: Vec<_> = (0..64).map(|i| t.insert(7, 7 + (i % 3), i)).collect();
        t.check_invariants();
        assert_eq!(ids_of(&t, t.iter()), (0..64).collect::<Vec<_>>());
        assert_eq!(t.iter_first(7, 7), Some(ids[0]));
        t.remove(ids[0]);
        t.remove(ids[1]);
        t.check_invariants();
        assert_eq!(t.iter_first(7, 7), Some(ids[2]));
        // Only i % 3 == 2 reach 9.
        assert_eq!(t.iter_first(9, 9), Some(ids[2]));
        assert_eq!(t.iter_first(8, 8), Some(ids[2]));
        assert_eq!(
            ids_of(&t, t.overlaps(9, 100)),
            (2..64).step_by(3).collect::<Vec<_>>()
        );
    }

    #[test]
    fn removing_the_root_repeatedly_empties_the_tree() {
        let mut t = IntervalTree::new();
        for i in 0..N {
            t.insert((i * 37) % 101, (i * 37) % 101 + i, i as u32);
        }
        while t.root != NIL {
            let root = NodeId(t.root);
            let before = t.len();
            t.remove(root);
            t.check_invariants();
            assert_eq!(t.len(), before - 1);
            assert!(!t.contains(root));
        }
        assert!(t.is_empty());
        assert_eq!(t.leftmost, NIL);
    }

    #[test]
    fn removing_all_in_every_order_class() {
        let n = N as usize;
        // Ascending, descending, and a stride coprime to both sizes.
        let orders: [fn(usize, usize) -> usize; 3] =
            [|i, _| i, |i, n| n - 1 - i, |i, n| (i * 61) % n];
        for order in orders {
            let mut t = IntervalTree::new();
            let ids: Vec<_> = (0..N)
                .map(|i| t.insert(i % 17, i % 17 + i % 5, i))
                .collect();
            t.check_invariants();
            for k in 0..n {
                let i = order(k, n);
                assert_eq!(t.remove(ids[i]), i as u64);
                t.check_invariants();
            }
            assert!(t.is_empty());
            assert_eq!(t.iter_first(0, u64::MAX), None);
        }
    }

    #[test]
    fn node_ids_are_reused_lifo() {
        let mut t = IntervalTree::new();
        let a = t.insert(0, 9, 'a');
        let b = t.insert(10, 19, 'b');
        assert_eq!(t.remove(a), 'a');
        assert!(!t.contains(a));
        let c = t.insert(5, 5, 'c');
        assert_eq!(c, a, "freed slot handed out again");
        assert!(t.contains(a));
        assert_eq!((t.start(c), t.last(c), *t.value(c)), (5, 5, 'c'));
        t.remove(b);
        t.remove(c);
        let d = t.insert(1, 1, 'd');
        let e = t.insert(2, 2, 'e');
        assert_eq!((d, e), (c, b));
        assert_eq!(t.nodes.len(), 2, "no slot grown while free ones exist");
        t.check_invariants();
    }

    #[test]
    fn full_range_bounds() {
        let mut t = IntervalTree::new();
        let top = t.insert(u64::MAX, u64::MAX, 0);
        let all = t.insert(0, u64::MAX, 1);
        let low = t.insert(0, 0, 2);
        t.check_invariants();
        assert_eq!(t.iter_first(u64::MAX, u64::MAX), Some(all));
        assert_eq!(t.iter_next(all, u64::MAX, u64::MAX), Some(top));
        assert_eq!(t.iter_first(0, 0), Some(all));
        assert_eq!(t.iter_next(all, 0, 0), Some(low));
        assert_eq!(t.iter_next(low, 0, 0), None);
        assert_eq!(t.overlaps(0, u64::MAX).count(), 3);
    }

    #[test]
    fn value_mut_changes_only_the_value() {
        let mut t = IntervalTree::new();
        let a = t.insert(3, 4, 1u8);
        *t.value_mut(a) = 9;
        assert_eq!((t.start(a), t.last(a), *t.value(a)), (3, 4, 9));
    }

    #[test]
    fn clear_forgets_everything() {
        let mut t = IntervalTree::new();
        for i in 0..10 {
            t.insert(i, i, ());
        }
        t.clear();
        t.check_invariants();
        assert!(t.is_empty());
        assert_eq!(t.insert(1, 1, ()), NodeId(0));
    }

    #[test]
    #[should_panic(expected = "is not in the tree")]
    fn removing_a_removed_node_panics() {
        let mut t = IntervalTree::new();
        let a = t.insert(1, 2, ());
        t.remove(a);
        t.remove(a);
    }

    #[test]
    #[should_panic(expected = "has subtree_last")]
    fn check_invariants_catches_a_stale_subtree_last() {
        let mut t = IntervalTree::new();
        t.insert(1, 2, ());
        t.insert(3, 4, ());
        let root = t.root;
        t.nm(root).subtree_last = 99;
        t.check_invariants();
    }

    #[test]
    #[should_panic(expected = "red node")]
    fn check_invariants_catches_red_red() {
        let mut t = IntervalTree::new();
        t.insert(1, 2, ());
        t.insert(3, 4, ());
        let c = t.insert(5, 6, ());
        // The fourth insert recolours: 3 black root, 1 and 5 black, 7 red
        // below 5. Reddening 5 breaks only the red rule.
        t.insert(7, 8, ());
        t.check_invariants();
        t.nm(c.0).color = Color::Red;
        t.check_invariants();
    }
}
