// SPDX-License-Identifier: MIT
/*
 * The admin endpoint, served by the main thread (never by a worker, so a
 * slow scraper cannot delay traffic):
 *
 *   GET /metrics                    Prometheus text format 0.0.4
 *   GET /status                     JSON: configuration generation, listeners,
 *                                   pools, backends with health and counters
 *   GET /graph                      JSON: traffic-graph sketch summary
 *   GET /graph/backend?addr=A[&k=N] JSON: the N heaviest clients of backend A
 *   GET /graph/client?addr=A        JSON: the backends client A reached, bytes
 *
 * One request per connection (Connection: close): scrapers open one per
 * scrape anyway, and it keeps this file free of keep-alive state. The
 * request is parsed with the same strict parser as the data path.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "lb.h"
#include "log.h"

#define ADM_IN_MAX  8192
#define ADM_TIMEOUT 5000

struct lb_admin {
	struct ev_io lio;
	struct ev_loop *loop;
	struct lb_runtime *rt;
	struct lb_worker *ws;
	size_t nw;
	struct lb_graph *graph;
};

struct adm_conn {
	struct ev_io io;
	struct ev_timer timer;
	struct lb_admin *a;
	size_t len;
	char *out;
	size_t outlen, off;
	bool replied;
	char in[ADM_IN_MAX];
};

static void conn_free(struct ev_loop *loop, struct adm_conn *c)
{
	ev_timer_cancel(loop, &c->timer);
	ev_io_del(loop, &c->io);
	close(c->io.fd);
	free(c->out);
	free(c);
}

static const char *local_code[] = { "400", "431", "501", "502", "503", "504", "505" };

/* Splice mode: the slow path's counters and the fast path's per-CPU ones. */
static void splice_metrics(const struct lb_admin *a, const struct lb_wstats *ws, FILE *f)
{
	const struct lc_agent *ag = a->nw ? a->ws[0].agent : NULL;
	static const char *const fp_name[LC_S_MAX] = {
		[LC_S_TRANSLATED] = "translated",
		[LC_S_BYTES] = "bytes",
		[LC_S_HOLD_DROP] = "hold_dropped",
		[LC_S_GUARD_DROP] = "guard_dropped",
		[LC_S_SYN_PASS] = "syn_passed",
		[LC_S_FIN] = "fin",
		[LC_S_RST] = "rst",
		[LC_S_TRANSLATED6] = "translated_ipv6", /* of "translated" */
		[LC_S_SYNACK_DROP] = "synack_dropped",
		[LC_S_COOKIE_SENT] = "cookie_sent",
		[LC_S_COOKIE_OK] = "cookie_accepted",
		[LC_S_COOKIE_FAIL] = "cookie_refused",
		[LC_S_COOKIE_HELD] = "cookie_held",
		[LC_S_OS_SYN] = "oneshot_syn",
		[LC_S_OS_HEAD] = "oneshot_head",
		[LC_S_OS_PASS] = "oneshot_declined",
		[LC_S_OS_ACKDROP] = "oneshot_ack_dropped",
		[LC_S_OS_NOSLOT] = "oneshot_no_slot",
		[LC_S_OS_NOTHEAD] = "oneshot_not_head",
		[LC_S_OS_ENDED] = "oneshot_ended",
		[LC_S_OS_REFUSED] = "oneshot_refused",
		[LC_S_OS_RESYN] = "oneshot_syn_again",
	};
	uint64_t fp[LC_S_MAX];
	size_t i;

	if (!ag)
		return;
	fprintf(f,
		"# HELP laconic_splice_started_total Connections handed to the forwarding agent.\n"
		"# TYPE laconic_splice_started_total counter\nlaconic_splice_started_total %llu\n"
		"# HELP laconic_splice_connections Spliced connections in the fast path.\n"
		"# TYPE laconic_splice_connections gauge\nlaconic_splice_connections %llu\n"
		"# HELP laconic_splice_failed_total Hand-overs that ended before or instead of a "
		"splice.\n"
		"# TYPE laconic_splice_failed_total counter\nlaconic_splice_failed_total %llu\n"
		"# HELP laconic_splice_fallbacks_total Connections proxied after all, because their "
		"backend's leg negotiated other TCP options than the client's.\n"
		"# TYPE laconic_splice_fallbacks_total counter\nlaconic_splice_fallbacks_total %llu\n"
		"# HELP laconic_splice_replay_retransmits_total Replay segments sent again.\n"
		"# TYPE laconic_splice_replay_retransmits_total counter\n"
		"laconic_splice_replay_retransmits_total %llu\n"
		"# HELP laconic_splice_closed_total Spliced connections removed after FIN/FIN or RST.\n"
		"# TYPE laconic_splice_closed_total counter\nlaconic_splice_closed_total %llu\n"
		"# HELP laconic_splice_idle_total Spliced connections forgotten after timeout_idle.\n"
		"# TYPE laconic_splice_idle_total counter\nlaconic_splice_idle_total %llu\n"
		"# HELP laconic_splice_no_capacity_total Connections refused (503) for want of a "
		"port or slot.\n"
		"# TYPE laconic_splice_no_capacity_total counter\n"
		"laconic_splice_no_capacity_total %llu\n",
		(unsigned long long)ws->sp_started, (unsigned long long)ws->sp_live,
		(unsigned long long)ws->sp_failed, (unsigned long long)ws->sp_fallback,
		(unsigned long long)ws->sp_rtx, (unsigned long long)ws->sp_closed,
		(unsigned long long)ws->sp_idle, (unsigned long long)ws->sp_no_port);
	if (agent_stats(ag, fp))
		return;
	fprintf(f, "# HELP laconic_fastpath_total Fast-path (TC-BPF) packet counters.\n"
		   "# TYPE laconic_fastpath_total counter\n");
	for (i = 0; i < LC_S_MAX; i++)
		fprintf(f, "laconic_fastpath_total{what=\"%s\"} %llu\n", fp_name[i],
			(unsigned long long)fp[i]);
	if (agent_oneshot_on(ag))
		fprintf(f,
			"# HELP laconic_oneshot_unaccounted_total One-shot connections served but "
			"missing from the counters, log and graph (their records overflowed).\n"
			"# TYPE laconic_oneshot_unaccounted_total counter\n"
			"laconic_oneshot_unaccounted_total %llu\n",
			(unsigned long long)agent_oneshot_lost(ag));
}

