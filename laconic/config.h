/* SPDX-License-Identifier: MIT */
/*
 * Laconic's configuration: what the quick command-line form and the INI file
 * both produce. A struct cfg is immutable once loaded; a reload builds a new
 * one and swaps it in only when it is complete and valid, so a bad file never
 * disturbs the running service.
 *
 * File syntax: INI, split into "key = value" by inih (Debian's libinih 55)
 * behind a line reader of ours (config.c explains why). What works:
 *
 *   - one "key = value" a line ("key: value" too); blanks around keys and
 *     values are trimmed, blanks inside a value are kept; indentation is
 *     free. There are no multi-line values: stock inih would take an
 *     indented line for the continuation of the previous value, the reader
 *     strips indentation first, so every line stands alone.
 *   - comments: a line starting with '#' or ';', or the rest of a line from
 *     a '#' or ';' that follows a blank or the '=' ("workers = 2  # two",
 *     "access_log =# off" is an empty value). Inside a word
 *     both are data ("/a#b;c"). (Stock inih only cuts inline ';'.)
 *   - at most 198 characters a line, comments and surrounding blanks aside
 *     (inih's 200-byte line buffer); a longer line is an error, never cut.
 *     String values are limited so that cfg_dump()'s "key = value" fits too.
 *   - CRLF line ends and a UTF-8 byte order mark are fine; NUL bytes and
 *     control characters other than tab are errors.
 *   - errors: unknown keys and sections, a key repeated where it does not
 *     say "repeatable", a repeated section, a value out of range. Each is
 *     reported as "FILE:LINE: message" (the first one in the file);
 *     problems found only after reading everything (an undefined pool, a
 *     pool without backends, two listeners on one address) carry the line
 *     where the culprit was written, or read "FILE: message".
 *   - names (NAME): letters, digits, '_', '-' and '.', at most 63.
 *   - addresses: HOST:PORT, [IPV6]:PORT, *:PORT or :PORT (* and empty mean
 *     0.0.0.0); HOST an IPv4 literal in dotted quad or a name resolved once,
 *     at load time (first getaddrinfo() answer); PORT 1..65535, required.
 *     Stored and printed numeric ("localhost:80" becomes "127.0.0.1:80").
 *   - durations: ms, s, m, h suffixes, bare = seconds; every duration key
 *     takes 1ms..1h. sizes: k, M, G suffixes (binary, either case), bare =
 *     bytes. Whole numbers only: no sign, no fraction, no blank before the
 *     unit.
 *
 *   [global]
 *   workers = 2                  # worker threads, 0..256; 0 = one per CPU (default)
 *   admin = 127.0.0.1:9100       # admin HTTP endpoint (/metrics, /status)
 *   access_log = /var/log/laconic.log   # or "-" for stdout; default off
 *   timeout_header = 10s         # whole request head (slowloris)
 *   timeout_idle = 60s           # idle keep-alive client connection
 *   timeout_connect = 3s         # backend connect
 *   timeout_server = 30s         # backend silent while a response is due
 *   max_header = 16k             # request head limit (431 beyond), 1k..1M
 *   graph_memory = 16M           # traffic-graph sketch, 0 = off, else 64k..16G
 *   drain_timeout = 30s          # graceful shutdown: wait this long at most
 *   splice_interfaces = eth0,eth1   # splice fast path on these; default all but lo
 *   splice_port_min = 20000      # LB-side ports towards backends for spliced
 *   splice_port_max = 32767      #   connections (keep them out of the ephemeral range)
 *   splice_max_conns = 65536     # spliced connections at once, 1024..4M
 *   splice_linger = 3s           # entries kept after FIN/FIN or RST, for late packets
 *   splice_oneshot = off         # on: splice a connection whose first request
 *                                #   closes it (Connection: close, HTTP/1.0) too;
 *                                #   off: serve those in proxy mode (cheaper)
 *   splice_oneshot_agent = off   # on: a connection whose first segment is a whole
 *                                #   GET head with Connection: close gets no kernel
 *                                #   socket: the fast path makes the backend
 *                                #   connection itself and ends both at the close
 *                                #   (needs one IPv4 splice listener, no routes,
 *                                #   a roundrobin pool, and SYN cookies)
 *   splice_syncookies = on       # the fast path answers SYNs to splice listeners
 *                                #   with cookies (Linux 6.9+); off: the kernel does
 *
 *   [listener NAME]              # at least one
 *   listen = 0.0.0.0:8080        # required, unique among listeners and admin
 *   mode = proxy                 # proxy | splice (splice: IPv4 or IPv6, and every
 *                                #   backend of its pools in the listener's family)
 *   pool = NAME                  # default pool, required (may be defined below)
 *   route = host=a.example path=/api pool=NAME   # repeatable, first match
 *                                # host and path optional: host a name or [IPV6]
 *                                # without port (case-folded), path starts with '/'
 *   xff = on                     # add X-Forwarded-For (default on): on | off
 *
 *   [pool NAME]                  # at least one
 *   balance = roundrobin         # roundrobin | leastconn | maglev
 *   hash = client_ip             # maglev key: client_ip | header:NAME | cookie:NAME
 *                                # (NAME an HTTP token); ignored by the others
 *   backend = 10.0.0.1:80 weight=2 [drain]       # repeatable, at least one;
 *                                # weight 1..256 (default 1); not a wildcard
 *                                # address; unique in the pool
 *   health_path = /healthz       # active check (GET); absent = passive only
 *   health_interval = 2s
 *   health_timeout = 1s
 *   health_rise = 2              # 1..100
 *   health_fall = 3              # 1..100
 *   max_fails = 3                # passive: errors within fail_window eject; 0..100, 0 = never
 *   fail_window = 10s
 *   keepalive = 256              # idle upstream connections kept per backend per worker, 0..10000
 */
