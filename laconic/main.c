// SPDX-License-Identifier: MIT
/*
 * laconic: the program. The main thread parses the command line or the
 * configuration file, opens the listeners (one SO_REUSEPORT socket per
 * worker, so the kernel spreads connections and no worker ever takes a lock
 * to accept), starts the workers, and then runs its own event loop for the
 * admin endpoint, the health checker and signals:
 *
 *   SIGHUP           reload the file; a file that does not load keeps the
 *                    running configuration, and says why
 *   SIGTERM, SIGINT  graceful stop: stop accepting, finish requests in
 *                    flight (at most drain_timeout), exit; a second one
 *                    exits at once
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"
#include "compiler.h"
#include "lb.h"
#include "log.h"

#define MAX_WORKERS  256
#define MAX_BACKENDS 64

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: laconic -c FILE [--check] [-v|-q]\n"
		"       laconic --listen ADDR:PORT --backend ADDR:PORT [--backend ...]\n"
		"               [--mode proxy|splice] [--balance roundrobin|leastconn|maglev]\n"
		"               [--admin ADDR:PORT] [--workers N] [--access-log FILE|-] [--check]\n"
		"\n"
		"An HTTP/1.1 load balancer. The quick form needs no file: one listener, one\n"
		"pool of backends. The file form adds listeners, pools, routes by Host and\n"
		"path, weights, health checks, timeouts and hot reload (SIGHUP).\n"
		"\n"
		"  -c, --config FILE     load the configuration from FILE (see laconic(8))\n"
		"      --check           validate the configuration, print it, exit 0 or 1\n"
		"      --listen ADDR     address to serve on, e.g. 0.0.0.0:8080\n"
		"      --backend ADDR    a backend, e.g. 10.0.0.2:80 (repeat for more)\n"
		"      --mode MODE       proxy (default) or splice: after the first request\n"
		"                        head a TC-BPF agent carries the connection (root,\n"
		"                        one address family per listener and its backends;\n"
		"                        laconic(8))\n"
		"      --balance ALGO    roundrobin (default), leastconn or maglev (client IP)\n"
		"      --admin ADDR      serve /metrics, /status and /graph on ADDR\n"
		"      --workers N       worker threads (default: one per CPU)\n"
		"      --access-log F    access log file, '-' for standard output\n"
		"  -v, --verbose         more log output (repeat for debug)\n"
		"  -q, --quiet           errors only\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
		"\n"
		"Exit status: 0 after a clean stop, 1 on a configuration or start-up error,\n"
		"2 on a usage error.\n");
}

struct opts {
	const char *config;
	const char *listen;
	const char *backends[MAX_BACKENDS];
	size_t nbackends;
	const char *mode, *balance, *admin, *access_log;
	long workers;
	bool check;
	int verbose;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_CHECK = 256, O_LISTEN, O_BACKEND, O_MODE, O_BALANCE, O_ADMIN, O_WORKERS, O_LOG };
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, O_CHECK },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "mode", required_argument, NULL, O_MODE },
		{ "balance", required_argument, NULL, O_BALANCE },
		{ "admin", required_argument, NULL, O_ADMIN },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "access-log", required_argument, NULL, O_LOG },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	char *end;

	o->workers = -1;
	/* Before any thread exists: getopt's static state is safe here. */
	/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
	while ((ch = getopt_long(argc, argv, "c:vqhV", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case O_CHECK:
			o->check = true;
			break;
		case O_LISTEN:
			o->listen = optarg;
			break;
		case O_BACKEND:
			if (o->nbackends == MAX_BACKENDS) {
				log_err("at most %d --backend options; use a configuration file",
					MAX_BACKENDS);
				return 2;
			}
			o->backends[o->nbackends++] = optarg;
			break;
		case O_MODE:
			o->mode = optarg;
			break;
		case O_BALANCE:
			o->balance = optarg;
			break;
		case O_ADMIN:
			o->admin = optarg;
			break;
		case O_WORKERS:
			errno = 0;
			o->workers = strtol(optarg, &end, 10);
			if (errno || *end || o->workers < 0 || o->workers > MAX_WORKERS) {
				log_err("--workers '%s': expected 0..%d", optarg, MAX_WORKERS);
				return 2;
			}
			break;
		case O_LOG:
			o->access_log = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'q':
			o->verbose = -1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("laconic 0.1.0\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (o->config && (o->listen || o->nbackends || o->mode || o->balance)) {
		log_err("-c and the quick form (--listen, --backend, --mode, --balance) exclude each other");
		return 2;
	}
	if (!o->config && (!o->listen || !o->nbackends)) {
		log_err("need -c FILE, or --listen and at least one --backend (see --help)");
		return 2;
	}
	return -1;
}

static int load(const struct opts *o, struct cfg **out)
{
	char err[CFG_ERR_MAX];
	struct cfg *c;
	int ret;

	if (o->config)
		ret = cfg_load_file(o->config, &c, err, sizeof(err));
	else
		ret = cfg_quick(o->listen, o->backends, o->nbackends, o->mode, o->balance, o->admin,
				&c, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		return ret;
	}
	/* Command-line options override the file where both can say it. */
	if (o->workers >= 0)
		c->workers = (uint32_t)o->workers;
	if (o->access_log)
		snprintf(c->access_log, sizeof(c->access_log), "%s", o->access_log);
	if (o->admin && o->config) {
		ret = cfg_parse_addr(o->admin, &c->admin);
		if (ret) {
			log_err("--admin '%s': invalid address", o->admin);
			cfg_free(c);
			return ret;
		}
		c->has_admin = true;
	}
	*out = c;
	return 0;
}

static bool any_splice(const struct cfg *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].mode == CFG_MODE_SPLICE)
			return true;
	return false;
}