static void metrics(struct lb_admin *a, FILE *f)
{
	struct lb_runtime *rt = a->rt;
	struct lb_bstats *bs = calloc(rt->nbackends ? rt->nbackends : 1, sizeof(*bs));
	struct lb_wstats ws;
	size_t i, j;

	if (!bs)
		return;
	worker_sum_bstats(rt, bs);
	worker_sum_wstats(a->ws, a->nw, &ws);
	fprintf(f,
		"# HELP laconic_config_generation Configuration generation (1 + reloads).\n"
		"# TYPE laconic_config_generation gauge\nlaconic_config_generation %llu\n",
		(unsigned long long)rt->generation);
	fprintf(f,
		"# HELP laconic_connections_accepted_total Client connections accepted.\n"
		"# TYPE laconic_connections_accepted_total counter\n"
		"laconic_connections_accepted_total %llu\n",
		(unsigned long long)ws.accepted);
	fprintf(f,
		"# HELP laconic_client_connections Open client connections.\n"
		"# TYPE laconic_client_connections gauge\nlaconic_client_connections %llu\n",
		(unsigned long long)ws.clients);
	fprintf(f,
		"# HELP laconic_requests_total Requests whose head was parsed.\n"
		"# TYPE laconic_requests_total counter\nlaconic_requests_total %llu\n",
		(unsigned long long)ws.requests);
	fprintf(f, "# HELP laconic_local_responses_total Responses generated by the balancer.\n"
		   "# TYPE laconic_local_responses_total counter\n");
	for (i = 0; i < ARRAY_SIZE(local_code); i++)
		fprintf(f, "laconic_local_responses_total{code=\"%s\"} %llu\n", local_code[i],
			(unsigned long long)ws.local[i]);
	fprintf(f,
		"# HELP laconic_client_timeouts_total Client connections closed by a timeout.\n"
		"# TYPE laconic_client_timeouts_total counter\nlaconic_client_timeouts_total %llu\n",
		(unsigned long long)ws.timeouts);
	fprintf(f,
		"# HELP laconic_splice_calls_total splice(2) calls that moved response bytes.\n"
		"# TYPE laconic_splice_calls_total counter\nlaconic_splice_calls_total %llu\n"
		"# HELP laconic_splice_bytes_total Response bytes moved by splice(2).\n"
		"# TYPE laconic_splice_bytes_total counter\nlaconic_splice_bytes_total %llu\n",
		(unsigned long long)ws.splices, (unsigned long long)ws.splice_bytes);

	splice_metrics(a, &ws, f);

#define PER_BACKEND(metric, type, help, expr)                                                    \
	do {                                                                                     \
		fprintf(f, "# HELP laconic_backend_" metric " " help                             \
			   "\n# TYPE laconic_backend_" metric " " type "\n");                    \
		for (i = 0; i < rt->nbackends; i++)                                              \
			fprintf(f,                                                               \
				"laconic_backend_" metric "{pool=\"%s\",backend=\"%s\"} %llu\n", \
				rt->pools[rt->backends[i].pool].cfg->name,                       \
				rt->backends[i].cfg->addr.text, (unsigned long long)(expr));     \
	} while (0)

	PER_BACKEND("up", "gauge", "1 when the backend takes new requests.",
		    rt_usable(&rt->backends[i]) ? 1 : 0);
	PER_BACKEND("active_requests", "gauge", "Requests in flight.", bs[i].active);
	PER_BACKEND("requests_total", "counter", "Responses relayed.", bs[i].requests);
	PER_BACKEND("errors_total", "counter", "Connect failures, resets, bad responses, timeouts.",
		    bs[i].errors);
	PER_BACKEND("sent_bytes_total", "counter", "Request bytes sent to the backend.",
		    bs[i].bytes_in);
	PER_BACKEND("received_bytes_total", "counter", "Response bytes relayed to clients.",
		    bs[i].bytes_out);
	PER_BACKEND("connects_total", "counter", "New upstream connections.", bs[i].connects);
	PER_BACKEND("reuses_total", "counter", "Requests sent on a pooled connection.",
		    bs[i].reuses);
#undef PER_BACKEND
	fprintf(f, "# HELP laconic_backend_responses_total Responses by status class.\n"
		   "# TYPE laconic_backend_responses_total counter\n");
	for (i = 0; i < rt->nbackends; i++)
		for (j = 1; j <= 5; j++)
			fprintf(f,
				"laconic_backend_responses_total{pool=\"%s\",backend=\"%s\","
				"code=\"%zuxx\"} %llu\n",
				rt->pools[rt->backends[i].pool].cfg->name,
				rt->backends[i].cfg->addr.text, j,
				(unsigned long long)bs[i].resp_class[j]);
	fprintf(f, "# HELP laconic_request_duration_seconds Head parsed to response relayed.\n"
		   "# TYPE laconic_request_duration_seconds histogram\n");
	for (i = 0; i < rt->nbackends; i++) {
		const char *pn = rt->pools[rt->backends[i].pool].cfg->name;
		const char *bn = rt->backends[i].cfg->addr.text;
		uint64_t cum = 0;

		for (j = 0; j < LB_HIST_N; j++) {
			cum += bs[i].hist[j];
			if (j < LB_HIST_N - 1)
				fprintf(f,
					"laconic_request_duration_seconds_bucket{pool=\"%s\",backend="
					"\"%s\",le=\"%g\"} %llu\n",
					pn, bn, (double)lb_hist_bounds_us[j] / 1e6,
					(unsigned long long)cum);
			else
				fprintf(f,
					"laconic_request_duration_seconds_bucket{pool=\"%s\",backend="
					"\"%s\",le=\"+Inf\"} %llu\n",
					pn, bn, (unsigned long long)cum);
		}
		fprintf(f,
			"laconic_request_duration_seconds_sum{pool=\"%s\",backend=\"%s\"} %.6f\n"
			"laconic_request_duration_seconds_count{pool=\"%s\",backend=\"%s\"} %llu\n",
			pn, bn, (double)bs[i].lat_sum_us / 1e6, pn, bn, (unsigned long long)cum);
	}
	free(bs);
}

