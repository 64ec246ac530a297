/*
 * pfntrack calibration: the userspace stand-in for the kernel headers that
 * lib/xarray.c, lib/rbtree.c and include/linux/interval_tree_generic.h
 * include. Written for pfntrack (MIT OR Apache-2.0); contains no kernel
 * code. Every include/linux/<name>.h that those files pull in, other than
 * xarray.h and the rbtree headers themselves (taken from the kernel tree at
 * run time), is a one-line file in this directory that includes this one.
 *
 * What the shim provides, and why each choice keeps the kernel's costs:
 * - a spinlock is an atomic compare-and-exchange and a release store, out
 *   of line, as pfntrack's SpinLock is and as x86's _raw_spin_lock() and
 *   _raw_spin_unlock() are (xa_lock is taken on both sides);
 * - call_rcu() runs the callback at once: the kernel's callback
 *   (radix_tree_node_rcu_free) clears the node before freeing it, and that
 *   clearing is part of the cost being calibrated; only the deferral is lost;
 * - kmem_cache is a slab allocator with a constructor, order-2 slabs and a
 *   LIFO free list, counting live objects (node counts are compared);
 * - READ_ONCE/WRITE_ONCE, rcu_dereference and rcu_assign_pointer are plain
 *   volatile accesses, as they compile on x86-64.
 */
#ifndef PFNTRACK_KSHIM_H
#define PFNTRACK_KSHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- types ---- */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
typedef int32_t s32;
typedef unsigned int gfp_t;
typedef unsigned int __bitwise_unused;

struct list_head { struct list_head *next, *prev; };
struct callback_head {
	struct callback_head *next;
	void (*func)(struct callback_head *head);
};
#define rcu_head callback_head

typedef struct { int locked; } spinlock_t;

/* ---- compiler ---- */
#define __rcu
#define __must_check
#define __must_hold(x)
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#define __bitwise
#define __init
#define __percpu
#define noinline __attribute__((noinline))
#define __force
#define __maybe_unused __attribute__((unused))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val) do { *(volatile __typeof__(x) *)&(x) = (val); } while (0)
#define BUILD_BUG_ON(cond) _Static_assert(!(cond), "BUILD_BUG_ON")
#define BUILD_BUG_ON_ZERO(e) 0
#define BUG() abort()
#define BUG_ON(cond) do { if (unlikely(cond)) abort(); } while (0)
#define WARN_ON(cond) ({ int __c = !!(cond); if (unlikely(__c)) fprintf(stderr, "WARN_ON %s:%d\n", __FILE__, __LINE__); __c; })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define EXPORT_SYMBOL(x)
#define EXPORT_SYMBOL_GPL(x)
#define pr_info(...) printf(__VA_ARGS__)
#define pr_cont(...) printf(__VA_ARGS__)
#define IS_ENABLED(opt) (opt + 0)
#define CONFIG_XARRAY_MULTI 1
#define CONFIG_BASE_SMALL 0
#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif
#define typeof_member(T, m) typeof(((T *)0)->m)
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ---- */
#define ENOMEM 12
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ENOSPC 28
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }

/* ---- bitmaps (one word per mark with 64 slots) ---- */
#define BITS_PER_LONG 64
#define BITS_PER_BYTE 8
#define BITS_TO_LONGS(n) (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define BIT_WORD(nr) ((nr) / BITS_PER_LONG)
#define BIT_MASK(nr) (1UL << ((nr) % BITS_PER_LONG))
static inline void __set_bit(unsigned long nr, volatile unsigned long *addr)
{ addr[BIT_WORD(nr)] |= BIT_MASK(nr); }
static inline void __clear_bit(unsigned long nr, volatile unsigned long *addr)
{ addr[BIT_WORD(nr)] &= ~BIT_MASK(nr); }
static inline bool test_bit(unsigned long nr, const volatile unsigned long *addr)
{ return (addr[BIT_WORD(nr)] >> (nr % BITS_PER_LONG)) & 1; }
static inline bool __test_and_set_bit(unsigned long nr, volatile unsigned long *addr)
{ bool old = test_bit(nr, addr); __set_bit(nr, addr); return old; }
static inline bool __test_and_clear_bit(unsigned long nr, volatile unsigned long *addr)
{ bool old = test_bit(nr, addr); __clear_bit(nr, addr); return old; }
static inline unsigned long __ffs(unsigned long word) { return __builtin_ctzl(word); }
/* Sizes here are at most one word (XA_CHUNK_SIZE 64), which the kernel's
 * small_const_nbits() path also handles inline. */
static inline unsigned long find_next_bit(const unsigned long *addr,
		unsigned long size, unsigned long offset)
{
	unsigned long w;
	if (offset >= size)
		return size;
	w = addr[0] & (~0UL << offset);
	if (size < BITS_PER_LONG)
		w &= ~0UL >> (BITS_PER_LONG - size);
	return w ? __ffs(w) : size;
}
static inline bool bitmap_empty(const unsigned long *src, unsigned int nbits)
{
	unsigned long w = src[0];
	if (nbits < BITS_PER_LONG)
		w &= ~0UL >> (BITS_PER_LONG - nbits);
	return w == 0;
}
static inline void bitmap_fill(unsigned long *dst, unsigned int nbits)
{ dst[0] = nbits >= BITS_PER_LONG ? ~0UL : (1UL << nbits) - 1; }
static inline void bitmap_clear(unsigned long *map, unsigned int start, unsigned int len)
{
	unsigned long mask = len >= BITS_PER_LONG ? ~0UL : ((1UL << len) - 1);
	map[0] &= ~(mask << start);
}

