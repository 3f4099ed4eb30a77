// SPDX-License-Identifier: MIT
/*
 * exact: an exact adjacency store, the ground truth GSS and TCM are scored
 * against. It has to hold the whole stream (~10 M edges over ~1 M nodes) in a
 * few hundred MB, absorb a million or more updates per second and answer
 * successor, predecessor and reachability queries in time proportional to
 * what they touch.
 *
 * Layout:
 *
 *   node_map (hmap)          nodes[]               ids[] / id_lens[]
 *   hash(ID) -> n  ------->  +-----------------+   +--------+-----+
 *                            | out: e[], n, cap|   | char * | len | --> id chunk
 *                            | in:  e[], n, cap|   +--------+-----+     "ID\0"
 *                            +-----------------+
 *                                  |      |  edge numbers
 *                                  v      v
 *   edge_map (hmap)          edges[] (dense, 0 .. n_edges - 1)
 *   hash(s, d) -> e  ----->  +----+----+-------+---------+--------+
 *                            | s  | d  |   w   | out_pos | in_pos |   24 bytes
 *                            +----+----+-------+---------+--------+
 *
 * Every live edge e sits exactly once in nodes[s].out at out_pos and once in
 * nodes[d].in at in_pos, and the edge table holds only live edges (w != 0).
 * Removal keeps all of that dense in O(1) with three swap-removes: the last
 * entry of each adjacency array moves into the hole (its edge's position is
 * patched), then the last edge of the table moves into the freed edge number
 * (its hmap slot is retargeted and both adjacency arrays it appears in are
 * patched through its stored positions). Lazy deletion was the alternative:
 * dead entries for every scan to skip, plus a compaction pass to keep streams
 * that churn the same edges from growing without bound. The price of eager
 * removal is that edge numbers are not stable; nothing outside this file
 * sees them.
 *
 * Invariants:
 *   - edge_map holds edge number e under pair_hash(s, d) for every live e,
 *     node_map holds n under hash_bytes(ID) for every interned node;
 *   - nodes[edges[e].s].out.e[edges[e].out_pos] == e, and likewise for in;
 *   - IDs live in append-only chunks that never move, so exact_node_id()
 *     pointers stay valid; each ID is followed by a NUL for printing.
 *
 * Costs: an update is one hash, one hmap probe and one edge entry in the
 * common case (a few cache misses); insert and delete add the two node
 * records and the two adjacency tails. Successors and predecessors are
 * O(degree). Memory per edge is 24 (entry) + 8 (two adjacency slots) + 11-21
 * (hmap at load 3/8..3/4) bytes plus growth slack, and per node 44 bytes plus
 * its ID; arrays grow by 1.5x to keep the slack near 25%. Deletion gives
 * memory back only from adjacency arrays that fall below a quarter full; the
 * edge table and both maps keep their high-water size. Measured on 10 M
 * uniformly random edges over 1 M nodes: 55.5 bytes per edge by
 * exact_memory(), 57.6 by RSS (allocator overhead of the small arrays), and
 * 1.5-2 M inserts/s, ~11 M updates/s of existing edges on a shared 2-vCPU VM
 * where every cache miss is also a TLB miss.
 *
 * Reachability is a bidirectional BFS that always expands the side with the
 * shorter queue: it stops as soon as the two searches meet, and it proves
 * unreachability as soon as either side runs dry, which is cheap whenever s
 * reaches few nodes or few nodes reach d. Its bitmaps and queues are
 * allocated per query so that queries on a const store can run in parallel.
 *
 * The edge table with per-endpoint adjacency lists is the textbook dynamic
 * graph representation (e.g. Cormen et al., "Introduction to Algorithms",
 * section 22.1); the hmap is lib/hmap.h.
 */
#include "exact.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "hash.h"
#include "hmap.h"

/* Node and edge numbers must stay below HMAP_NONE. */
#define EXACT_MAX ((size_t)UINT32_MAX - 1)

/* Small IDs share chunks of this size; an ID above a quarter of it gets its own. */
#define ID_CHUNK_SIZE ((size_t)64 << 10)

#define ID_SEED	  0x6a09e667f3bcc908ULL
#define PAIR_SALT 0xbb67ae8584caa73bULL

struct edge_rec {
	uint32_t s, d;
	int64_t w;
	uint32_t out_pos; /* index of this edge in nodes[s].out */
	uint32_t in_pos;  /* index of this edge in nodes[d].in */
};

struct adj {
	uint32_t *e; /* edge numbers */
	uint32_t n, cap;
};

struct node_rec {
	struct adj out, in;
};

struct id_chunk {
	struct id_chunk *next;
	size_t used, cap;
	char data[];
};

