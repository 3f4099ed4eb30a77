/* SPDX-License-Identifier: MIT */
/* Laconic's internal functions; the types are in lb-t.h. */
#ifndef LACONIC_LB_H
#define LACONIC_LB_H

#include <sys/uio.h>

#include "compiler.h"
#include "lb-t.h"

/* Single-writer counters: a plain store the admin thread may read at any time. */
#define STAT_ADD(x, v) WRITE_ONCE(x, (x) + (v))

/* runtime.c: a runtime built from a configuration (takes ownership of cfg). */
int rt_create(struct cfg *cfg, size_t nworkers, uint64_t generation, struct lb_runtime **out);
void rt_get(struct lb_runtime *rt);
void rt_put(struct lb_runtime *rt);
/* Marks a backend down or up and tells the workers; true when it changed. */
bool rt_set_up(struct lb_runtime *rt, struct lb_backend *be, bool up);
/* Usable for new requests: up and not draining. */
bool rt_usable(const struct lb_backend *be);
/* Passive failure seen by a worker at time now (ms). */
void rt_backend_failed(struct lb_runtime *rt, struct lb_backend *be, uint64_t now);
/* Main thread, periodically: ends passive ejections whose time has come. */
void rt_passive_tick(struct lb_runtime *rt, uint64_t now);
/* One listening socket with SO_REUSEPORT; -errno. */
int rt_listen(const struct cfg_addr *a, int backlog);

/* proxy.c: a worker. */
int worker_init(struct lb_worker *w, unsigned id, size_t nworkers, struct lb_runtime *rt,
		struct lb_graph *graph, struct lc_agent *agent, int log_fd);
void worker_fini(struct lb_worker *w);
void *worker_main(void *arg);
/* Worker 0's, after its thread is joined and the agent's reaper stopped. */
void worker_last_oneshots(struct lb_worker *w);
/* Sums per-backend counters of every worker into out[rt->nbackends]. */
void worker_sum_bstats(const struct lb_runtime *rt, struct lb_bstats *out);
void worker_sum_wstats(struct lb_worker *ws, size_t nw, struct lb_wstats *out);
/* Upper bounds of the latency histogram buckets, microseconds. */
extern const uint64_t lb_hist_bounds_us[LB_HIST_N - 1];

/* A client or spliced connection is done with its worker's runtime view. */
void wrt_unuse(struct lb_wrt *wrt);

/* splice.c: the splice slow path of one worker (see the essay there). */
int splicer_create(struct lb_worker *w, const struct cfg *cfg, struct lb_splicer **out);
void splicer_free(struct lb_splicer *sp);
size_t splicer_count(const struct lb_splicer *sp);
/* A client socket's TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK, or -errno (splice.c). */
int splice_client_opts(int cfd);
/* Whether a client leg with those options can be spliced to be. */
bool splice_fits(struct lb_worker *w, const struct lb_backend *be, int opts);
/*
 * Takes the client socket cfd, whose request head has been read, and splices
 * it to backend be, replaying rq->iov. 0: cfd is the splicer's now (if the
 * backend's leg cannot be joined to the client's, the splicer hands it back
 * through proxy_adopt()). -errno: cfd is still the caller's (-EBUSY: out of
 * ports or slots, answer 503; else 502).
 */
int splice_start(struct lb_worker *w, struct lb_wrt *wrt, struct lb_backend *be, int cfd,
		 const struct lb_splice_req *rq);
/*
 * proxy.c: a client socket back from the splicer, to be proxied from its
 * first byte: iov holds what was read from it (its head, unparsed, and what
 * followed). 0, or -errno (fd is still the caller's).
 */
int proxy_adopt(struct lb_worker *w, struct lb_wrt *wrt, size_t listener, int fd,
		const struct sockaddr_storage *peer, const struct iovec *iov, int iovcnt);

/* graph.c: the traffic graph (client address -> backend, weighted by bytes). */
int graph_create(uint64_t memory, size_t nworkers, struct lb_graph **out);
void graph_free(struct lb_graph *g);
/* Worker side: accumulate locally, flush to the shared sketch now and then. */
void graph_add(struct lb_graph *g, unsigned worker, const char *client, const char *backend,
	       uint64_t bytes);
void graph_flush(struct lb_graph *g, unsigned worker);
/* Admin side, JSON text (caller frees): */
char *graph_json_backend(struct lb_graph *g, const char *backend, size_t k);
char *graph_json_client(struct lb_graph *g, const char *client);
char *graph_json_summary(struct lb_graph *g);

/* health.c / admin.c: the main thread. */
struct lb_admin;
int admin_start(struct ev_loop *loop, const struct cfg_addr *addr, struct lb_admin **out);
void admin_stop(struct ev_loop *loop, struct lb_admin *a);
void admin_set_state(struct lb_admin *a, struct lb_runtime *rt, struct lb_worker *ws, size_t nw,
		     struct lb_graph *graph);

struct lb_health;
int health_start(struct ev_loop *loop, struct lb_runtime *rt, struct lb_health **out);
void health_stop(struct ev_loop *loop, struct lb_health *h);
/* Reload: stop h now, free it (health_free_graves) after the current event batch. */
void health_detach(struct ev_loop *loop, struct lb_health *h);
void health_free(struct lb_health *h);
void health_retire(struct ev_loop *loop, struct lb_health *h, struct lb_health **graves);
void health_free_graves(struct lb_health **graves);

#endif /* LACONIC_LB_H */
