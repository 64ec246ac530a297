/*
 * pfntrack calibration: the kernel side. Drives the kernel's own
 * lib/xarray.c and an interval tree instantiated the way
 * arch/x86/mm/pat/memtype_interval.c instantiates it, over key files written
 * by pfntrack's `calibrate keys`, with the same phases and loop shapes as the
 * Rust side (strategies/examples/calibrate.rs). Written for pfntrack (MIT OR
 * Apache-2.0); the kernel files are compiled beside it at run time and never
 * stored in the repository.
 *
 * Usage: kbench xa|it FILE [REPS]
 * Runs the phases REPS times (default 1), each time on a fresh structure
 * with a fresh node cache, and prints one line per phase, "PHASE NS_PER_OP
 * NODES": the fastest of the REPS runs (the least disturbed by other
 * processes), and the number of live xa_node (xa) or struct memtype (it)
 * objects when the phase ended.
 */
#include <linux/xarray.h>
#include <linux/interval_tree_generic.h>
#include <time.h>
#include "kshim.h"

void kshim_init(void);
extern struct kmem_cache *radix_tree_node_cachep;

/* The memtype entry of arch/x86/mm/pat/memtype.h: 56 bytes on x86-64. */
struct memtype {
	u64 start;
	u64 end;
	u64 subtree_max_end;
	int type;
	struct rb_node rb;
};

static inline u64 interval_start(struct memtype *entry) { return entry->start; }
static inline u64 interval_end(struct memtype *entry) { return entry->end - 1; }

INTERVAL_TREE_DEFINE(struct memtype, rb, u64, subtree_max_end,
		     interval_start, interval_end, static, interval)

