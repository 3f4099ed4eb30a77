/* SPDX-License-Identifier: MIT */
/*
 * tsor: the command-line front end.
 *   tsor run [--spin-us N] [--ring-size BYTES] -- CMD ARGS  preload libtsor.so into CMD
 *   tsor daemon [--foreground] [--node-listen ADDR:PORT] [--peer CIDR=ADDR:PORT]...
 *               [--transport tcp|verbs]
 *                                                           start tsord
 *   tsor stop                                               stop tsord
 *   tsor stats                                              counters as "name value"
 * The manual is docs/tsor.1: keep usage() and it in step.
 * tsord and libtsor.so are found next to this binary (TSOR_TSORD and
 * TSOR_LIB override), the socket as tsord finds it (TSOR_SOCK).
 *
 * Single-threaded: getenv/setenv/dirname/exit are safe here.
 * NOLINTBEGIN(concurrency-mt-unsafe)
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "tsor-int.h"
#include "units.h"

static const char *const stat_names[TSOR_STAT_COUNT] = {
	[TSOR_STAT_ACCEL] = "tsor_connections_accelerated",
	[TSOR_STAT_FALLBACK] = "tsor_connections_fallback",
	[TSOR_STAT_BYTES] = "tsor_bytes_accelerated",
	[TSOR_STAT_LISTENERS] = "tsor_listeners",
	[TSOR_STAT_INTENTS] = "tsor_intents_pending",
	[TSOR_STAT_CLIENTS] = "tsor_clients",
	[TSOR_STAT_REMOTE] = "tsor_connections_remote",
	[TSOR_STAT_XPORT_TX] = "tsor_transport_bytes_tx",
	[TSOR_STAT_XPORT_RX] = "tsor_transport_bytes_rx",
	[TSOR_STAT_PEERS_UP] = "tsor_peers_up",
	[TSOR_STAT_STREAMS] = "tsor_streams_relayed",
	[TSOR_STAT_UNUSED] = "tsor_connections_unused",
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tsor run [--spin-us N] [--ring-size BYTES] -- CMD [ARGS...]\n"
		"       tsor daemon [--foreground] [--node-listen ADDR:PORT] [--peer CIDR=ADDR:PORT]...\n"
		"                   [--transport tcp|verbs]\n"
		"       tsor stop\n"
		"       tsor stats\n"
		"       tsor [COMMAND] --help\n"
		"TCP connections between programs run under 'tsor run' on this host move\n"
		"through shared memory; with --peer, connections to pods of other nodes go\n"
		"through this node's tsord and theirs; everything else stays kernel TCP.\n"
		"Environment: TSOR_SOCK (broker socket), TSOR_LIB (libtsor.so),\n"
		"TSOR_TSORD (tsord binary), TSOR_SPIN_US, TSOR_RING_SIZE, TSOR_CONFIRM_MS,\n"
		"TSOR_NODE_LISTEN, TSOR_PEERS, TSOR_TRANSPORT (tsord's --node-listen, --peer,\n"
		"--transport).\n"
		"See tsor(1).\n");
}

/* dir/name for the directory holding this executable. */
static int beside_me(const char *name, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -errno;
	self[n] = '\0';
	if (snprintf(out, len, "%s/%s", dirname(self), name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* The uid tsord runs as (SO_PEERCRED of the last ping), -1 = unknown. */
static long tsord_uid = -1;

static int ping_id(const char *path, enum tsor_msg_type type, uint64_t id, struct tsor_msg *reply)
{
	struct tsor_msg m;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = tsor_unix_connect(path), ret;

	if (fd < 0)
		return fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		tsord_uid = (long)cr.uid;
	tsor_msg_init(&m, type);
	m.id = id;
	ret = tsor_call(fd, &m, -1, reply, NULL, NULL);
	close(fd);
	return ret;
}

static int ping(const char *path, enum tsor_msg_type type, struct tsor_msg *reply)
{
	return ping_id(path, type, 0, reply);
}

/* Why a command could not reach tsord, in words a user can act on. */
static const char *why(int ret)
{
	return ret == -EPERM ? "it runs as another user (not root, not you): not trusted"
			     : log_errstr(-ret);
}

/* The size of a file, 0 when it does not exist (yet). */
static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Runs tsord (--daemon unless foreground); waits until it answers. */
static int start_daemon(const char *path, bool foreground)
{
	char tsord[PATH_MAX], logf[PATH_MAX + 16], *slash;
	const char *env = getenv("TSOR_TSORD");
	struct tsor_msg r;
	off_t log_before;
	pid_t pid;
	int st;

	if (env && *env)
		snprintf(tsord, sizeof(tsord), "%s", env);
	else if (beside_me("tsord", tsord, sizeof(tsord)))
		return -ENOENT;
	if (access(tsord, X_OK) < 0) {
		log_err("%s: %s (set TSOR_TSORD)", tsord, log_errstr(errno));
		return -errno;
	}
	if (foreground) {
		execl(tsord, "tsord", "--socket", path, (char *)NULL);
		log_err("exec %s: %s", tsord, log_errstr(errno));
		return -errno;
	}
	snprintf(logf, sizeof(logf), "%s", path);
	slash = strrchr(logf, '/');
	snprintf(slash ? slash + 1 : logf, sizeof(logf) - (size_t)(slash ? slash + 1 - logf : 0),
		 "tsord.log");
	log_before = file_size(logf);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(tsord, "tsord", "--daemon", "--socket", path, "--log", logf, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		/* Lost a race with another starter? Then one answers now. */
		if (ping(path, TSOR_MSG_PING, &r) == 0)
			return 0;
		/* 2: tsord refused its options (a --node-listen it cannot
		 * bind...) and said why on our stderr, before it detached or
		 * turned to its log: a second line would only blur that one. */
		if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
			return -EINVAL;
		/* Until it opens its log, tsord says why on our stderr. */
		if (file_size(logf) > log_before)
			log_err("tsord failed to start (exit %d); see %s",
				WIFEXITED(st) ? WEXITSTATUS(st) : -1, logf);
		else
			log_err("tsord failed to start (exit %d)",
				WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return -EIO;
	}
	return ping(path, TSOR_MSG_PING, &r);
}

/*
 * --spin-us N, --ring-size BYTES: checked here, because libtsor.so takes a
 * bad variable as unset; passed on in plain digits. 0 or -EINVAL.
 */
static int run_tune(const char *opt, const char *arg)
{
	bool spin = !strcmp(opt, "--spin-us");
	uint64_t v = 0;
	char num[24];

	if (spin && (units_parse_count(arg, &v) || v > TSOR_SPIN_US_MAX)) {
		log_err("run: --spin-us wants microseconds, 0 to %u", TSOR_SPIN_US_MAX);
		return -EINVAL;
	}
	if (!spin && (units_parse_size(arg, &v) || v < 1 || v > (uint64_t)TSOR_RING_MAX)) {
		log_err("run: --ring-size wants bytes, 1 to %u (e.g. 65536, 1M)", TSOR_RING_MAX);
		return -EINVAL;
	}
	snprintf(num, sizeof(num), "%" PRIu64, v);
	setenv(spin ? "TSOR_SPIN_US" : "TSOR_RING_SIZE", num, 1);
	return 0;
}

static int cmd_run(const char *path, int argc, char **argv)
{
	char lib[PATH_MAX], pre[2 * PATH_MAX];
	const char *env = getenv("TSOR_LIB"), *old = getenv("LD_PRELOAD");
	struct tsor_msg r;
	int i, ret;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--spin-us") || !strcmp(argv[i], "--ring-size")) {
			if (run_tune(argv[i], i + 1 < argc ? argv[i + 1] : ""))
				return 2;
			i++;
		} else if (argv[i][0] == '-') {
			log_err("run: unknown option '%s'", argv[i]);
			usage(stderr);
			return 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		log_err("run: no command given (tsor run -- CMD ARGS)");
		return 2;
	}
	if (env && *env)
		snprintf(lib, sizeof(lib), "%s", env);
	else if (beside_me("libtsor.so", lib, sizeof(lib)))
		return 1;
	if (access(lib, R_OK) < 0) {
		log_err("%s: %s (set TSOR_LIB)", lib, log_errstr(errno));
		return 1;
	}
	if (ping(path, TSOR_MSG_PING, &r) != 0) {
		ret = start_daemon(path, false);
		if (ret) {
			log_err("no tsord at %s and starting one failed: %s", path,
				log_errstr(-ret));
			return 1;
		}
	}
	setenv("TSOR_SOCK", path, 1);
	snprintf(pre, sizeof(pre), "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	execvp(argv[i], &argv[i]);
	log_err("%s: %s", argv[i], log_errstr(errno));
	return 127;
}

/* tsor daemon [--foreground] [--node-listen A:P] [--peer C=A:P]... [--transport T] */
static int cmd_daemon(const char *path, int argc, char **argv)
{
	struct tsor_msg r;
	int ret;
	char peers[4096] = "";
	bool fg = false;

	/* The node options reach tsord as its environment defaults
	 * (TSOR_NODE_LISTEN, TSOR_PEERS), checked here first so that a
	 * typo is an error at once, not in a daemon's log. */
	for (int i = 0; i < argc; i++) {
		struct tsor_relay_peer_cfg pc;
		struct tsor_addr a;
		size_t used = strlen(peers);

		if (!strcmp(argv[i], "--foreground")) {
			fg = true;
		} else if (!strcmp(argv[i], "--node-listen") && i + 1 < argc) {
			if (tsor_relay_parse_addr(argv[++i], &a)) {
				log_err("daemon: --node-listen '%s': expected ADDR:PORT or "
					"[ADDR6]:PORT",
					argv[i]);
				return 2;
			}
			setenv("TSOR_NODE_LISTEN", argv[i], 1);
		} else if (!strcmp(argv[i], "--transport") && i + 1 < argc) {
			setenv("TSOR_TRANSPORT", argv[++i], 1); /* tsord checks it */
		} else if (!strcmp(argv[i], "--peer") && i + 1 < argc) {
			if (tsor_relay_parse_peer(argv[++i], &pc)) {
				log_err("daemon: --peer '%s': expected CIDR=ADDR:PORT, e.g. "
					"10.1.2.0/24=192.168.0.2:7390",
					argv[i]);
				return 2;
			}
			if (used + strlen(argv[i]) + 2 > sizeof(peers)) {
				log_err("daemon: too many --peer options");
				return 2;
			}
			snprintf(peers + used, sizeof(peers) - used, "%s%s", used ? " " : "",
				 argv[i]);
		} else {
			log_err("daemon: unexpected argument '%s'", argv[i]);
			return 2;
		}
	}
	if (*peers)
		setenv("TSOR_PEERS", peers, 1);
	if (ping(path, TSOR_MSG_PING, &r) == 0) {
		log_err("a tsord already answers at %s", path);
		return 1;
	}
	ret = start_daemon(path, fg);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	char path[108];
	struct tsor_msg r;
	int ret;

	log_init("tsor", LOG_INFO);
	tsor_libc_direct();
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (tsor_sock_path(path, sizeof(path))) {
		log_err("socket path too long (TSOR_SOCK / XDG_RUNTIME_DIR)");
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(path, argc - 2, argv + 2);
	if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "daemon"))
		return cmd_daemon(path, argc - 2, argv + 2);
	if (argc > 2) {
		log_err("%s: unexpected argument '%s'", argv[1], argv[2]);
		return 2;
	}
	if (!strcmp(argv[1], "stop")) {
		ret = ping(path, TSOR_MSG_STOP, &r);
		if (ret) {
			if (ret == -EPERM && tsord_uid >= 0)
				log_err("tsord at %s refused: only root or uid %ld may stop it",
					path, tsord_uid);
			else
				log_err("no tsord answers at %s: %s", path, why(ret));
			return 1;
		}
		/* Wait until it let go of the socket, so a restart can bind. */
		for (int i = 0; i < 200 && access(path, F_OK) == 0; i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		return 0;
	}
	if (!strcmp(argv[1], "stats")) {
		ret = ping(path, TSOR_MSG_STATS, &r);
		if (ret) {
			log_err("no tsord answers at %s: %s", path, why(ret));
			return 1;
		}
		for (int i = 0; i < TSOR_STAT_COUNT; i++) {
			/* Pages of TSOR_STAT_PAGE counters (abi.h, STATS). */
			if (i && i % TSOR_STAT_PAGE == 0) {
				ret = ping_id(path, TSOR_MSG_STATS, (uint64_t)(i / TSOR_STAT_PAGE),
					      &r);
				if (ret) {
					log_err("tsord at %s: stats page %d: %s", path,
						i / TSOR_STAT_PAGE, why(ret));
					return 1;
				}
			}
			printf("%s %llu\n", stat_names[i],
			       (unsigned long long)r.val[i % TSOR_STAT_PAGE]);
		}
		/* stderr: scripts parse stdout as "name value" lines. */
		if (tsord_uid > 0)
			log_info("tsord runs as uid %ld, not root: only connections within its own "
				 "network namespace are accelerated (see tsor(1), SECURITY)",
				 tsord_uid);
		return 0;
	}
	log_err("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
/* NOLINTEND(concurrency-mt-unsafe) */
