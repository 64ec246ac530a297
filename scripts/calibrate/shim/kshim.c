/*
 * pfntrack calibration: the shim's allocator and the radix_tree_node cache
 * that lib/xarray.c allocates from. Written for pfntrack (MIT OR
 * Apache-2.0); it models mm/slub.c and lib/radix-tree.c's behaviour in its
 * own code:
 * - a kmem_cache carves objects out of slabs (16 KiB for radix_tree_node,
 *   an order-2 slab as SLUB picks for 576-byte objects), runs the
 *   constructor once per object when its slab is created, and reuses freed
 *   objects LIFO, as SLUB's per-CPU freelist does;
 * - freed radix_tree_node objects are cleared first (slots and marks), the
 *   way the kernel's RCU callback returns only zeroed nodes to a cache that
 *   has a constructor;
 * - live objects are counted, so node counts can be compared with pfntrack's.
 */
#include <linux/xarray.h>
#include "kshim.h"

struct kmem_cache {
	const char *name;
	size_t size;       /* object stride */
	size_t slab_bytes;
	void (*ctor)(void *);
	void *free;        /* LIFO freelist, linked through the object's first word */
	char *fresh;       /* next never-used object in the newest slab */
	size_t fresh_left;
	long live;
	void **slabs;      /* every slab, freed by kmem_cache_destroy() */
	size_t nr_slabs, cap_slabs;
};

/*
 * The page allocator under the slabs: blocks of one slab's size, naturally
 * aligned (as the buddy allocator's are), carved side by side out of
 * chunks of 64 and reused last in, first out once freed, for the life of
 * the process. pfntrack's XArray takes its node slabs from the same kind
 * of pool (strategies/src/xarray/pages.rs): a slab costs a pop from a
 * list, not a trip through malloc's aligned allocation, as in the kernel.
 */
#define KSHIM_CHUNK_BLOCKS 64
#define KSHIM_MAX_POOLS 4

static struct page_pool {
	size_t block;
	void *free;        /* freed blocks, linked through their first word */
	char *carve;       /* next block of the newest chunk */
	size_t carve_left;
} pools[KSHIM_MAX_POOLS];

static struct page_pool *pool_of(size_t block)
{
	for (int i = 0; i < KSHIM_MAX_POOLS; i++) {
		if (pools[i].block == block)
			return &pools[i];
		if (!pools[i].block) {
			pools[i].block = block;
			return &pools[i];
		}
	}
	abort();
}

static void *alloc_block(size_t block)
{
	struct page_pool *p = pool_of(block);
	void *b = p->free;
	if (b) {
		p->free = *(void **)b;
		return b;
	}
	if (!p->carve_left) {
		p->carve = aligned_alloc(block, block * KSHIM_CHUNK_BLOCKS);
		if (!p->carve)
			return NULL;
		p->carve_left = KSHIM_CHUNK_BLOCKS;
	}
	b = p->carve;
	p->carve += block;
	p->carve_left--;
	return b;
}

static void free_block(size_t block, void *b)
{
	struct page_pool *p = pool_of(block);
	*(void **)b = p->free;
	p->free = b;
}

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t slab_bytes,
				     void (*ctor)(void *))
{
	struct kmem_cache *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->name = name;
	/* SLUB stores the free pointer outside an object that has a
	 * constructor, so the stride grows by a word (576 -> 584). */
	c->size = (size + (ctor ? sizeof(void *) : 0) + 7) & ~(size_t)7;
	c->slab_bytes = slab_bytes;
	c->ctor = ctor;
	return c;
}

static void *freeptr(struct kmem_cache *c, void *obj)
{
	return (char *)obj + (c->ctor ? c->size - sizeof(void *) : 0);
}

