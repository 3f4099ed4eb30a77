// SPDX-License-Identifier: MIT
/*
 * The traffic graph: who talks to whom, and how much.
 *
 * Every finished request adds the edge (client address -> backend address)
 * weighted by the bytes it moved to a GSS sketch (libgss, include/gss/gss.h),
 * so the admin endpoint can answer "which clients load this backend most",
 * "which backends did this client reach" and "how much did it send" in
 * memory linear in the number of distinct pairs, whatever the request rate.
 *
 * Workers do not touch the sketch per request. Each keeps a small open-
 * addressing table of pending (client, backend) -> bytes; a busy client
 * repeats its pair, so the table folds many requests into one entry. The
 * table is flushed into the sketch (whose own reader/writer lock makes it
 * safe for one writer at a time and any number of readers) when it is three
 * quarters full and once a second from the worker's tick.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <gss/gss.h>

#include "hash.h"
#include "lb.h"

#define PEND_SLOTS 1024u /* power of two */
#define PEND_FLUSH (PEND_SLOTS * 3 / 4)
#define ID_MAX	   64

struct pend {
	uint64_t h; /* 0 = empty */
	uint64_t bytes;
	char client[ID_MAX];
	char backend[ID_MAX];
};

struct pend_table {
	struct pend slot[PEND_SLOTS];
	size_t used;
};

struct lb_graph {
	struct gss *g;
	size_t nworkers;
	struct pend_table *pend; /* one per worker, touched by that worker only */
};

int graph_create(uint64_t memory, size_t nworkers, struct lb_graph **out)
{
	struct lb_graph *lg = calloc(1, sizeof(*lg));
	struct gss_params p;
	int ret;

	if (!lg)
		return -ENOMEM;
	lg->nworkers = nworkers;
	lg->pend = calloc(nworkers, sizeof(*lg->pend));
	if (!lg->pend) {
		ret = -ENOMEM;
		goto err;
	}
	gss_params_init(&p);
	p.memory = memory;
	/* Addresses, not hashes, are what an operator wants to read back. */
	p.flags = GSS_F_IDS | GSS_F_THREADSAFE | GSS_F_GROW;
	ret = gss_create(&p, &lg->g);
	if (ret)
		goto err;
	*out = lg;
	return 0;
err:
	free(lg->pend);
	free(lg);
	return ret;
}

void graph_free(struct lb_graph *lg)
{
	if (!lg)
		return;
	gss_destroy(lg->g);
	free(lg->pend);
	free(lg);
}

static void put_id(char *dst, const char *src)
{
	size_t n = strnlen(src, ID_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void graph_add(struct lb_graph *lg, unsigned worker, const char *client, const char *backend,
	       uint64_t bytes)
{
	struct pend_table *t = &lg->pend[worker];
	uint64_t h = hash_bytes(client, strlen(client), hash_bytes(backend, strlen(backend), 7));
	size_t i;

	h |= 1; /* never 0, the empty mark */
	for (i = h & (PEND_SLOTS - 1);; i = (i + 1) & (PEND_SLOTS - 1)) {
		struct pend *e = &t->slot[i];

		if (e->h == h && !strcmp(e->client, client) && !strcmp(e->backend, backend)) {
			e->bytes += bytes;
			return;
		}
		if (!e->h) {
			e->h = h;
			e->bytes = bytes;
			put_id(e->client, client);
			put_id(e->backend, backend);
			if (++t->used >= PEND_FLUSH)
				graph_flush(lg, worker);
			return;
		}
	}
}

void graph_flush(struct lb_graph *lg, unsigned worker)
{
	struct pend_table *t = &lg->pend[worker];
	size_t i;

	if (!t->used)
		return;
	for (i = 0; i < PEND_SLOTS; i++) {
		struct pend *e = &t->slot[i];
		uint64_t s, d;

		if (!e->h)
			continue;
		/* A failed update loses one sample of a statistic, never service. */
		if (!gss_add_id(lg->g, e->client, strlen(e->client), &s) &&
		    !gss_add_id(lg->g, e->backend, strlen(e->backend), &d))
			gss_update(lg->g, s, d,
				   e->bytes > INT64_MAX ? INT64_MAX : (int64_t)e->bytes);
		e->h = 0;
	}
	t->used = 0;
}

static int first_id(const char *id, size_t len, void *arg)
{
	json_t **out = arg;

	*out = json_stringn(id, len);
	return 1;
}

static json_t *id_of(struct lb_graph *lg, uint64_t code)
{
	json_t *s = NULL;

	gss_ids(lg->g, code, first_id, &s);
	return s ? s : json_sprintf("#%llu", (unsigned long long)code);
}

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

	json_decref(o);
	return s;
}

char *graph_json_backend(struct lb_graph *lg, const char *backend, size_t k)
{
	uint64_t code = gss_node(lg->g, backend, strlen(backend)), deg = 0;
	struct gss_nbr *nb = calloc(k ? k : 1, sizeof(*nb));
	json_t *o = json_object(), *arr = json_array();
	int64_t total = 0;
	size_t n = 0, i;

	if (!nb || !o || !arr)
		goto err;
	if (gss_node_in(lg->g, code, &total, &deg) || gss_top_in(lg->g, code, k, nb, &n))
		goto err;
	for (i = 0; i < n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "client", id_of(lg, nb[i].node));
		json_object_set_new(e, "bytes", json_integer(nb[i].w));
		json_array_append_new(arr, e);
	}
	free(nb);
	json_object_set_new(o, "backend", json_string(backend));
	json_object_set_new(o, "bytes", json_integer(total));
	json_object_set_new(o, "clients", json_integer((json_int_t)deg));
	json_object_set_new(o, "top_clients", arr);
	return dump(o);
err:
	free(nb);
	json_decref(o);
	json_decref(arr);
	return NULL;
}

struct succ_ctx {
	struct lb_graph *lg;
	json_t *arr;
};

static int add_succ(uint64_t node, int64_t w, void *arg)
{
	struct succ_ctx *sc = arg;
	json_t *e = json_object();

	json_object_set_new(e, "backend", id_of(sc->lg, node));
	json_object_set_new(e, "bytes", json_integer(w));
	json_array_append_new(sc->arr, e);
	return 0;
}

char *graph_json_client(struct lb_graph *lg, const char *client)
{
	uint64_t code = gss_node(lg->g, client, strlen(client)), deg = 0;
	struct succ_ctx sc = { lg, json_array() };
	json_t *o = json_object();
	int64_t total = 0;

	if (!o || !sc.arr || gss_node_out(lg->g, code, &total, &deg) ||
	    gss_successors(lg->g, code, add_succ, &sc)) {
		json_decref(o);
		json_decref(sc.arr);
		return NULL;
	}
	json_object_set_new(o, "client", json_string(client));
	json_object_set_new(o, "bytes", json_integer(total));
	json_object_set_new(o, "backends", sc.arr);
	return dump(o);
}

char *graph_json_summary(struct lb_graph *lg)
{
	struct gss_stats st;
	json_t *o;

	if (gss_get_stats(lg->g, &st))
		return NULL;
	o = json_object();
	json_object_set_new(o, "edges", json_integer((json_int_t)st.edges));
	json_object_set_new(o, "nodes", json_integer((json_int_t)st.ids));
	/* The sketch's own memory, not traffic: named so nobody adds it up with them. */
	json_object_set_new(o, "sketch_bytes",
			    json_integer((json_int_t)st.matrix_bytes + (json_int_t)st.aux_bytes +
					 (json_int_t)st.id_bytes));
	json_object_set_new(o, "edge_error", json_real(st.edge_error));
	return dump(o);
}
