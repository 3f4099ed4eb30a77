/* SPDX-License-Identifier: MIT */
/*
 * tsord: TSoR's per-host broker (see abi.h for the protocol and daemon.c
 * for its state). Usage: tsord [--socket PATH] [--daemon] [--log FILE] [-v]
 * [--node-listen ADDR:PORT] [--peer CIDR=ADDR:PORT]... [--transport tcp|verbs]
 * (xport.h, relay.c).
 *
 * Single-threaded: getenv/setenv/dirname/exit are safe here.
 * NOLINTBEGIN(concurrency-mt-unsafe)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "tsor-int.h"

#ifdef TSOR_HAVE_VERBS
#define VERBS_NOTE "built, never run on RDMA hardware"
#else
#define VERBS_NOTE "not built: no libibverbs"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tsord [--socket PATH] [--daemon] [--log FILE] [-v]\n"
		"  Brokers shared-memory channels for programs run with libtsor.so.\n"
		"  --socket PATH  Unix socket (default: $TSOR_SOCK, /run/tsor/tsord.sock for root,\n"
		"                 $XDG_RUNTIME_DIR/tsor/tsord.sock, /tmp/tsor-$UID/tsord.sock)\n"
		"  --daemon       detach (fork, setsid) once the socket is listening\n"
		"  --log FILE     append messages to FILE instead of stderr\n"
		"  -v             debug messages (one per client)\n"
		"  --node-listen ADDR:PORT       the transport listener for other nodes' tsords\n"
		"                                (default $TSOR_NODE_LISTEN)\n"
		"  --peer CIDR=ADDR:PORT         pods in CIDR are served by the tsord whose\n"
		"                                transport listens at ADDR:PORT; repeatable\n"
		"                                (default: $TSOR_PEERS, space-separated)\n"
		"  --transport tcp|verbs         how to reach them (default $TSOR_TRANSPORT or tcp;\n"
		"                                verbs: RDMA, %s)\n",
		VERBS_NOTE);
}

/* The transport named name, or NULL (after a message). */
static const struct tsor_xport_ops *transport(const char *name)
{
	if (!name || !*name || !strcmp(name, "tcp"))
		return &tsor_xport_tcp;
#ifdef TSOR_HAVE_VERBS
	if (!strcmp(name, "verbs"))
		return &tsor_xport_verbs;
#endif
	log_err("--transport '%s': expected tcp or verbs (verbs: %s)", name, VERBS_NOTE);
	return NULL;
}

/* Adds one --peer; false (after a message) when it is malformed or one too many. */
static bool add_peer(struct tsor_node_cfg *node, struct tsor_relay_peer_cfg *peers, const char *arg)
{
	if (node->npeers >= TSOR_RELAY_MAX_PEERS) {
		log_err("--peer %s: at most %d peers", arg, TSOR_RELAY_MAX_PEERS);
		return false;
	}
	if (tsor_relay_parse_peer(arg, &peers[node->npeers])) {
		log_err("--peer '%s': expected CIDR=ADDR:PORT, e.g. 10.1.2.0/24=192.168.0.2:7390",
			arg);
		return false;
	}
	node->npeers++;
	return true;
}

/*
 * The rest of the node's configuration once the options are read: the
 * peers of $TSOR_PEERS (env_peers, NULL when --peer was given), the
 * transport and its listener. False (after a message) on a bad value.
 */
static bool node_finish(struct tsor_node_cfg *node, struct tsor_relay_peer_cfg *peers,
			const char *env_peers, const char *listen_at, const char *xport)
{
	if (env_peers) {
		char buf[4096], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", env_peers);
		for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save))
			if (!add_peer(node, peers, t))
				return false;
	}
	node->ops = transport(xport);
	if (!node->ops)
		return false;
	if (listen_at && *listen_at && tsor_relay_parse_addr(listen_at, &node->listen)) {
		log_err("--node-listen '%s': expected ADDR:PORT or [ADDR6]:PORT", listen_at);
		return false;
	}
	/* tsor_relay_new() refuses this too, but only as -EINVAL. */
	for (size_t i = 0; node->listen.family && i < node->npeers; i++) {
		if (tsor_addr_eq(&node->listen, &peers[i].node)) {
			log_err("--peer: %s is this node's own --node-listen address", listen_at);
			return false;
		}
	}
	return true;
}

/* Why the node transport could not start (tsor_daemon_node()), naming the
 * option to change; listen_at is --node-listen as given. */
static void node_error(const struct tsor_node_cfg *node, const char *listen_at, int ret)
{
	if (ret == -ENODEV && node->ops != &tsor_xport_tcp)
		log_err("--transport %s: no RDMA device (TSOR_VERBS_DEVICE)", node->ops->name);
	else if (node->listen.family)
		log_err("--node-listen %s: %s", listen_at,
			ret == -EADDRINUSE	? "address already in use (another tsord?)"
			: ret == -EADDRNOTAVAIL ? "not an address of this host"
						: log_errstr(-ret));
	else
		log_err("node transport: %s", log_errstr(-ret));
}