static char *status_json(struct lb_admin *a)
{
	struct lb_runtime *rt = a->rt;
	const struct cfg *cfg = rt->cfg;
	struct lb_bstats *bs = calloc(rt->nbackends ? rt->nbackends : 1, sizeof(*bs));
	json_t *o = json_object(), *ls = json_array(), *ps = json_array();
	struct lb_wstats ws;
	char *s = NULL;
	size_t i, j;

	if (!bs || !o || !ls || !ps)
		goto out;
	worker_sum_bstats(rt, bs);
	worker_sum_wstats(a->ws, a->nw, &ws);
	json_object_set_new(o, "generation", json_integer((json_int_t)rt->generation));
	json_object_set_new(o, "workers", json_integer((json_int_t)a->nw));
	json_object_set_new(o, "client_connections", json_integer((json_int_t)ws.clients));
	json_object_set_new(o, "accepted", json_integer((json_int_t)ws.accepted));
	json_object_set_new(o, "requests", json_integer((json_int_t)ws.requests));
	if (a->nw && a->ws[0].agent)
		json_object_set_new(o, "splice",
				    json_pack("{s:s, s:I, s:I, s:I, s:I}", "interfaces",
					      agent_interfaces(a->ws[0].agent), "connections",
					      (json_int_t)ws.sp_live, "started",
					      (json_int_t)ws.sp_started, "failed",
					      (json_int_t)ws.sp_failed, "fallbacks",
					      (json_int_t)ws.sp_fallback));
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct cfg_listener *li = &cfg->listeners[i];

		json_array_append_new(ls,
				      json_pack("{s:s, s:s, s:s, s:s}", "name", li->name, "listen",
						li->addr.text, "mode",
						li->mode == CFG_MODE_SPLICE ? "splice" : "proxy",
						"pool", cfg->pools[li->pool].name));
	}
	for (i = 0; i < rt->npools; i++) {
		const struct lb_pool *p = &rt->pools[i];
		json_t *bl = json_array();

		for (j = 0; j < p->n; j++) {
			const struct lb_backend *be = &p->be[j];
			const struct lb_bstats *st = &bs[be->gidx];

			json_array_append_new(
				bl, json_pack("{s:s, s:i, s:b, s:b, s:I, s:I, s:I, s:I, s:i}",
					      "address", be->cfg->addr.text, "weight",
					      (int)be->cfg->weight, "up", rt_usable(be) ? 1 : 0,
					      "drain", be->cfg->drain ? 1 : 0, "active",
					      (json_int_t)st->active, "requests",
					      (json_int_t)st->requests, "errors",
					      (json_int_t)st->errors, "bytes_out",
					      (json_int_t)st->bytes_out, "check_status",
					      be->check_status));
		}
		json_array_append_new(ps,
				      json_pack("{s:s, s:s, s:o}", "name", p->cfg->name, "balance",
						bal_algo_name(p->cfg->balance), "backends", bl));
	}
	json_object_set_new(o, "listeners", ls);
	json_object_set_new(o, "pools", ps);
	ls = ps = NULL;
	s = json_dumps(o, JSON_INDENT(2));
