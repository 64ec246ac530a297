//! The page allocator under the `xa_node` slabs: order-2 blocks (16 KiB,
//! naturally aligned, as the buddy allocator hands them out,
//! mm/page_alloc.c) for [`super::node::NodeCache`].
//!
//! Why not one system allocation per slab: a 16 KiB allocation aligned to
//! 16 KiB costs glibc's `posix_memalign()` a 32 KiB carve and leaves gaps,
//! so successive slabs land pages apart and the nodes of one array spread
//! over about twice the pages the kernel's would (more TLB misses than the
//! kernel's slabs, which sit side by side in the direct map). And a slab
//! given back to the system is unmapped and faults again when the next
//! array takes it, a cost the kernel's slab allocator never pays: its pages
//! come from the buddy allocator already mapped. So blocks are carved side
//! by side out of 1 MiB chunks and a freed block goes back to a
//! process-wide LIFO list (the per-CPU page lists' role) for the next
//! array to take, warm. Chunks are kept until the process exits, as a
//! kernel keeps its memory; the pool holds at most the peak of slabs live
//! at once.

use std::alloc::{Layout, alloc, handle_alloc_error};
use std::ptr::NonNull;

use crate::spinlock::SpinLock;

/// Bytes of one block: an order-2 allocation, as SLUB uses for the
/// 576-byte `radix_tree_node` objects.
pub(super) const BLOCK_BYTES: usize = 4 * 4096;
/// Blocks carved out of one chunk taken from the system allocator.
const CHUNK_BLOCKS: usize = 64;

const CHUNK_LAYOUT: Layout = match Layout::from_size_align(BLOCK_BYTES * CHUNK_BLOCKS, BLOCK_BYTES)
{
    Ok(l) => l,
    Err(_) => panic!("chunk layout"),
};

/// A free block. Holds a pointer (not an address) so the chunk stays
/// reachable while any block of it is free.
struct Block(NonNull<u8>);

// SAFETY: a free block is owned by the pool alone; the pointer is only
// handed to one taker at a time, under the pool's lock.
unsafe impl Send for Block {}

struct Pool {
    /// Freed blocks, reused last in, first out.
    free: Vec<Block>,
    /// The rest of the newest chunk: its next block and how many are left.
    carve: Option<NonNull<u8>>,
    carve_left: usize,
}

// SAFETY: as for `Block`: the pointers are the pool's own, used under its
// lock.
unsafe impl Send for Pool {}

static POOL: SpinLock<Pool> = SpinLock::new(Pool {
    free: Vec::new(),
    carve: None,
    carve_left: 0,
});

/// `alloc_pages(order 2)`: a 16 KiB block aligned to 16 KiB, its contents
/// whatever its last user left (the slab's constructor initialises it).
pub(super) fn alloc_block() -> NonNull<u8> {
    let mut pool = POOL.lock();
    if let Some(Block(p)) = pool.free.pop() {
        return p;
    }
    if pool.carve_left == 0 {
        // SAFETY: CHUNK_LAYOUT has a non-zero size.
        let chunk = unsafe { alloc(CHUNK_LAYOUT) };
        let Some(chunk) = NonNull::new(chunk) else {
            handle_alloc_error(CHUNK_LAYOUT)
        };
        pool.carve = Some(chunk);
        pool.carve_left = CHUNK_BLOCKS;
    }
    let p = pool.carve.expect("a chunk is being carved");
    pool.carve_left -= 1;
    // SAFETY: while blocks are left, the next one is inside the chunk (the
    // last step lands one past its end, never used).
    pool.carve = Some(unsafe { p.add(BLOCK_BYTES) });
    p
}

/// `__free_pages()`: give a block back for reuse.
///
/// # Safety
/// `block` came from [`alloc_block`] and nothing uses it any more.
pub(super) unsafe fn free_block(block: NonNull<u8>) {
    POOL.lock().free.push(Block(block));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_and_distinct_and_can_be_freed() {
        let a = alloc_block();
        let b = alloc_block();
        assert_eq!(a.as_ptr() as usize % BLOCK_BYTES, 0);
        assert_eq!(b.as_ptr() as usize % BLOCK_BYTES, 0);
        assert_ne!(a, b);
        // SAFETY: both came from alloc_block and are unused.
        unsafe {
            free_block(a);
            free_block(b);
        }
        // Other tests may take blocks concurrently, so only check that a
        // freed block can come back and that what comes back is aligned.
        let c = alloc_block();
        assert_eq!(c.as_ptr() as usize % BLOCK_BYTES, 0);
        // SAFETY: as above.
        unsafe { free_block(c) };
    }
}