/* The fast path is loaded at start only: a reload cannot add the first splice listener. */
static int check_modes(const struct cfg *c, const struct lc_agent *agent)
{
	if (any_splice(c) && !agent) {
		log_err("a splice listener needs a restart: the splice fast path is loaded at start, "
			"and this process started without one");
		return -ENOTSUP;
	}
	return 0;
}

/*
 * The LB-side ports of spliced connections belong to no kernel socket once
 * the splice is done, so nothing stops the kernel from picking one for an
 * unrelated connect() to the same backend, which would collide with a live
 * spliced flow. Where the range overlaps the ephemeral range, reserve it
 * (net.ipv4.ip_local_reserved_ports keeps automatic allocation off it;
 * explicit binds, ours, still work).
 */
static int splice_reserve_ports(unsigned pmin, unsigned pmax)
{
	const char *path = "/proc/sys/net/ipv4/ip_local_reserved_ports";
	char range[64], cur[4096], want[32], *end;
	size_t len;
	long lo, hi;
	ssize_t n;
	int fd, ret = 0;

	fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* no such sysctl: nothing allocates ports from a range */
	n = read(fd, range, sizeof(range) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	range[n] = '\0';
	lo = strtol(range, &end, 10);
	hi = strtol(end, NULL, 10);
	if ((long)pmax < lo || (long)pmin > hi)
		return 0;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		goto refuse;
	n = read(fd, cur, sizeof(cur) - 1);
	snprintf(want, sizeof(want), "%u-%u", pmin, pmax);
	if (n >= 0) {
		cur[n] = '\0';
		cur[strcspn(cur, "\n")] = '\0';
		if (strstr(cur, want)) {
			close(fd);
			return 0;
		}
		len = strlen(cur);
		if (len && len + strlen(want) + 2 < sizeof(cur))
			snprintf(cur + len, sizeof(cur) - len, ",%s", want);
		else
			snprintf(cur, sizeof(cur), "%s", want);
		if (pwrite(fd, cur, strlen(cur), 0) >= 0) {
			close(fd);
			log_info("reserved LB-side ports %s (net.ipv4.ip_local_reserved_ports) so "
				 "that the kernel's own connect() never picks them",
				 want);
			return 0;
		}
	}
	ret = -errno;
	close(fd);
refuse:
	log_err("splice ports %u-%u overlap net.ipv4.ip_local_port_range (%ld-%ld) and cannot "
		"be reserved (%s); set net.ipv4.ip_local_reserved_ports, or move "
		"splice_port_min/max (one-shot connections use %u-%u)",
		pmin, pmax, lo, hi, log_errstr(ret ? -ret : errno), LC_OS_PORT0,
		LC_OS_PORT0 + LC_OS_SLOTS - 1);
	return ret ? ret : -EPERM;
}

/*
 * The fast path answers SYNs for the splice listeners (their bound address
 * and port), not for other listeners on the same port number.
 */
static void cookie_vips(struct lc_agent *a, const struct cfg *c)
{
	struct sockaddr_storage vips[256]; /* config.c allows 256 listeners */
	size_t i, n = 0;
	int ret;

	for (i = 0; i < c->nlisteners && n < sizeof(vips) / sizeof(vips[0]); i++)
		if (c->listeners[i].mode == CFG_MODE_SPLICE)
			vips[n++] = c->listeners[i].addr.ss;
	ret = agent_set_vips(a, vips, n);
	if (ret)
		log_warn("splice: SYN cookies for some listeners: %s (the kernel answers "
			 "their SYNs)",
			 log_errstr(ret));
}

static int open_agent(const struct cfg *c, struct lc_agent **out)
{
	struct lc_agent_opts ao = { .max_conns = c->splice_max_conns,
				    .interfaces = c->splice_interfaces,
				    .syncookies = c->splice_syncookies,
				    .oneshot = c->splice_oneshot_agent,
				    .idle_ms = c->timeout_idle_ms };
	char err[256];
	int ret;

	if (!any_splice(c))
		return 0;
	ret = splice_reserve_ports(c->splice_port_min, c->splice_port_max);
	if (!ret && c->splice_oneshot_agent)
		ret = splice_reserve_ports(LC_OS_PORT0, LC_OS_PORT0 + LC_OS_SLOTS - 1);
	if (ret)
		return ret;
	ret = agent_open(&ao, out, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		return ret;
	}
	cookie_vips(*out, c);
	log_info("splice fast path on %s (%u connections, LB-side ports %u-%u, SYN cookies %s)",
		 agent_interfaces(*out), agent_max_conns(*out), c->splice_port_min,
		 c->splice_port_max, agent_cookies(*out) ? "on" : "off");
	return 0;
}

/* Binds each new listener address once, so a reload fails here rather than in a worker. */
static int probe_listeners(const struct cfg *now, const struct cfg *next)
{
	size_t i, j;

	for (i = 0; i < next->nlisteners; i++) {
		const struct cfg_addr *a = &next->listeners[i].addr;
		bool kept = false;
		int fd;

		for (j = 0; now && j < now->nlisteners; j++)
			if (now->listeners[j].addr.len == a->len &&
			    !memcmp(&now->listeners[j].addr.ss, &a->ss, a->len))
				kept = true;
		if (kept)
			continue;
		fd = rt_listen(a, 1);
		if (fd < 0) {
			log_err("listener '%s': cannot listen on %s: %s", next->listeners[i].name,
				a->text, log_errstr(-fd));
			return fd;
		}
		close(fd);
	}
	return 0;
}

static int open_log(const struct cfg *c)
{
	int fd;

	if (!c->access_log[0])
		return -1;
	if (!strcmp(c->access_log, "-"))
		return dup(STDOUT_FILENO);
	fd = open(c->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		log_err("access log %s: %s", c->access_log, log_errstr(errno));
	return fd == -1 ? -2 : fd;
}

struct main_state {
	struct opts *o;
	struct lb_runtime *rt;
	struct lb_worker *ws;
	size_t nw;
	struct lb_health *health;
	struct lb_admin *admin;
	struct lb_graph *graph;
	struct lc_agent *agent;
	struct ev_timer agent_tick; /* re-reads the sysctls SYN cookies follow */
	uint32_t os_health;	    /* the health_gen and generation the one-shot table */
	uint64_t os_generation;	    /* was made from (0: none yet) */
	struct ev_loop loop;
	struct ev_io sig;
	uint32_t exited; /* atomic: workers that returned */
	int stops;
	struct lb_health *health_graves; /* replaced checkers, freed after the batch */
	size_t ninit;			 /* workers initialised */
	size_t started;			 /* worker threads running */
};

static bool oneshot_usable(const struct lb_backend *b)
{
	return __atomic_load_n(&b->up, __ATOMIC_ACQUIRE) && !b->cfg->drain && b->cfg->weight;
}

/*
 * splice_oneshot_agent: the fast path's round robin over the splice
 * listener's pool, kept to the backends the proxy would pick (up, not
 * draining), each as often as its weight when the weights fit the table.
 * Made again when health or the configuration changes (checked each tick).
 */
static void oneshot_sync(struct main_state *m)
{
	const struct cfg *c = m->rt->cfg;
	static struct sockaddr_storage be[LC_OS_BACKENDS]; /* main thread only */
	const struct cfg_listener *l = NULL;
	uint32_t gen = __atomic_load_n(&m->rt->health_gen, __ATOMIC_ACQUIRE), wsum = 0;
	size_t i, n = 0;
	int ret;

	if (!m->agent || (m->os_health == gen && m->os_generation == m->rt->generation))
		return;
	for (i = 0; c->splice_oneshot_agent && i < c->nlisteners; i++)
		if (c->listeners[i].mode == CFG_MODE_SPLICE)
			l = &c->listeners[i];
	if (l) {
		const struct lb_pool *p = &m->rt->pools[l->pool];

		for (i = 0; i < p->n; i++)
			if (oneshot_usable(&p->be[i]))
				wsum += p->be[i].cfg->weight;
		for (i = 0; i < p->n && n < LC_OS_BACKENDS; i++) {
			uint32_t k, w = wsum <= LC_OS_BACKENDS ? p->be[i].cfg->weight : 1;

			for (k = 0; oneshot_usable(&p->be[i]) && k < w && n < LC_OS_BACKENDS; k++)
				be[n++] = p->be[i].cfg->addr.ss;
		}
	}
	ret = agent_set_oneshot(m->agent, be, n, l && l->xff);
	if (ret == -EOPNOTSUPP && l) {
		log_warn("splice: splice_oneshot_agent takes effect at start, not on reload");
	} else if (ret) {
		/* Those clients take the ordinary path meanwhile; tried again next tick. */
		log_warn("splice: one-shot connections off: %s", log_errstr(ret));
		return;
	}
	m->os_health = gen;
	m->os_generation = m->rt->generation;
}

static void on_agent_tick(struct ev_loop *loop, struct ev_timer *t)
{
	struct main_state *m = container_of(t, struct main_state, agent_tick);

	agent_refresh(m->agent);
	oneshot_sync(m);
	ev_timer_arm(loop, t, ev_now(loop) + 1000);
}

static void reload(struct main_state *m)
{
	struct cfg *c;
	struct lb_runtime *nrt;
	struct lb_health *nh;
	size_t i;

	if (!m->o->config) {
		log_warn("SIGHUP: nothing to reload without -c");
		return;
	}
	if (load(m->o, &c))
		goto keep;
	if (check_modes(c, m->agent) || probe_listeners(m->rt->cfg, c)) {
		cfg_free(c);
		goto keep;
	}
	if (c->max_header > m->rt->cfg->max_header)
		log_warn("reload: a larger max_header takes effect at the next restart");
	if (c->splice_syncookies != m->rt->cfg->splice_syncookies)
		log_warn("reload: splice_syncookies takes effect at the next restart");
	if (rt_create(c, m->nw, m->rt->generation + 1, &nrt)) {
		cfg_free(c);
		goto keep;
	}
	if (health_start(&m->loop, nrt, &nh)) {
		rt_put(nrt);
		goto keep;
	}
	/* Not freed here: later events of this batch may belong to its checks. */
	health_retire(&m->loop, m->health, &m->health_graves);
	m->health = nh;
	for (i = 0; i < m->nw; i++) {
		struct lb_runtime *prev;

		rt_get(nrt);
		/* Release: the worker that takes it sees the whole runtime. */
		prev = __atomic_exchange_n(&m->ws[i].rt_next, nrt, __ATOMIC_ACQ_REL);
		if (prev)
			rt_put(prev);
	}
	admin_set_state(m->admin, nrt, m->ws, m->nw, m->graph);
	if (m->agent)
		cookie_vips(m->agent, c);
	rt_put(m->rt);
	m->rt = nrt;
	log_info("configuration reloaded (generation %llu)", (unsigned long long)nrt->generation);
	return;
keep:
	log_err("reload failed; keeping the running configuration (generation %llu)",
		(unsigned long long)m->rt->generation);
}

static void on_signal(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct main_state *m = container_of(io, struct main_state, sig);
	struct signalfd_siginfo si;
	size_t i;

	(void)ev;
	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(m);
			continue;
		}
		m->stops++;
		log_info(m->stops == 1 ? "stopping: finishing requests in flight" : "stopping now");
		for (i = 0; i < m->nw; i++)
			WRITE_ONCE(m->ws[i].stop, (uint32_t)m->stops);
		loop->stop = 1;
	}
}