out:
	json_decref(o);
	json_decref(ls);
	json_decref(ps);
	free(bs);
	return s;
}

/* The value of query parameter `key` (no percent-decoding: addresses need none). */
static bool query_param(struct h1_str target, const char *key, char *out, size_t cap)
{
	const char *q = memchr(target.ptr, '?', target.len);
	const char *end = target.ptr + target.len;
	size_t kl = strlen(key);

	while (q && q < end) {
		const char *p = q + 1, *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;

		if ((size_t)(stop - p) > kl && !memcmp(p, key, kl) && p[kl] == '=') {
			size_t n = (size_t)(stop - p) - kl - 1;

			if (n >= cap)
				return false;
			memcpy(out, p + kl + 1, n);
			out[n] = '\0';
			return true;
		}
		q = amp;
	}
	return false;
}

static bool path_is(struct h1_str target, const char *path)
{
	size_t n = strlen(path);

	return target.len >= n && !memcmp(target.ptr, path, n) &&
	       (target.len == n || target.ptr[n] == '?');
}

static void reply(struct adm_conn *c, int status, const char *type, char *body)
{
	const char *b = body ? body : "";
	size_t bl = strlen(b);
	/* JSON dumps end without a newline; a terminal reader wants one. */
	const char *nl = bl && b[bl - 1] != '\n' ? "\n" : "";
	FILE *f = open_memstream(&c->out, &c->outlen);

	if (!f)
		goto out;
	fprintf(f,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n%s%s",
		status, h1_reason(status), type, bl + strlen(nl), b, nl);
	fclose(f);
out:
	free(body);
	c->replied = true;
}