#ifndef LACONIC_CONFIG_H
#define LACONIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "balance.h"

#define CFG_NAME_MAX 64
#define CFG_STR_MAX  256

enum cfg_mode {
	CFG_MODE_PROXY = 0,
	CFG_MODE_SPLICE,
};

enum cfg_hash {
	CFG_HASH_CLIENT_IP = 0,
	CFG_HASH_HEADER,
	CFG_HASH_COOKIE,
};

struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[CFG_NAME_MAX]; /* as written, normalised "host:port" / "[v6]:port" */
};

struct cfg_backend {
	struct cfg_addr addr;
	uint32_t weight; /* 1..BAL_MAX_WEIGHT */
	bool drain;	 /* configured draining: weight 0, existing traffic finishes */
};

struct cfg_pool {
	char name[CFG_NAME_MAX];
	enum bal_algo balance;
	enum cfg_hash hash;
	char hash_name[CFG_NAME_MAX]; /* header or cookie name for CFG_HASH_HEADER/COOKIE */
	struct cfg_backend *backends;
	size_t nbackends;
	char health_path[CFG_STR_MAX]; /* empty: no active checks */
	uint32_t health_interval_ms, health_timeout_ms, health_rise, health_fall;
	uint32_t max_fails, fail_window_ms;
	uint32_t keepalive;
};

struct cfg_route {
	char host[CFG_STR_MAX];	  /* exact, case-insensitive, port ignored; empty = any */
	char prefix[CFG_STR_MAX]; /* path prefix; empty = any */
	size_t pool;		  /* index into cfg.pools */
};

struct cfg_listener {
	char name[CFG_NAME_MAX];
	struct cfg_addr addr;
	enum cfg_mode mode;
	size_t pool; /* default pool index */
	struct cfg_route *routes;
	size_t nroutes;
	bool xff;
};

struct cfg {
	uint32_t workers; /* 0 = one per online CPU */
	bool has_admin;
	struct cfg_addr admin;
	char access_log[CFG_STR_MAX]; /* empty = off, "-" = stdout */
	uint32_t timeout_header_ms, timeout_idle_ms, timeout_connect_ms, timeout_server_ms;
	uint32_t drain_timeout_ms;
	uint32_t max_header;
	uint64_t graph_memory;
	/* Splice mode: the fast path's interfaces, the LB-side port range towards
	 * backends, the table size and how long a closed connection's entries stay. */
	char splice_interfaces[CFG_STR_MAX];
	uint32_t splice_port_min, splice_port_max;
	uint32_t splice_max_conns;
	uint32_t splice_linger_ms;
	bool splice_oneshot;	   /* splice one-request connections too (default: proxy them) */
	bool splice_syncookies;	   /* the fast path answers SYNs with cookies (default on) */
	bool splice_oneshot_agent; /* one-shot requests without a kernel socket (default off) */
	struct cfg_listener *listeners;
	size_t nlisteners;
	struct cfg_pool *pools;
	size_t npools;
};

/* Room for "FILE:LINE: message". */
#define CFG_ERR_MAX 512

/*
 * Loads and validates a file. 0 and *out set, or a negative errno with
 * err holding "FILE:LINE: what is wrong" (or "FILE: ..." for whole-file
 * problems such as a pool that is never defined or an unreadable file).
 */
int cfg_load_file(const char *path, struct cfg **out, char *err, size_t errlen);

/* The same from a string (tests, fuzzing); name is used in messages. */
int cfg_load_string(const char *text, const char *name, struct cfg **out, char *err, size_t errlen);

/*
 * The quick form: one proxy listener, one pool of the given backends.
 * listen and each backend are "host:port"; mode "proxy" or "splice" (which
 * needs the backends in the listener's address family); balance as
 * bal_algo_parse(); admin may be NULL. Same error contract.
 */
int cfg_quick(const char *listen, const char *const *backends, size_t nbackends, const char *mode,
	      const char *balance, const char *admin, struct cfg **out, char *err, size_t errlen);

void cfg_free(struct cfg *c);

/* Parsing helpers shared with the command line: 0 or -EINVAL. */
int cfg_parse_addr(const char *text, struct cfg_addr *out);
int cfg_parse_duration_ms(const char *text, uint32_t *out);
int cfg_parse_size(const char *text, uint64_t *out);

/* Prints the effective configuration in file syntax (laconic --check -v). */
void cfg_dump(const struct cfg *c, FILE *f);

#endif /* LACONIC_CONFIG_H */