static u64 *read_file(const char *path, size_t *words)
{
	FILE *f = fopen(path, "rb");
	long len;
	u64 *buf;
	if (!f) {
		fprintf(stderr, "kbench: %s: cannot open\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (len < 0 || len % 8) {
		fprintf(stderr, "kbench: %s: not a key file\n", path);
		exit(2);
	}
	buf = malloc(len ? len : 8);
	if (!buf || fread(buf, 1, len, f) != (size_t)len) {
		fprintf(stderr, "kbench: %s: short read\n", path);
		exit(2);
	}
	fclose(f);
	*words = len / 8;
	return buf;
}

static void need(size_t have, size_t want, const char *path)
{
	if (have < want) {
		fprintf(stderr, "kbench: %s: truncated key file\n", path);
		exit(2);
	}
}

static u64 now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static volatile uintptr_t sink;

#define MAX_PHASES 8
static struct { const char *phase; double best; long nodes; } results[MAX_PHASES];
static int nr_results, cursor;

/* Record one phase of the current repetition; keep the fastest. */
static void report(const char *phase, u64 ns, u64 ops, long nodes)
{
	double per = ops ? (double)ns / ops : 0.0;
	if (cursor == nr_results) {
		if (nr_results == MAX_PHASES)
			abort();
		results[nr_results].phase = phase;
		results[nr_results].best = per;
		nr_results++;
	} else if (per < results[cursor].best) {
		results[cursor].best = per;
	}
	results[cursor].nodes = nodes;
	cursor++;
}

static void print_results(void)
{
	for (int i = 0; i < nr_results; i++)
		printf("%s %.3f %ld\n", results[i].phase, results[i].best, results[i].nodes);
}

/* An entry the XArray stores as a plain pointer: never NULL, low bits 00. */
static void *entry_of(u64 key)
{
	return (void *)(uintptr_t)((key << 2) | 4);
}

/*
 * Each timed loop is a function of its own, never inlined, named as the
 * Rust side names its counterpart: `calibrate.sh --count` has callgrind
 * zero its counters on entering such a function and dump them on leaving
 * it, and the timed mode times exactly its call.
 */
#define PHASE noinline

PHASE uintptr_t phase_xa_store(struct xarray *xa, const u64 *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (xa_is_err(xa_store(xa, keys[i], entry_of(keys[i]), GFP_KERNEL)))
			abort();
	return 0;
}

PHASE uintptr_t phase_xa_load(struct xarray *xa, const u64 *keys, size_t n)
{
	uintptr_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc += (uintptr_t)xa_load(xa, keys[i]);
	return acc;
}

/* As phase_xa_load, folding with xor so that gcc's identical code folding
 * cannot merge the two into one symbol (callgrind would see one phase). */
PHASE uintptr_t phase_xa_miss(struct xarray *xa, const u64 *keys, size_t n)
{
	uintptr_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc ^= (uintptr_t)xa_load(xa, keys[i]);
	return acc;
}

PHASE uintptr_t phase_xa_erase(struct xarray *xa, const u64 *keys, size_t n)
{
	uintptr_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc += (uintptr_t)xa_erase(xa, keys[i]);
	return acc;
}

static void xa_rep(u64 *hits, size_t nh, u64 *misses, size_t nm)
{
	uintptr_t acc = 0;
	u64 t;
	DEFINE_XARRAY(xa);

	/* A fresh node cache per repetition: nodes placed in allocation
	 * order, as on the Rust side, which builds a new XArray each time. */
	kshim_init();

	t = now_ns();
	acc += phase_xa_store(&xa, hits, nh);
	t = now_ns() - t;
	report("store", t, nh, kmem_cache_live(radix_tree_node_cachep));

	t = now_ns();
	acc += phase_xa_load(&xa, hits, nh);
	t = now_ns() - t;
	report("load", t, nh, kmem_cache_live(radix_tree_node_cachep));

	t = now_ns();
	acc += phase_xa_miss(&xa, misses, nm);
	t = now_ns() - t;
	report("miss", t, nm, kmem_cache_live(radix_tree_node_cachep));

	t = now_ns();
	acc += phase_xa_erase(&xa, hits, nh);
	t = now_ns() - t;
	report("erase", t, nh, kmem_cache_live(radix_tree_node_cachep));
	sink = acc;
}

static int bench_xa(const char *path, int reps)
{
	size_t words, nh, nm;
	u64 *f = read_file(path, &words), *hits, *misses;

	need(words, 2, path);
	nh = f[0];
	nm = f[1];
	need(words, 2 + nh + nm, path);
	hits = f + 2;
	misses = hits + nh;
	for (int r = 0; r < reps; r++) {
		cursor = 0;
		xa_rep(hits, nh, misses, nm);
	}
	print_results();
	free(f);
	return 0;
}

static struct kmem_cache *memtype_cache;

static struct memtype *memtype_new(u64 start, u64 last)
{
	struct memtype *m = kmem_cache_alloc(memtype_cache, GFP_KERNEL);
	m->start = start;
	m->end = last + 1;
	m->type = 1;
	return m;
}

PHASE uintptr_t phase_it_fill(struct rb_root_cached *root, struct memtype **nodes,
			      const u64 *base, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		nodes[i] = memtype_new(base[2 * i], base[2 * i + 1]);
		interval_insert(nodes[i], root);
	}
	return 0;
}

PHASE uintptr_t phase_it_stab(struct rb_root_cached *root, const u64 *stab, size_t n)
{
	uintptr_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc += (uintptr_t)interval_iter_first(root, stab[i], stab[i] + 4095);
	return acc;
}

PHASE uintptr_t phase_it_stab_all(struct rb_root_cached *root, const u64 *stab, size_t n)
{
	uintptr_t acc = 0;
	for (size_t i = 0; i < n; i++) {
		struct memtype *m = interval_iter_first(root, stab[i], stab[i] + 4095);
		while (m) {
			acc += m->type;
			m = interval_iter_next(m, stab[i], stab[i] + 4095);
		}
	}
	return acc;
}

/* One timed batch of `insert`: fresh keys, each used once. */
PHASE uintptr_t phase_it_insert(struct rb_root_cached *root, struct memtype **added,
				const u64 *k, size_t batch)
{
	for (size_t i = 0; i < batch; i++) {
		added[i] = memtype_new(k[2 * i], k[2 * i + 1]);
		interval_insert(added[i], root);
	}
	return 0;
}

/* One timed batch of `remove`: entries of the full tree, distinct. */
PHASE uintptr_t phase_it_remove(struct rb_root_cached *root, struct memtype **nodes,
				const u64 *v, size_t batch)
{
	for (size_t i = 0; i < batch; i++) {
		interval_remove(nodes[v[i]], root);
		kmem_cache_free(memtype_cache, nodes[v[i]]);
	}
	return 0;
}