struct exact {
	struct edge_rec *edges;
	size_t n_edges, edges_cap;
	struct hmap edge_map;

	struct node_rec *nodes;
	const char **ids;
	uint32_t *id_lens;
	size_t n_nodes, nodes_cap;
	struct hmap node_map;

	struct id_chunk *chunks; /* head: the chunk small IDs go to */
	size_t chunk_bytes;	 /* all chunks, headers included */
	size_t adj_bytes;	 /* capacity of every adjacency array */
};

static inline uint64_t pair_hash(uint32_t s, uint32_t d)
{
	/* hash_mix64 is a bijection, so distinct pairs never share a 64-bit hash. */
	return hash_mix64(((uint64_t)s << 32 | d) + PAIR_SALT);
}

static inline uint64_t id_hash(const void *id, size_t len)
{
	return hash_bytes(id, len, ID_SEED);
}

/* 1.5x growth from `cap` until `need` fits, or 0 when need exceeds max. */
static size_t next_cap(size_t cap, size_t need, size_t min, size_t max)
{
	size_t c = cap < min ? min : cap;

	if (need > max)
		return 0;
	while (c < need)
		c = c > max - c / 2 ? max : c + c / 2;
	return c;
}

/* realloc() to `cap` elements of `size`, or NULL (p still valid) on failure. */
static void *resize(void *p, size_t cap, size_t size)
{
	size_t bytes;

	if (check_mul_overflow(cap, size, &bytes))
		return NULL;
	return realloc(p, bytes);
}

static int reserve_edges(struct exact *x, size_t need)
{
	size_t cap;
	void *p;

	if (need <= x->edges_cap)
		return 0;
	cap = next_cap(x->edges_cap, need, 16, EXACT_MAX);
	if (!cap)
		return -EOVERFLOW;
	p = resize(x->edges, cap, sizeof(*x->edges));
	if (!p)
		return -ENOMEM;
	x->edges = p;
	x->edges_cap = cap;
	return 0;
}

static int reserve_nodes(struct exact *x, size_t need)
{
	size_t cap;
	void *p;

	if (need <= x->nodes_cap)
		return 0;
	cap = next_cap(x->nodes_cap, need, 16, EXACT_MAX);
	if (!cap)
		return -EOVERFLOW;
	/* A partial failure leaves some arrays larger than nodes_cap: harmless. */
	p = resize(x->nodes, cap, sizeof(*x->nodes));
	if (!p)
		return -ENOMEM;
	x->nodes = p;
	p = resize(x->ids, cap, sizeof(*x->ids));
	if (!p)
		return -ENOMEM;
	x->ids = p;
	p = resize(x->id_lens, cap, sizeof(*x->id_lens));
	if (!p)
		return -ENOMEM;
	x->id_lens = p;
	x->nodes_cap = cap;
	return 0;
}

static int adj_reserve(struct exact *x, struct adj *a)
{
	size_t cap;
	void *p;

	if (a->n < a->cap)
		return 0;
	cap = next_cap(a->cap, (size_t)a->n + 1, 4, EXACT_MAX);
	if (!cap)
		return -EOVERFLOW;
	p = resize(a->e, cap, sizeof(*a->e));
	if (!p)
		return -ENOMEM;
	a->e = p;
	x->adj_bytes += (cap - a->cap) * sizeof(*a->e);
	a->cap = (uint32_t)cap;
	return 0;
}

/* Gives back memory after heavy deletion; a failed shrink just keeps the old array. */
static void adj_shrink(struct exact *x, struct adj *a)
{
	uint32_t cap = a->cap / 2;
	void *p;

	if (a->cap <= 16 || a->n > a->cap / 4)
		return;
	p = resize(a->e, cap, sizeof(*a->e));
	if (!p)
		return;
	a->e = p;
	x->adj_bytes -= (size_t)(a->cap - cap) * sizeof(*a->e);
	a->cap = cap;
}

/* Rebuilds a map sized for `expect` from the entries it indexes. */
static int rebuild_edge_map(struct exact *x, size_t expect)
{
	struct hmap nm;
	int ret;

	ret = hmap_init(&nm, expect);
	if (ret)
		return ret;
	for (size_t e = 0; e < x->n_edges; e++) {
		ret = hmap_insert(&nm, pair_hash(x->edges[e].s, x->edges[e].d), (uint32_t)e);
		if (ret)
			goto err;
	}
	hmap_destroy(&x->edge_map);
	x->edge_map = nm;
	return 0;
err:
	hmap_destroy(&nm);
	return ret;
}