static void *worker_thread(void *arg)
{
	struct lb_worker *w = arg;
	struct main_state *m = (struct main_state *)w->owner;

	worker_main(w);
	__atomic_add_fetch(&m->exited, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Signals: a closed peer is an EPIPE, not a death; the rest go to a signalfd. */
static int setup_signals(struct main_state *m)
{
	sigset_t sigs;
	int fd;
	struct sigaction ign = { .sa_handler = SIG_IGN };

	sigaction(SIGPIPE, &ign, NULL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by the workers */
	fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -errno;
	return ev_io_add(&m->loop, &m->sig, fd, EPOLLIN, on_signal);
}

/* Workers, admin endpoint and health checks; threads last, so nothing half-built runs. */
static int start(struct main_state *m, int log_fd)
{
	size_t i;
	int ret;

	m->ws = calloc(m->nw, sizeof(*m->ws));
	if (!m->ws)
		return -ENOMEM;
	for (i = 0; i < m->nw; i++) {
		ret = worker_init(&m->ws[i], (unsigned)i, m->nw, m->rt, m->graph, m->agent, log_fd);
		if (ret) {
			log_err("worker %zu: %s", i, log_errstr(ret));
			return ret;
		}
		m->ws[i].owner = m;
		m->ninit++;
	}
	if (m->rt->cfg->has_admin) {
		ret = admin_start(&m->loop, &m->rt->cfg->admin, &m->admin);
		if (ret) {
			log_err("admin %s: %s", m->rt->cfg->admin.text, log_errstr(ret));
			return ret;
		}
		admin_set_state(m->admin, m->rt, m->ws, m->nw, m->graph);
	}
	ret = health_start(&m->loop, m->rt, &m->health);
	if (ret)
		return ret;
	for (i = 0; i < m->nw; i++) {
		ret = pthread_create(&m->ws[i].thread, NULL, worker_thread, &m->ws[i]);
		if (ret) {
			log_err("worker thread: %s", log_errstr(ret));
			return -ret;
		}
		m->started++;
	}
	return 0;
}

static void teardown(struct main_state *m)
{
	size_t i;

	/* Threads that started while a later step failed are told to leave now. */
	for (i = 0; i < m->started; i++)
		if (!READ_ONCE(m->ws[i].stop))
			WRITE_ONCE(m->ws[i].stop, 2u);
	for (i = 0; i < m->started; i++)
		pthread_join(m->ws[i].thread, NULL);
	/* The one-shot connections that ended last, accounted as worker 0's. */
	agent_oneshot_stop(m->agent);
	if (m->started)
		worker_last_oneshots(&m->ws[0]);
	for (i = 0; i < m->ninit; i++)
		worker_fini(&m->ws[i]);
	free(m->ws);
	health_stop(&m->loop, m->health);
	health_free_graves(&m->health_graves);
	admin_stop(&m->loop, m->admin);
	if (m->sig.fd > 0)
		close(m->sig.fd);
	if (m->loop.epfd > 0)
		ev_loop_fini(&m->loop);
	rt_put(m->rt);
	graph_free(m->graph);
	agent_close(m->agent);
}

/* From a loaded configuration to a stopped service: 0, or 1 on a start-up error. */
static int run(struct main_state *m, struct cfg *c)
{
	int ret, log_fd, status = 1;
	size_t i;

	m->nw = c->workers ? c->workers : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (m->nw < 1)
		m->nw = 1;
	if (m->nw > MAX_WORKERS)
		m->nw = MAX_WORKERS;
	log_fd = open_log(c);
	if (log_fd == -2) {
		cfg_free(c);
		return 1;
	}
	if (c->graph_memory && (ret = graph_create(c->graph_memory, m->nw, &m->graph))) {
		log_err("traffic graph: %s", log_errstr(ret));
		cfg_free(c);
		goto out;
	}
	if (rt_create(c, m->nw, 1, &m->rt)) {
		cfg_free(c);
		goto out;
	}
	if (open_agent(m->rt->cfg, &m->agent) || ev_loop_init(&m->loop) || setup_signals(m) ||
	    start(m, log_fd))
		goto out;
	if (m->agent) {
		ev_timer_init(&m->agent_tick, on_agent_tick);
		ev_timer_arm(&m->loop, &m->agent_tick, ev_now(&m->loop) + 1000);
		oneshot_sync(m);
	}
	for (i = 0; i < m->rt->cfg->nlisteners; i++)
		log_info("listening on %s (%s), %zu worker%s", m->rt->cfg->listeners[i].addr.text,
			 m->rt->cfg->listeners[i].name, m->nw, m->nw == 1 ? "" : "s");
	if (m->admin)
		log_info("admin on http://%s/metrics", m->rt->cfg->admin.text);
	/* Until a stop signal, then until the workers have drained. */
	while (__atomic_load_n(&m->exited, __ATOMIC_ACQUIRE) < m->nw) {
		if (ev_run_once(&m->loop, m->loop.stop ? 100 : -1) < 0)
			break;
		health_free_graves(&m->health_graves);
	}
	status = 0;
out:
	teardown(m);
	if (log_fd >= 0)
		close(log_fd);
	return status;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct main_state m = { .o = &o };
	struct cfg *c = NULL;
	int ret;

	log_init("laconic", LOG_INFO);
	ret = parse_args(argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (o.verbose < 0)
		log_set_level(LOG_ERR);
	else if (o.verbose > 0)
		log_set_level(LOG_DEBUG);
	if (load(&o, &c))
		return 1;
	if (o.check) {
		cfg_dump(c, stdout);
		cfg_free(c);
		return 0;
	}
	if (probe_listeners(NULL, c)) {
		cfg_free(c);
		return 1;
	}
	return run(&m, c);
}