PHASE uintptr_t phase_it_drain(struct rb_root_cached *root, struct memtype **nodes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		interval_remove(nodes[i], root);
		kmem_cache_free(memtype_cache, nodes[i]);
	}
	return 0;
}

static int bench_it(const char *path, int reps)
{
	size_t words, nb, nf, ns, batch, nbatch;
	u64 *f = read_file(path, &words), *base, *fresh, *stab, *victims, t, total;
	struct rb_root_cached root = RB_ROOT_CACHED;
	struct memtype **nodes, **added;
	uintptr_t acc = 0;

	need(words, 5, path);
	nb = f[0]; nf = f[1]; ns = f[2]; batch = f[3]; nbatch = f[4];
	if (nf != batch * nbatch) {
		fprintf(stderr, "kbench: %s: fresh keys != batch * batches\n", path);
		return 2;
	}
	need(words, 5 + 2 * nb + 2 * nf + ns + nf, path);
	base = f + 5;
	fresh = base + 2 * nb;
	stab = fresh + 2 * nf;
	victims = stab + ns;
	for (size_t i = 0; i < nf; i++)
		if (victims[i] >= nb) {
			fprintf(stderr, "kbench: %s: a victim index is past the base\n", path);
			return 2;
		}
	nodes = malloc(nb * sizeof(*nodes));
	added = malloc((batch ? batch : 1) * sizeof(*added));
	if (!nodes || !added)
		abort();
	for (int r = 0; r < reps; r++) {
		/* A fresh tree and kmalloc-64 cache per repetition. */
		cursor = 0;
		root = RB_ROOT_CACHED;
		memtype_cache = kmem_cache_create("kmalloc-64", 64, 4096, NULL);

		t = now_ns();
		acc += phase_it_fill(&root, nodes, base, nb);
		t = now_ns() - t;
		report("fill", t, nb, kmem_cache_live(memtype_cache));

		t = now_ns();
		acc += phase_it_stab(&root, stab, ns);
		t = now_ns() - t;
		report("stab", t, ns, kmem_cache_live(memtype_cache));

		t = now_ns();
		acc += phase_it_stab_all(&root, stab, ns);
		t = now_ns() - t;
		report("stab_all", t, ns, kmem_cache_live(memtype_cache));

		total = 0;
		for (size_t b = 0; b < nbatch; b++) {
			const u64 *k = fresh + 2 * b * batch;
			t = now_ns();
			acc += phase_it_insert(&root, added, k, batch);
			total += now_ns() - t;
			for (size_t i = 0; i < batch; i++) {
				interval_remove(added[i], &root);
				kmem_cache_free(memtype_cache, added[i]);
			}
		}
		report("insert", total, nf, kmem_cache_live(memtype_cache));

		total = 0;
		for (size_t b = 0; b < nbatch; b++) {
			const u64 *v = victims + b * batch;
			t = now_ns();
			acc += phase_it_remove(&root, nodes, v, batch);
			total += now_ns() - t;
			for (size_t i = 0; i < batch; i++) {
				nodes[v[i]] = memtype_new(base[2 * v[i]], base[2 * v[i] + 1]);
				interval_insert(nodes[v[i]], &root);
			}
		}
		report("remove", total, nf, kmem_cache_live(memtype_cache));

		t = now_ns();
		acc += phase_it_drain(&root, nodes, nb);
		t = now_ns() - t;
		report("drain", t, nb, kmem_cache_live(memtype_cache));
		kmem_cache_destroy(memtype_cache);
	}
	print_results();
	sink = acc;
	free(nodes);
	free(added);
	free(f);
	return 0;
}

int main(int argc, char **argv)
{
	int reps = 1;
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: kbench xa|it KEYFILE [REPS]\n");
		return 2;
	}
	if (argc == 4) {
		char *end;
		long r = strtol(argv[3], &end, 10);
		if (*end || r < 1 || r > 1000) {
			fprintf(stderr, "kbench: REPS '%s': want 1..1000\n", argv[3]);
			return 2;
		}
		reps = (int)r;
	}
	kshim_init();
	if (!strcmp(argv[1], "xa"))
		return bench_xa(argv[2], reps);
	if (!strcmp(argv[1], "it"))
		return bench_it(argv[2], reps);
	fprintf(stderr, "kbench: unknown kind '%s'\n", argv[1]);
	return 2;
}