static int rebuild_node_map(struct exact *x, size_t expect)
{
	struct hmap nm;
	int ret;

	ret = hmap_init(&nm, expect);
	if (ret)
		return ret;
	for (size_t n = 0; n < x->n_nodes; n++) {
		ret = hmap_insert(&nm, id_hash(x->ids[n], x->id_lens[n]), (uint32_t)n);
		if (ret)
			goto err;
	}
	hmap_destroy(&x->node_map);
	x->node_map = nm;
	return 0;
err:
	hmap_destroy(&nm);
	return ret;
}

int exact_create(struct exact **out)
{
	struct exact *x;
	int ret;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	ret = hmap_init(&x->edge_map, 0);
	if (ret)
		goto err_free;
	ret = hmap_init(&x->node_map, 0);
	if (ret)
		goto err_edge_map;
	*out = x;
	return 0;
err_edge_map:
	hmap_destroy(&x->edge_map);
err_free:
	free(x);
	return ret;
}

void exact_destroy(struct exact *x)
{
	struct id_chunk *c, *next;

	if (!x)
		return;
	for (size_t n = 0; n < x->n_nodes; n++) {
		free(x->nodes[n].out.e);
		free(x->nodes[n].in.e);
	}
	for (c = x->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(x->nodes);
	free(x->ids);
	free(x->id_lens);
	free(x->edges);
	hmap_destroy(&x->node_map);
	hmap_destroy(&x->edge_map);
	free(x);
}

int exact_reserve(struct exact *x, size_t nodes, size_t edges)
{
	int ret;

	if (nodes > EXACT_MAX || edges > EXACT_MAX)
		return -EOVERFLOW;
	ret = reserve_nodes(x, nodes);
	if (!ret)
		ret = reserve_edges(x, edges);
	/* Only rebuild a map that would otherwise grow past its 3/4 load on the way. */
	if (!ret && nodes * 4 > (size_t)3 << x->node_map.bits)
		ret = rebuild_node_map(x, nodes);
	if (!ret && edges * 4 > (size_t)3 << x->edge_map.bits)
		ret = rebuild_edge_map(x, edges);
	return ret;
}

/* A chunk with `need` free bytes; the bytes are only taken by id_commit(). */
static struct id_chunk *id_room(struct exact *x, size_t need)
{
	struct id_chunk *c = x->chunks;
	size_t cap = ID_CHUNK_SIZE;
	bool own = need > ID_CHUNK_SIZE / 4;

	if (!own && c && c->cap - c->used >= need)
		return c;
	if (own)
		cap = need;
	if (cap > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + cap);
	if (!c)
		return NULL;
	c->used = 0;
	c->cap = cap;
	/* A large ID goes behind the head so that small IDs keep filling the head. */
	if (own && x->chunks) {
		c->next = x->chunks->next;
		x->chunks->next = c;
	} else {
		c->next = x->chunks;
		x->chunks = c;
	}
	x->chunk_bytes += sizeof(*c) + cap;
	return c;
}

static const char *id_commit(struct id_chunk *c, const void *id, size_t len)
{
	char *p = c->data + c->used;

	if (len)
		memcpy(p, id, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

static uint32_t find_node(const struct exact *x, const void *id, size_t len, uint64_t h)
{
	struct hmap_iter it;
	uint32_t n;

	for (n = hmap_first(&x->node_map, h, &it); n != HMAP_NONE;
	     n = hmap_next(&x->node_map, &it)) {
		if (x->id_lens[n] == len && (len == 0 || !memcmp(x->ids[n], id, len)))
			return n;
	}
	return HMAP_NONE;
}

int exact_find_node(const struct exact *x, const void *id, size_t len, uint32_t *out)
{
	uint32_t n;

	if (!id && len)
		return -EINVAL;
	if (len >= UINT32_MAX)
		return -ENOENT;
	n = find_node(x, id, len, id_hash(id, len));
	if (n == HMAP_NONE)
		return -ENOENT;
	*out = n;
	return 0;
}

int exact_node(struct exact *x, const void *id, size_t len, uint32_t *out)
{
	uint64_t h;
	struct id_chunk *c;
	uint32_t n;
	int ret;

	if ((!id && len) || len >= UINT32_MAX)
		return -EINVAL;
	h = id_hash(id, len);
	n = find_node(x, id, len, h);
	if (n != HMAP_NONE) {
		*out = n;
		return 0;
	}
	if (x->n_nodes >= EXACT_MAX)
		return -EOVERFLOW;
	ret = reserve_nodes(x, x->n_nodes + 1);
	if (ret)
		return ret;
	c = id_room(x, len + 1);
	if (!c)
		return -ENOMEM;
	n = (uint32_t)x->n_nodes;
	ret = hmap_insert(&x->node_map, h, n);
	if (ret)
		return ret;
	x->ids[n] = id_commit(c, id, len);
	x->id_lens[n] = (uint32_t)len;
	memset(&x->nodes[n], 0, sizeof(x->nodes[n]));
	x->n_nodes++;
	*out = n;
	return 0;
}

const char *exact_node_id(const struct exact *x, uint32_t n, size_t *len)
{
	if (n >= x->n_nodes)
		return NULL;
	if (len)
		*len = x->id_lens[n];
	return x->ids[n];
}

size_t exact_node_count(const struct exact *x)
{
	return x->n_nodes;
}

size_t exact_edge_count(const struct exact *x)
{
	return x->n_edges;
}

static uint32_t find_edge(const struct exact *x, uint32_t s, uint32_t d, uint64_t h)
{
	struct hmap_iter it;
	uint32_t e;

	for (e = hmap_first(&x->edge_map, h, &it); e != HMAP_NONE;
	     e = hmap_next(&x->edge_map, &it)) {
		if (x->edges[e].s == s && x->edges[e].d == d)
			return e;
	}
	return HMAP_NONE;
}

int64_t exact_edge(const struct exact *x, uint32_t s, uint32_t d)
{
	uint32_t e;

	if (s >= x->n_nodes || d >= x->n_nodes)
		return 0;
	e = find_edge(x, s, d, pair_hash(s, d));
	return e == HMAP_NONE ? 0 : x->edges[e].w;
}

static void edge_remove(struct exact *x, uint32_t e, uint64_t h)
{
	struct edge_rec *r = &x->edges[e];
	struct adj *out = &x->nodes[r->s].out;
	struct adj *in = &x->nodes[r->d].in;
	uint32_t last;

	/* Cannot fail: e was just found under h. */
	hmap_remove(&x->edge_map, h, e);

	last = out->e[--out->n];
	out->e[r->out_pos] = last;
	x->edges[last].out_pos = r->out_pos;
	last = in->e[--in->n];
	in->e[r->in_pos] = last;
	x->edges[last].in_pos = r->in_pos;
	adj_shrink(x, out);
	adj_shrink(x, in);

	last = (uint32_t)--x->n_edges;
	if (e != last) {
		*r = x->edges[last];
		hmap_retarget(&x->edge_map, pair_hash(r->s, r->d), last, e);
		x->nodes[r->s].out.e[r->out_pos] = e;
		x->nodes[r->d].in.e[r->in_pos] = e;
	}
}

int exact_update(struct exact *x, uint32_t s, uint32_t d, int64_t w)
{
	struct node_rec *ns, *nd;
	struct edge_rec *r;
	uint64_t h;
	uint32_t e;
	int64_t sum;
	int ret;

	if (s >= x->n_nodes || d >= x->n_nodes)
		return -EINVAL;
	if (w == 0)
		return 0;
	h = pair_hash(s, d);
	e = find_edge(x, s, d, h);
	if (e != HMAP_NONE) {
		if (check_add_overflow(x->edges[e].w, w, &sum))
			return -ERANGE;
		if (sum)
			x->edges[e].w = sum;
		else
			edge_remove(x, e, h);
		return 0;
	}

	/* Reserve everything first so that a failure changes nothing visible. */
	if (x->n_edges >= EXACT_MAX)
		return -EOVERFLOW;
	ret = reserve_edges(x, x->n_edges + 1);
	if (ret)
		return ret;
	ns = &x->nodes[s];
	nd = &x->nodes[d];
	ret = adj_reserve(x, &ns->out);
	if (ret)
		return ret;
	ret = adj_reserve(x, &nd->in);
	if (ret)
		return ret;
	e = (uint32_t)x->n_edges;
	ret = hmap_insert(&x->edge_map, h, e);
	if (ret)
		return ret;

	r = &x->edges[e];
	r->s = s;
	r->d = d;
	r->w = w;
	r->out_pos = ns->out.n;
	r->in_pos = nd->in.n;
	ns->out.e[ns->out.n++] = e;
	nd->in.e[nd->in.n++] = e;
	x->n_edges++;
	return 0;
}

int exact_for_each_succ(const struct exact *x, uint32_t v, exact_nbr_fn *fn, void *arg)
{
	const struct adj *a;
	int ret;

	if (v >= x->n_nodes)
		return -EINVAL;
	a = &x->nodes[v].out;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct edge_rec *r = &x->edges[a->e[i]];

		ret = fn(r->d, r->w, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int exact_for_each_pred(const struct exact *x, uint32_t v, exact_nbr_fn *fn, void *arg)
{
	const struct adj *a;
	int ret;

	if (v >= x->n_nodes)
		return -EINVAL;
	a = &x->nodes[v].in;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct edge_rec *r = &x->edges[a->e[i]];

		ret = fn(r->s, r->w, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int exact_for_each_edge(const struct exact *x, exact_edge_fn *fn, void *arg)
{
	int ret;

	for (size_t e = 0; e < x->n_edges; e++) {
		const struct edge_rec *r = &x->edges[e];

		ret = fn(r->s, r->d, r->w, arg);
		if (ret)
			return ret;
	}
	return 0;
}

static int adj_sum(const struct exact *x, const struct adj *a, int64_t *weight, uint64_t *degree)
{
	int64_t sum = 0;

	if (weight) {
		for (uint32_t i = 0; i < a->n; i++) {
			if (check_add_overflow(sum, x->edges[a->e[i]].w, &sum))
				return -ERANGE;
		}
		*weight = sum;
	}
	if (degree)
		*degree = a->n;
	return 0;
}

int exact_out(const struct exact *x, uint32_t v, int64_t *weight, uint64_t *degree)
{
	if (v >= x->n_nodes)
		return -EINVAL;
	return adj_sum(x, &x->nodes[v].out, weight, degree);
}

int exact_in(const struct exact *x, uint32_t v, int64_t *weight, uint64_t *degree)
{
	if (v >= x->n_nodes)
		return -EINVAL;
	return adj_sum(x, &x->nodes[v].in, weight, degree);
}

/* One direction of the bidirectional search. */
struct bfs_side {
	uint64_t *seen; /* bitmap over node numbers */
	uint32_t *queue;
	size_t head, tail;
};

static inline bool bit_test(const uint64_t *b, uint32_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static inline void bit_set(uint64_t *b, uint32_t i)
{
	b[i / 64] |= (uint64_t)1 << (i % 64);
}

/*
 * Expands the next node of `me`, over out edges when `fwd`, else in edges.
 * True when it reaches a node the other side has seen.
 */
static bool bfs_step(const struct exact *x, struct bfs_side *me, const struct bfs_side *other,
		     bool fwd)
{
	uint32_t v = me->queue[me->head++];
	const struct adj *a = fwd ? &x->nodes[v].out : &x->nodes[v].in;

	for (uint32_t i = 0; i < a->n; i++) {
		const struct edge_rec *r = &x->edges[a->e[i]];
		uint32_t u = fwd ? r->d : r->s;

		if (bit_test(other->seen, u))
			return true;
		if (!bit_test(me->seen, u)) {
			bit_set(me->seen, u);
			me->queue[me->tail++] = u;
		}
	}
	return false;
}

int exact_reachable(const struct exact *x, uint32_t s, uint32_t d, bool *out)
{
	struct bfs_side f, b;
	size_t words, n = x->n_nodes;
	uint64_t *bits;
	uint32_t *queues;
	bool found = false;
	int ret = 0;

	if (s >= n || d >= n)
		return -EINVAL;
	if (s == d || x->nodes[s].out.n == 0 || x->nodes[d].in.n == 0) {
		*out = s == d;
		return 0;
	}
	words = (n + 63) / 64;
	bits = calloc(2 * words, sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	/* Each side enqueues a node at most once. */
	queues = malloc(2 * n * sizeof(*queues));
	if (!queues) {
		ret = -ENOMEM;
		goto out_bits;
	}
	f = (struct bfs_side){ .seen = bits, .queue = queues };
	b = (struct bfs_side){ .seen = bits + words, .queue = queues + n };
	bit_set(f.seen, s);
	f.queue[f.tail++] = s;
	bit_set(b.seen, d);
	b.queue[b.tail++] = d;

	/*
	 * The two seen sets stay disjoint until they meet, and a side whose
	 * queue empties has seen everything on its side of the cut: so either
	 * exit is a proof.
	 */
	while (!found && f.head < f.tail && b.head < b.tail) {
		if (f.tail - f.head <= b.tail - b.head)
			found = bfs_step(x, &f, &b, true);
		else
			found = bfs_step(x, &b, &f, false);
	}
	*out = found;
	free(queues);
out_bits:
	free(bits);
	return ret;
}

size_t exact_memory(const struct exact *x)
{
	return sizeof(*x) + x->edges_cap * sizeof(*x->edges) + hmap_memory(&x->edge_map) +
	       x->nodes_cap * (sizeof(*x->nodes) + sizeof(*x->ids) + sizeof(*x->id_lens)) +
	       hmap_memory(&x->node_map) + x->chunk_bytes + x->adj_bytes;
}
