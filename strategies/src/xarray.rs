//! TEMPORARY stand-in (not committed): replaced by the real XArray.
#![allow(missing_docs)]
use crate::{
    errno::Errno,
    kmem::{KObj, Kmem},
};
use std::collections::BTreeMap;
pub struct XArray<T> {
    m: BTreeMap<u64, T>,
}
impl<T> Default for XArray<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> XArray<T> {
    pub fn new() -> Self {
        Self { m: BTreeMap::new() }
    }
    pub fn load(&self, index: u64) -> Option<&T> {
        self.m.get(&index)
    }
    pub fn load_mut(&mut self, index: u64) -> Option<&mut T> {
        self.m.get_mut(&index)
    }
    pub fn store(
        &mut self,
        index: u64,
        entry: T,
        kmem: &mut impl Kmem,
    ) -> Result<Option<T>, Errno> {
        if !self.m.contains_key(&index) {
            kmem.alloc(KObj::XaNode)?;
        }
        Ok(self.m.insert(index, entry))
    }
    pub fn erase(&mut self, index: u64, kmem: &mut impl Kmem) -> Option<T> {
        let r = self.m.remove(&index);
        if r.is_some() {
            kmem.free(KObj::XaNode);
        }
        r
    }
    pub fn nr_nodes(&self) -> usize {
        self.m.len()
    }
    pub fn len(&self) -> usize {
        self.m.len()
    }
    pub fn is_empty(&self) -> bool {
        self.m.is_empty()
    }
    pub fn height(&self) -> u32 {
        0
    }
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        self.m.iter().map(|(k, v)| (*k, v))
    }
    pub fn check_invariants(&self) {}
}
