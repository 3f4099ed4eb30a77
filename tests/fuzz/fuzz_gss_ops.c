// SPDX-License-Identifier: MIT
/*
 * Description: differential fuzzer for libgss. The input picks a sketch
 * configuration (fingerprint bits, width, addresses, candidates, hubs,
 * growth) and then a sequence of updates, deletions and queries over up to
 * 32 nodes, all mirrored in a dense exact model. Whatever the sequence:
 *
 *   - when no two nodes share a code, every answer is exact;
 *   - no false negatives: every true edge and neighbour is reported, as
 *     long as no true weight is negative (the strict turnstile model: with
 *     negative weights, colliding edges may cancel to zero);
 *   - weights are never under-estimated while no deletion happened;
 *   - nothing crashes, leaks or trips a sanitizer.
 *
 * Tiny widths make every path hot: kicks, the buffer, refills, hub
 * promotion and migration, spills and growth.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "gss/gss.h"

#define NODES 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct model {
	int64_t w[NODES][NODES];
	uint64_t code[NODES];
	unsigned n;  /* nodes in use */
	bool exact;  /* no two nodes share a code */
	bool turned; /* a weight went down: over-estimation no longer holds */
};

/* The strict turnstile model holds: no true weight is negative. */
static bool strict(const struct model *m)
{
	for (unsigned s = 0; s < m->n; s++)
		for (unsigned d = 0; d < m->n; d++)
			if (m->w[s][d] < 0)
				return false;
	return true;
}

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

struct seen {
	uint64_t node[4 * NODES * NODES];
	int64_t w[4 * NODES * NODES];
	size_t n;
};

static int collect(uint64_t node, int64_t w, void *arg)
{
	struct seen *s = arg;

	if (s->n < sizeof(s->node) / sizeof(s->node[0])) {
		s->node[s->n] = node;
		s->w[s->n++] = w;
	}
	return 0;
}

static void check_edge(const struct gss *g, const struct model *m, unsigned s, unsigned d)
{
	int64_t w;

	CHECK(gss_edge_weight(g, m->code[s], m->code[d], &w) == 0);
	if (m->exact)
		CHECK(w == m->w[s][d]);
	else if (!m->turned)
		CHECK(w >= m->w[s][d]);
}

static void check_nbrs(const struct gss *g, const struct model *m, unsigned v, bool out)
{
	static struct seen s;
	int64_t sum = 0, gw;
	uint64_t deg = 0, gd;
	bool must_find = m->exact || strict(m);

	s.n = 0;
	CHECK((out ? gss_successors : gss_precursors)(g, m->code[v], collect, &s) == 0);
	for (unsigned u = 0; u < m->n; u++) {
		int64_t w = out ? m->w[v][u] : m->w[u][v];
		bool found = false;

		if (!w)
			continue;
		sum += w;
		deg++;
		for (size_t i = 0; i < s.n && !found; i++) {
			if (s.node[i] == m->code[u]) {
				found = true;
				if (m->exact)
					CHECK(s.w[i] == w);
			}
		}
		if (must_find)
			CHECK(found); /* no false negatives */
	}
	CHECK((out ? gss_node_out : gss_node_in)(g, m->code[v], &gw, &gd) == 0);
	if (m->exact) {
		CHECK(s.n == deg);
		CHECK(gd == deg);
		CHECK(gw == sum);
	}
}

static bool model_reach(const struct model *m, unsigned s, unsigned d)
{
	bool seen[NODES] = { false };
	unsigned q[NODES], head = 0, tail = 0;

	seen[s] = true;
	q[tail++] = s;
	while (head < tail) {
		unsigned v = q[head++];

		if (v == d)
			return true;
		for (unsigned u = 0; u < m->n; u++) {
			if (m->w[v][u] && !seen[u]) {
				seen[u] = true;
				q[tail++] = u;
			}
		}
	}
	return false;
}

static struct gss *configure(struct input *in, struct model *m)
{
	static const uint32_t fps[] = { 12, 16, 20, 24, 32 };
	struct gss_params p;
	struct gss *g = NULL;
	unsigned a = take(in), b = take(in), c = take(in);

	gss_params_init(&p);
	p.fp_bits = fps[a % 5];
	p.width = 1 + (a >> 3) % 8;
	p.addrs = 1 + b % 4;
	p.cands = 1 + (b >> 2) % (p.addrs * p.addrs);
	p.seed = c;
	p.flags = ((b & 0x40) ? GSS_F_NO_HUBS : 0) | ((b & 0x80) ? GSS_F_GROW : 0);
	if (gss_create(&p, &g))
		return NULL;
	m->n = 2 + c % (NODES - 1);
	m->exact = true;
	for (unsigned i = 0; i < m->n; i++) {
		char id[16];
		int len = snprintf(id, sizeof(id), "n%u", i);

		m->code[i] = gss_node(g, id, (size_t)len);
		for (unsigned j = 0; j < i; j++)
			if (m->code[j] == m->code[i])
				m->exact = false;
	}
	return g;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	struct input in = { data, size };
	struct gss *g;

	memset(&m, 0, sizeof(m));
	g = configure(&in, &m);
	if (!g)
		return 0;
	while (in.n) {
		unsigned op = take(&in), x = take(&in) % m.n, y = take(&in) % m.n;
		int64_t w;
		bool r;

		switch (op % 10) {
		case 0:
		case 1:
		case 2:
			/* Small weights, mostly positive. */
			w = (int64_t)(op >> 4) - 3;
			if (!w)
				w = 1;
			if (gss_update(g, m.code[x], m.code[y], w) == 0) {
				m.w[x][y] += w;
				if (w < 0)
					m.turned = true;
			}
			break;
		case 3:
			/* Delete the whole edge: its room must be freed and refilled. */
			if (m.w[x][y] && gss_update(g, m.code[x], m.code[y], -m.w[x][y]) == 0) {
				m.w[x][y] = 0;
				m.turned = true;
			}
			break;
		case 4:
			/* A weight beyond int32: spills. */
			w = (op & 0x10) ? 3000000000LL : -3000000000LL;
			if (gss_update(g, m.code[x], m.code[y], w) == 0) {
				m.w[x][y] += w;
				m.turned |= w < 0;
			}
			break;
		case 5:
			check_edge(g, &m, x, y);
			break;
		case 6:
			check_nbrs(g, &m, x, (op & 0x10) != 0);
			break;
		case 7:
			CHECK(gss_reachable(g, m.code[x], m.code[y], &r) == 0);
			/* Reachability has no false negatives. */
			if (model_reach(&m, x, y) && (m.exact || strict(&m)))
				CHECK(r);
			else if (m.exact)
				CHECK(!r);
			break;
		case 8: {
			struct gss_stats st;

			/* Growth quadruples memory: a few steps cover every path. */
			if ((op & 0x10) && !gss_get_stats(g, &st) && st.width <= 64)
				gss_grow(g);
			break;
		}
		default: {
			struct gss_nbr top[4];
			size_t n;

			CHECK(gss_top_out(g, m.code[x], 4, top, &n) == 0);
			CHECK(n <= 4);
			for (size_t i = 1; i < n; i++)
				CHECK(top[i - 1].w >= top[i].w);
			break;
		}
		}
	}
	/* Final sweep: everything must still hold after the whole sequence. */
	for (unsigned s = 0; s < m.n; s++) {
		for (unsigned d = 0; d < m.n; d++)
			check_edge(g, &m, s, d);
		check_nbrs(g, &m, s, true);
		check_nbrs(g, &m, s, false);
	}
	gss_destroy(g);
	return 0;
}