/* ---- lists ---- */
#define LIST_HEAD_INIT(name) { &(name), &(name) }
static inline void INIT_LIST_HEAD(struct list_head *list)
{ WRITE_ONCE(list->next, list); list->prev = list; }
static inline int list_empty(const struct list_head *head)
{ return READ_ONCE(head->next) == head; }

/* ---- locks ----
 * A spinlock is taken and released as pfntrack's is (and as the kernel's
 * uncontended qspinlock is): one compare-and-exchange with acquire order,
 * one store with release order, each in an out-of-line function, as x86's
 * _raw_spin_lock() and _raw_spin_unlock() are. The irq and bh variants
 * cost the same here: userspace cannot disable interrupts, and pfntrack
 * does not model that either. */
#define __SPIN_LOCK_UNLOCKED(name) { 0 }
void kshim_spin_lock(spinlock_t *lock);
void kshim_spin_unlock(spinlock_t *lock);
#define spin_lock_init(l) do { (l)->locked = 0; } while (0)
#define spin_lock(l) kshim_spin_lock(l)
#define spin_unlock(l) kshim_spin_unlock(l)
#define spin_lock_bh(l) spin_lock(l)
#define spin_unlock_bh(l) spin_unlock(l)
#define spin_lock_irq(l) spin_lock(l)
#define spin_unlock_irq(l) spin_unlock(l)
#define spin_lock_irqsave(l, f) do { kshim_spin_lock(l); (f) = 0; } while (0)
#define spin_unlock_irqrestore(l, f) do { (void)(f); kshim_spin_unlock(l); } while (0)
#define spin_lock_nested(l, s) spin_lock(l)
#define spin_lock_bh_nested(l, s) spin_lock(l)
#define spin_lock_irq_nested(l, s) spin_lock(l)
#define spin_lock_irqsave_nested(l, f, s) spin_lock_irqsave(l, f)
#define spin_trylock(l) ({ int __unlocked = 0; \
	__atomic_compare_exchange_n(&(l)->locked, &__unlocked, 1, false, \
				    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED); })
#define lockdep_is_held(l) 1

/* ---- RCU: PREEMPT_RCU's read side, callbacks run at once ----
 * Debian's kernels build PREEMPT_DYNAMIC, hence PREEMPT_RCU: rcu_read_lock()
 * is the out-of-line __rcu_read_lock(), an increment of the task's nesting
 * count, and rcu_read_unlock() decrements it and tests the task's "special"
 * word at zero (kernel/rcu/tree_plugin.h). kshim.c does the same on a
 * thread-local task, out of line, as pfntrack's strategies/src/rcu.rs does. */
void kshim_rcu_read_lock(void);
void kshim_rcu_read_unlock(void);
#define rcu_read_lock() kshim_rcu_read_lock()
#define rcu_read_unlock() kshim_rcu_read_unlock()
#define rcu_dereference_raw(p) READ_ONCE(p)
#define rcu_dereference(p) READ_ONCE(p)
#define rcu_dereference_check(p, c) READ_ONCE(p)
#define rcu_dereference_protected(p, c) (p)
#define rcu_assign_pointer(p, v) WRITE_ONCE(p, v)
#define RCU_INIT_POINTER(p, v) WRITE_ONCE(p, v)
static inline void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{ func(head); }

/* ---- allocation ---- */
#define __GFP_NOWARN 0x1u
#define __GFP_ACCOUNT 0x2u
#define __GFP_DIRECT_RECLAIM 0x4u
#define __GFP_ZERO 0x8u
#define GFP_NOWAIT 0x10u
#define GFP_ATOMIC 0x20u
#define GFP_KERNEL (0x40u | __GFP_DIRECT_RECLAIM)
#define __GFP_BITS_SHIFT 8
static inline bool gfpflags_allow_blocking(gfp_t gfp)
{ return gfp & __GFP_DIRECT_RECLAIM; }
static inline void might_alloc(gfp_t gfp) { (void)gfp; }

struct list_lru;
struct kmem_cache;
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t slab_bytes,
				     void (*ctor)(void *));
void *kmem_cache_alloc(struct kmem_cache *cache, gfp_t gfp);
void kmem_cache_free(struct kmem_cache *cache, void *obj);
long kmem_cache_live(const struct kmem_cache *cache);
void kmem_cache_destroy(struct kmem_cache *cache);
#define kmem_cache_alloc_lru(cache, lru, gfp) kmem_cache_alloc(cache, gfp)
void *kzalloc(size_t size, gfp_t gfp);
void kfree(const void *p);

#endif