/* Why tsord's socket at path could not be made (tsor_daemon_listen()). */
static void listen_error(const char *path, int ret)
{
	if (ret == -EACCES || ret == -ENOTDIR)
		log_err("%s: refusing its directory: it must be a real directory (not a "
			"symlink) owned by uid %u or root and not writable by others; "
			"another user may have created it (remove it, or set TSOR_SOCK)",
			path, (unsigned)geteuid());
	else
		log_err("%s: %s", path,
			ret == -EADDRINUSE ? "a tsord already answers there" : log_errstr(-ret));
}

/* Each pending intent holds five fds (memfd, four bells), a relayed
 * stream ten: take the hard limit, so a burst of connects does not fall
 * back. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* --daemon: fork and setsid, stdio to /dev/null (stderr too unless
 * logging). 1 in the parent, 0 in the child, -1 (after a message). */
static int detach(bool logging)
{
	pid_t pid = fork();
	int null;

	if (pid < 0) {
		log_err("fork: %s", log_errstr(errno));
		return -1;
	}
	if (pid > 0)
		return 1;
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (!logging)
			dup2(null, STDERR_FILENO);
		close(null);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "socket", required_argument, NULL, 's' },
					      { "daemon", no_argument, NULL, 'd' },
					      { "log", required_argument, NULL, 'l' },
					      { "help", no_argument, NULL, 'h' },
					      { "node-listen", required_argument, NULL, 'N' },
					      { "peer", required_argument, NULL, 'P' },
					      { "transport", required_argument, NULL, 'T' },
					      { NULL, 0, NULL, 0 } };
	char path[108];
	static struct tsor_relay_peer_cfg peers[TSOR_RELAY_MAX_PEERS];
	struct tsor_node_cfg node = { .peers = peers };
	const char *logfile = NULL, *listen_at = getenv("TSOR_NODE_LISTEN"),
		   *env_peers = getenv("TSOR_PEERS"), *xport = getenv("TSOR_TRANSPORT");
	bool daemonize = false, cli_peers = false;
	struct tsor_daemon *d;
	int c, lsock, ret, status = 1;

	log_init("tsord", LOG_INFO);
	tsor_libc_direct();
	if (tsor_sock_path(path, sizeof(path))) {
		log_err("socket path too long (TSOR_SOCK / XDG_RUNTIME_DIR)");
		return 2;
	}
	while ((c = getopt_long(argc, argv, "s:dl:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (strlen(optarg) >= sizeof(path)) {
				log_err("--socket %s: path too long (max %zu bytes)", optarg,
					sizeof(path) - 1);
				return 2;
			}
			snprintf(path, sizeof(path), "%s", optarg);
			break;
		case 'd':
			daemonize = true;
			break;
		case 'l':
			logfile = optarg;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'N':
			listen_at = optarg;
			break;
		case 'T':
			xport = optarg;
			break;
		case 'P':
			if (!cli_peers)
				node.npeers = 0; /* the command line replaces $TSOR_PEERS */
			cli_peers = true;
			if (!add_peer(&node, peers, optarg))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!node_finish(&node, peers, cli_peers ? NULL : env_peers, listen_at, xport))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	d = tsor_daemon_new();
	if (!d) {
		log_err("%s", log_errstr(ENOMEM));
		return 1;
	}
	ret = tsor_daemon_listen(path, &lsock);
	if (ret) {
		listen_error(path, ret);
		goto out_free;
	}
	/* The node transport's listener before --daemon forks and before
	 * stderr goes to the log: a --node-listen that cannot be used (port
	 * taken, address not ours, no RDMA device) is then an exit status and
	 * a line on the starter's terminal, not a detached child's log entry.
	 * 2, as for the other bad options. */
	ret = tsor_daemon_node(d, &node);
	if (ret) {
		node_error(&node, listen_at, ret);
		status = 2;
		goto out_close;
	}
	/* After the socket: its directory now exists for a log beside it. */
	if (logfile) {
		int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0) {
			log_err("%s: %s", logfile, log_errstr(errno));
			goto out_close;
		}
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (daemonize) {
		ret = detach(logfile != NULL);
		if (ret < 0)
			goto out_close;
		if (ret > 0) {
			/* The socket already listens: callers may connect. The
			 * child owns it (and its path) now. */
			close(lsock);
			status = 0;
			goto out_free;
		}
	}
	log_info("listening on %s (pid %d)", path, (int)getpid());
	if (node.listen.family || node.npeers) {
		char a[64];

		tsor_addr_format(&node.listen, a, sizeof(a));
		log_info("node: %s transport %s, %zu peer(s)", node.ops->name,
			 node.listen.family ? a : "(dial only)", node.npeers);
	}
	ret = tsor_daemon_run(d, lsock);
	if (ret) {
		log_err("%s", log_errstr(-ret));
	} else {
		log_info("stopped");
		status = 0;
	}
out_close:
	close(lsock);
	unlink(path);
out_free:
	tsor_daemon_free(d);
	return status;
}
/* NOLINTEND(concurrency-mt-unsafe) */
