//! TEMPORARY brute-force stand-in (not committed): replaced by the real augmented rbtree.
#![allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);
pub struct IntervalTree<V> {
    nodes: Vec<Option<(u64, u64, u64, V)>>,
    seq: u64,
    len: usize,
}
impl<V> Default for IntervalTree<V> {
    fn default() -> Self {
        Self::new()
    }
}
impl<V> IntervalTree<V> {
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            seq: 0,
            len: 0,
        }
    }
    pub fn with_capacity(_n: usize) -> Self {
        Self::new()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn insert(&mut self, start: u64, last: u64, value: V) -> NodeId {
        self.seq += 1;
        self.len += 1;
        let slot = self.nodes.iter().position(|n| n.is_none());
        let e = Some((start, last, self.seq, value));
        match slot {
            Some(i) => {
                self.nodes[i] = e;
                NodeId(i as u32)
            }
            None => {
                self.nodes.push(e);
                NodeId(self.nodes.len() as u32 - 1)
            }
        }
    }
    pub fn remove(&mut self, id: NodeId) -> V {
        self.len -= 1;
        self.nodes[id.0 as usize].take().unwrap().3
    }
    pub fn start(&self, id: NodeId) -> u64 {
        self.nodes[id.0 as usize].as_ref().unwrap().0
    }
    pub fn last(&self, id: NodeId) -> u64 {
        self.nodes[id.0 as usize].as_ref().unwrap().1
    }
    pub fn value(&self, id: NodeId) -> &V {
        &self.nodes[id.0 as usize].as_ref().unwrap().3
    }
    pub fn value_mut(&mut self, id: NodeId) -> &mut V {
        &mut self.nodes[id.0 as usize].as_mut().unwrap().3
    }
    fn sorted(&self) -> Vec<NodeId> {
        let mut v: Vec<_> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_some())
            .map(|i| NodeId(i as u32))
            .collect();
        v.sort_by_key(|id| {
            let n = self.nodes[id.0 as usize].as_ref().unwrap();
            (n.0, n.2)
        });
        v
    }
    pub fn iter_first(&self, start: u64, last: u64) -> Option<NodeId> {
        self.sorted()
            .into_iter()
            .find(|&id| self.start(id) <= last && self.last(id) >= start)
    }
    pub fn iter_next(&self, id: NodeId, start: u64, last: u64) -> Option<NodeId> {
        let s = self.sorted();
        let p = s.iter().position(|&x| x == id)?;
        s[p + 1..]
            .iter()
            .copied()
            .find(|&x| self.start(x) <= last && self.last(x) >= start)
    }
    pub fn overlaps(&self, start: u64, last: u64) -> impl Iterator<Item = NodeId> + '_ {
        self.sorted()
            .into_iter()
            .filter(move |&x| self.start(x) <= last && self.last(x) >= start)
    }
    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.sorted().into_iter()
    }
    pub fn check_invariants(&self) {}
}