void *kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp)
{
	void *obj = c->free;
	(void)gfp;
	if (obj) {
		c->free = *(void **)freeptr(c, obj);
	} else {
		if (c->fresh_left == 0) {
			size_t n = c->slab_bytes / c->size;
			char *slab = alloc_block(c->slab_bytes);
			if (!slab)
				return NULL;
			if (c->nr_slabs == c->cap_slabs) {
				c->cap_slabs = c->cap_slabs ? 2 * c->cap_slabs : 64;
				c->slabs = realloc(c->slabs, c->cap_slabs * sizeof(*c->slabs));
				if (!c->slabs)
					abort();
			}
			c->slabs[c->nr_slabs++] = slab;
			if (c->ctor)
				for (size_t i = 0; i < n; i++)
					c->ctor(slab + i * c->size);
			c->fresh = slab;
			c->fresh_left = n;
		}
		obj = c->fresh;
		c->fresh += c->size;
		c->fresh_left--;
	}
	c->live++;
	return obj;
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
	*(void **)freeptr(c, obj) = c->free;
	c->free = obj;
	c->live--;
}

/* Give the slabs back to the page pool, so the next cache reuses warm
 * pages, as the Rust side's next structure does. */
void kmem_cache_destroy(struct kmem_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr_slabs; i++)
		free_block(c->slab_bytes, c->slabs[i]);
	free(c->slabs);
	free(c);
}

long kmem_cache_live(const struct kmem_cache *c)
{
	return c->live;
}

void *kzalloc(size_t size, gfp_t gfp)
{
	(void)gfp;
	return calloc(1, size);
}

void kfree(const void *p)
{
	free((void *)p);
}

/* The part of a task that PREEMPT_RCU's read side touches. */
static __thread struct {
	int rcu_read_lock_nesting;
	int rcu_read_unlock_special;
} kshim_current;

void kshim_rcu_read_unlock_special(void);

noinline void kshim_rcu_read_lock(void)
{
	WRITE_ONCE(kshim_current.rcu_read_lock_nesting,
		   READ_ONCE(kshim_current.rcu_read_lock_nesting) + 1);
	barrier();
}

noinline void kshim_rcu_read_unlock(void)
{
	int n;
	barrier();
	n = READ_ONCE(kshim_current.rcu_read_lock_nesting) - 1;
	WRITE_ONCE(kshim_current.rcu_read_lock_nesting, n);
	if (n == 0) {
		barrier();
		if (__builtin_expect(READ_ONCE(kshim_current.rcu_read_unlock_special), 0))
			kshim_rcu_read_unlock_special();
	}
}

/* Never reached: nothing sets the special word in a single-threaded run. */
void kshim_rcu_read_unlock_special(void)
{
	abort();
}

noinline void kshim_spin_lock(spinlock_t *lock)
{
	int unlocked = 0;
	while (!__atomic_compare_exchange_n(&lock->locked, &unlocked, 1, false,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		/* Single-threaded: a held lock here is a bug in the caller. */
		abort();
	}
}

noinline void kshim_spin_unlock(spinlock_t *lock)
{
	__atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}

/* lib/radix-tree.c's cache of struct xa_node (radix_tree_node). */
struct kmem_cache *radix_tree_node_cachep;

static void xa_node_ctor(void *arg)
{
	struct xa_node *node = arg;
	memset(node, 0, sizeof(*node));
	INIT_LIST_HEAD(&node->private_list);
}

void radix_tree_node_rcu_free(struct rcu_head *head)
{
	struct xa_node *node = container_of(head, struct xa_node, rcu_head);
	/* Only zeroed nodes may go back to a cache with a constructor. */
	memset(node->slots, 0, sizeof(node->slots));
	memset(node->marks, 0, sizeof(node->marks));
	INIT_LIST_HEAD(&node->private_list);
	kmem_cache_free(radix_tree_node_cachep, node);
}

void kshim_init(void)
{
	kmem_cache_destroy(radix_tree_node_cachep);
	radix_tree_node_cachep = kmem_cache_create("radix_tree_node",
			sizeof(struct xa_node), 4 * 4096, xa_node_ctor);
}