static void route(struct adm_conn *c, const struct h1_request *rq)
{
	struct lb_admin *a = c->a;
	char addr[CFG_NAME_MAX], kbuf[16];
	char *body = NULL;
	size_t blen = 0;

	if (!h1_str_eq(rq->method, "GET")) {
		reply(c, 405, "text/plain", strdup("only GET\n"));
		return;
	}
	if (path_is(rq->target, "/metrics")) {
		FILE *f = open_memstream(&body, &blen);

		if (f) {
			metrics(a, f);
			fclose(f);
		}
		reply(c, 200, "text/plain; version=0.0.4", body);
		return;
	}
	if (path_is(rq->target, "/status")) {
		reply(c, 200, "application/json", status_json(a));
		return;
	}
	if (!a->graph && (path_is(rq->target, "/graph") || path_is(rq->target, "/graph/backend") ||
			  path_is(rq->target, "/graph/client"))) {
		reply(c, 404, "text/plain", strdup("traffic graph is off (graph_memory = 0)\n"));
		return;
	}
	if (path_is(rq->target, "/graph")) {
		reply(c, 200, "application/json", graph_json_summary(a->graph));
		return;
	}
	if (path_is(rq->target, "/graph/backend") &&
	    query_param(rq->target, "addr", addr, sizeof(addr))) {
		long k = 10;

		if (query_param(rq->target, "k", kbuf, sizeof(kbuf)))
			k = strtol(kbuf, NULL, 10);
		if (k < 1 || k > 1000)
			k = 10;
		reply(c, 200, "application/json", graph_json_backend(a->graph, addr, (size_t)k));
		return;
	}
	if (path_is(rq->target, "/graph/client") &&
	    query_param(rq->target, "addr", addr, sizeof(addr))) {
		reply(c, 200, "application/json", graph_json_client(a->graph, addr));
		return;
	}
	reply(c, 404, "text/plain",
	      strdup("try /metrics, /status, /graph, /graph/backend?addr=A, /graph/client?addr=A\n"));
}

static void on_conn_timer(struct ev_loop *loop, struct ev_timer *t)
{
	conn_free(loop, container_of(t, struct adm_conn, timer));
}

static void on_conn_io(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct adm_conn *c = container_of(io, struct adm_conn, io);
	struct h1_header hdrs[64];
	struct h1_request rq;
	ssize_t n;

	(void)ev;
	while (!c->replied) {
		n = read(io->fd, c->in + c->len, sizeof(c->in) - c->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_free(loop, c);
			return;
		}
		c->len += (size_t)n;
		n = h1_parse_request(c->in, c->len, &rq, hdrs, 64);
		if (n > 0)
			route(c, &rq);
		else if (n != -EAGAIN || c->len == sizeof(c->in))
			reply(c, 400, "text/plain", strdup("bad request\n"));
	}
	while (c->off < c->outlen) {
		n = send(io->fd, c->out + c->off, c->outlen - c->off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		c->off += (size_t)n;
	}
	shutdown(io->fd, SHUT_WR);
	conn_free(loop, c);
}

static void on_accept(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct lb_admin *a = container_of(io, struct lb_admin, lio);
	struct adm_conn *c;
	int fd;

	(void)ev;
	fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->a = a;
	ev_timer_init(&c->timer, on_conn_timer);
	if (ev_io_add(loop, &c->io, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, on_conn_io)) {
		close(fd);
		free(c);
		return;
	}
	ev_timer_arm(loop, &c->timer, ev_now(loop) + ADM_TIMEOUT);
}

int admin_start(struct ev_loop *loop, const struct cfg_addr *addr, struct lb_admin **out)
{
	struct lb_admin *a = calloc(1, sizeof(*a));
	int fd, ret;

	if (!a)
		return -ENOMEM;
	fd = rt_listen(addr, 64);
	if (fd < 0) {
		free(a);
		return fd;
	}
	a->loop = loop;
	ret = ev_io_add(loop, &a->lio, fd, EPOLLIN, on_accept);
	if (ret) {
		close(fd);
		free(a);
		return ret;
	}
	*out = a;
	return 0;
}

void admin_set_state(struct lb_admin *a, struct lb_runtime *rt, struct lb_worker *ws, size_t nw,
		     struct lb_graph *graph)
{
	if (!a)
		return;
	a->rt = rt;
	a->ws = ws;
	a->nw = nw;
	a->graph = graph;
}

void admin_stop(struct ev_loop *loop, struct lb_admin *a)
{
	if (!a)
		return;
	ev_io_del(loop, &a->lio);
	close(a->lio.fd);
	free(a);
}
