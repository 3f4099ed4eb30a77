// SPDX-License-Identifier: MIT
/*
 * Description: laconic/config: a full file, every default, each error
 * message with its exact line, the quick form, dump round trips, and the
 * duration, size and address parsers' edge cases (including how inih's
 * comments, indentation and line endings come through).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <nss.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* Makes a config valid when appended after the part under test. */
#define TAIL \
	"\n[listener tail]\nlisten = 127.0.0.9:1\npool = tailpool\n[pool tailpool]\nbackend = 127.0.0.9:2\n"

static struct cfg *load_ok(const char *text)
{
	struct cfg *c = NULL;
	char err[CFG_ERR_MAX] = "";
	int ret = cfg_load_string(text, "t.ini", &c, err, sizeof(err));

	if (ret)
		print_error("unexpected error %d: %s\n", ret, err);
	assert_int_equal(ret, 0);
	assert_non_null(c);
	assert_string_equal(err, "");
	return c;
}

static void expect_err(const char *text, const char *want)
{
	struct cfg *c = (struct cfg *)1;
	char err[CFG_ERR_MAX];
	int ret = cfg_load_string(text, "t.ini", &c, err, sizeof(err));

	if (strcmp(err, want))
		print_error("want: %s\n got: %s\n", want, err);
	assert_int_equal(ret, -EINVAL);
	assert_null(c);
	assert_string_equal(err, want);
}

static void expect_err_prefix(const char *text, const char *want)
{
	struct cfg *c = (struct cfg *)1;
	char err[CFG_ERR_MAX];
	int ret = cfg_load_string(text, "t.ini", &c, err, sizeof(err));

	if (strncmp(err, want, strlen(want)))
		print_error("want: %s...\n got: %s\n", want, err);
	assert_int_equal(ret, -EINVAL);
	assert_null(c);
	assert_true(!strncmp(err, want, strlen(want)));
}

static const char full[] = "# a complete configuration\n"
			   "[global]\n"
			   "workers = 4\n"
			   "admin = 127.0.0.1:9100\n"
			   "access_log = /var/log/laconic.log\n"
			   "timeout_header = 5s\n"
			   "timeout_idle = 2m\n"
			   "timeout_connect = 250ms\n"
			   "timeout_server = 1h\n"
			   "max_header = 32k\n"
			   "graph_memory = 1G\n"
			   "drain_timeout = 45s\n"
			   "splice_interfaces = eth0,eth1\n"
			   "splice_port_min = 21000\n"
			   "splice_port_max = 22000\n"
			   "splice_max_conns = 2048\n"
			   "splice_linger = 5s\n"
			   "\n"
			   "[listener web]\n"
			   "listen = *:8080\n"
			   "mode = splice\n"
			   "pool = api\n"
			   "route = host=A.Example path=/api pool=api\n"
			   "route = path=/static pool=static\n"
			   "route = pool=api\n"
			   "xff = off\n"
			   "\n"
			   "[listener v6]\n"
			   "listen = [::1]:8443\n"
			   "pool = static\n"
			   "\n"
			   "[pool api]\n"
			   "balance = maglev\n"
			   "hash = header:X-User\n"
			   "backend = 10.0.0.1:80 weight=2\n"
			   "backend = 10.0.0.2:80 drain\n"
			   "backend = localhost:8081 weight=3 drain\n"
			   "health_path = /healthz\n"
			   "health_interval = 5s\n"
			   "health_timeout = 500ms\n"
			   "health_rise = 1\n"
			   "health_fall = 5\n"
			   "max_fails = 0\n"
			   "fail_window = 1m\n"
			   "keepalive = 0\n"
			   "\n"
			   "[pool static]\n"
			   "balance = leastconn\n"
			   "hash = cookie:sid\n"
			   "backend = 127.0.0.1:9000\n";

static void test_full(void **state)
{
	struct cfg *c = load_ok(full);
	const struct cfg_listener *l;
	const struct cfg_pool *p;

	(void)state;
	assert_int_equal(c->workers, 4);
	assert_true(c->has_admin);
	assert_string_equal(c->admin.text, "127.0.0.1:9100");
	assert_int_equal(c->admin.ss.ss_family, AF_INET);
	assert_int_equal(c->admin.len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->admin.ss)->sin_port), 9100);
	assert_string_equal(c->access_log, "/var/log/laconic.log");
	assert_int_equal(c->timeout_header_ms, 5000);
	assert_int_equal(c->timeout_idle_ms, 120000);
	assert_int_equal(c->timeout_connect_ms, 250);
	assert_int_equal(c->timeout_server_ms, 3600000);
	assert_int_equal(c->max_header, 32768);
	assert_int_equal(c->graph_memory, 1ull << 30);
	assert_int_equal(c->drain_timeout_ms, 45000);

	assert_int_equal(c->nlisteners, 2);
	assert_int_equal(c->npools, 2);
	l = &c->listeners[0];
	assert_string_equal(l->name, "web");
	assert_string_equal(l->addr.text, "0.0.0.0:8080");
	assert_int_equal(l->mode, CFG_MODE_SPLICE);
	assert_int_equal(l->pool, 0);
	assert_false(l->xff);
	assert_int_equal(l->nroutes, 3);
	assert_string_equal(l->routes[0].host, "a.example"); /* case-folded */
	assert_string_equal(l->routes[0].prefix, "/api");
	assert_int_equal(l->routes[0].pool, 0);
	assert_string_equal(l->routes[1].host, "");
	assert_string_equal(l->routes[1].prefix, "/static");
	assert_int_equal(l->routes[1].pool, 1);
	assert_string_equal(l->routes[2].host, "");
	assert_string_equal(l->routes[2].prefix, "");
	assert_int_equal(l->routes[2].pool, 0);
	l = &c->listeners[1];
	assert_string_equal(l->name, "v6");
	assert_string_equal(l->addr.text, "[::1]:8443");
	assert_int_equal(l->addr.ss.ss_family, AF_INET6);
	assert_int_equal(l->addr.len, sizeof(struct sockaddr_in6));
	assert_int_equal(l->pool, 1);
	assert_int_equal(l->mode, CFG_MODE_PROXY);
	assert_true(l->xff);
	assert_int_equal(l->nroutes, 0);

	p = &c->pools[0];
	assert_string_equal(p->name, "api");
	assert_int_equal(p->balance, BAL_MAGLEV);
	assert_int_equal(p->hash, CFG_HASH_HEADER);
	assert_string_equal(p->hash_name, "X-User");
	assert_int_equal(p->nbackends, 3);
	assert_string_equal(p->backends[0].addr.text, "10.0.0.1:80");
	assert_int_equal(p->backends[0].weight, 2);
	assert_false(p->backends[0].drain);
	assert_string_equal(p->backends[1].addr.text, "10.0.0.2:80");
	assert_int_equal(p->backends[1].weight, 1);
	assert_true(p->backends[1].drain);
	/* /etc/hosts names localhost 127.0.0.1 (and maybe ::1 as well). */
	assert_true(!strcmp(p->backends[2].addr.text, "127.0.0.1:8081") ||
		    !strcmp(p->backends[2].addr.text, "[::1]:8081"));
	assert_int_equal(p->backends[2].weight, 3);
	assert_true(p->backends[2].drain);
	assert_string_equal(p->health_path, "/healthz");
	assert_int_equal(p->health_interval_ms, 5000);
	assert_int_equal(p->health_timeout_ms, 500);
	assert_int_equal(p->health_rise, 1);
	assert_int_equal(p->health_fall, 5);
	assert_int_equal(p->max_fails, 0);
	assert_int_equal(p->fail_window_ms, 60000);
	assert_int_equal(p->keepalive, 0);
	p = &c->pools[1];
	assert_string_equal(p->name, "static");
	assert_int_equal(p->balance, BAL_LEASTCONN);
	assert_int_equal(p->hash, CFG_HASH_COOKIE);
	assert_string_equal(p->hash_name, "sid");
	assert_string_equal(p->backends[0].addr.text, "127.0.0.1:9000");
	cfg_free(c);
}

static void test_defaults(void **state)
{
	struct cfg *c = load_ok("[listener main]\nlisten = :8080\npool = p\n"
				"[pool p]\nbackend = 127.0.0.1:80\n");
	const struct cfg_listener *l = &c->listeners[0];
	const struct cfg_pool *p = &c->pools[0];

	(void)state;
	assert_int_equal(c->workers, 0);
	assert_false(c->has_admin);
	assert_string_equal(c->access_log, "");
	assert_int_equal(c->timeout_header_ms, 10000);
	assert_int_equal(c->timeout_idle_ms, 60000);
	assert_int_equal(c->timeout_connect_ms, 3000);
	assert_int_equal(c->timeout_server_ms, 30000);
	assert_int_equal(c->drain_timeout_ms, 30000);
	assert_int_equal(c->max_header, 16384);
	assert_int_equal(c->graph_memory, 16u << 20);

	assert_string_equal(l->addr.text, "0.0.0.0:8080");
	assert_int_equal(l->mode, CFG_MODE_PROXY);
	assert_true(l->xff);
	assert_int_equal(l->nroutes, 0);
	assert_null(l->routes);
	assert_int_equal(l->pool, 0);

	assert_int_equal(p->balance, BAL_ROUNDROBIN);
	assert_int_equal(p->hash, CFG_HASH_CLIENT_IP);
	assert_string_equal(p->hash_name, "");
	assert_int_equal(p->nbackends, 1);
	assert_int_equal(p->backends[0].weight, 1);
	assert_false(p->backends[0].drain);
	assert_string_equal(p->health_path, "");
	assert_int_equal(p->health_interval_ms, 2000);
	assert_int_equal(p->health_timeout_ms, 1000);
	assert_int_equal(p->health_rise, 2);
	assert_int_equal(p->health_fall, 3);
	assert_int_equal(p->max_fails, 3);
	assert_int_equal(p->fail_window_ms, 10000);
	assert_int_equal(p->keepalive, 256);
	cfg_free(c);
}

static void test_errors_syntax(void **state)
{
	(void)state;
	/* The brief's example: a typo on line 7. */
	expect_err("[global]\n"
		   "workers = 2\n"
		   "\n"
		   "# comment\n"
		   "timeout_header = 5s\n"
		   "timeout_idle = 5s\n"
		   "tmeout_idle = 5s\n" TAIL,
		   "t.ini:7: unknown key 'tmeout_idle' in [global]");
	expect_err("[global]\nworkers 2\n" TAIL,
		   "t.ini:2: syntax error (expected 'key = value' or '[section]')");
	/* inih's syntax error comes first, then ours: the earlier one wins. */
	expect_err("[global]\n\nfoo\nbar = 1\n" TAIL,
		   "t.ini:3: syntax error (expected 'key = value' or '[section]')");
	expect_err("[global]\nbar = 1\nfoo\n" TAIL, "t.ini:2: unknown key 'bar' in [global]");
	expect_err("[pool p]\nbackend = 1.2.3.4:80\nbakend = 1.2.3.5:80\n" TAIL,
		   "t.ini:3: unknown key 'bakend' in [pool p]");
	expect_err("[listener l]\ntimeout_idle = 1s\n" TAIL,
		   "t.ini:2: unknown key 'timeout_idle' in [listener l]");
	expect_err("[global]\n= 1\n" TAIL, "t.ini:2: missing key before '=' in [global]");
	expect_err(
		"workers = 1\n" TAIL,
		"t.ini:1: 'workers' outside any section (start with [global], [listener NAME] or "
		"[pool NAME])");
	expect_err("\n\n[globl]\n" TAIL, "t.ini:3: unknown section [globl] (expected [global], "
					 "[listener NAME] or [pool NAME])");
	expect_err(
		"[global\nworkers = 1\n" TAIL,
		"t.ini:1: bad section header (expected [global], [listener NAME] or [pool NAME])");
	expect_err(
		"[global] x\n" TAIL,
		"t.ini:1: bad section header (expected [global], [listener NAME] or [pool NAME])");
	expect_err("[global x]\n" TAIL, "t.ini:1: section [global] takes no name");
	expect_err("[pool]\n" TAIL, "t.ini:1: section [pool] needs a name ([pool NAME])");
	expect_err("[listener a b]\n" TAIL, "t.ini:1: bad listener name 'a b' (letters, digits, "
					    "'_', '-' and '.', at most 63)");
	expect_err("[pool a/b]\n" TAIL,
		   "t.ini:1: bad pool name 'a/b' (letters, digits, '_', '-' and '.', at most 63)");
	expect_err("[global]\n[global]\n" TAIL,
		   "t.ini:2: duplicate section [global] (first on line 1)");
	expect_err("[pool p]\nbackend = 1.2.3.4:80\n\n[pool p]\nbackend = 1.2.3.5:80\n" TAIL,
		   "t.ini:4: duplicate section [pool p] (first on line 1)");
	expect_err(TAIL "[listener tail]\n",
		   "t.ini:7: duplicate section [listener tail] (first on line 2)");
	expect_err("[global]\nworkers = 1\ntimeout_idle = 1s\nworkers = 2\n" TAIL,
		   "t.ini:4: duplicate key 'workers' in [global] (first on line 2)");
	expect_err("[global]\nworkers = 1\x01\n" TAIL,
		   "t.ini:2: control character 0x01 (only tab is allowed)");
}

static void test_errors_values(void **state)
{
	(void)state;
	expect_err("[global]\nworkers = 257\n" TAIL,
		   "t.ini:2: workers '257': out of range (0..256)");
	expect_err("[global]\nworkers = -1\n" TAIL,
		   "t.ini:2: workers '-1': expected a whole number");
	expect_err("[global]\nworkers = 99999999999999999999999\n" TAIL,
		   "t.ini:2: workers '99999999999999999999999': expected a whole number");
	expect_err("[global]\ntimeout_idle = 0\n" TAIL,
		   "t.ini:2: timeout_idle '0': out of range (1ms..1h)");
	expect_err("[global]\ntimeout_idle = 61m\n" TAIL,
		   "t.ini:2: timeout_idle '61m': out of range (1ms..1h)");
	expect_err(
		"[global]\ndrain_timeout = 10 s\n" TAIL,
		"t.ini:2: drain_timeout '10 s': expected a duration such as 250ms, 10s, 2m or 1h");
	expect_err("[global]\nmax_header = 512\n" TAIL,
		   "t.ini:2: max_header '512': out of range (1k..1M)");
	expect_err("[global]\nmax_header = 2M\n" TAIL,
		   "t.ini:2: max_header '2M': out of range (1k..1M)");
	expect_err("[global]\ngraph_memory = 1k\n" TAIL,
		   "t.ini:2: graph_memory '1k': out of range (0 or 64k..16G)");
	expect_err("[global]\ngraph_memory = 1.5X\n" TAIL,
		   "t.ini:2: graph_memory '1.5X': expected a size such as 512, 16k, 1M or 2G");
	expect_err("[global]\ngraph_memory = 16T\n" TAIL,
		   "t.ini:2: graph_memory '16T': out of range (0 or 64k..16G)");
	expect_err(
		"[global]\nadmin = localhost\n" TAIL,
		"t.ini:2: admin 'localhost': invalid address (expected HOST:PORT, [IPV6]:PORT or "
		"*:PORT, the port is required)");
	expect_err("[global]\nadmin = no-such-host.invalid:80\n" TAIL,
		   "t.ini:2: admin 'no-such-host.invalid:80': cannot resolve the host name");
	expect_err("[global]\nadmin = 127.0.0.9:1\n" TAIL,
		   "t.ini:2: admin address 127.0.0.9:1 is also the address of listener 'tail'");
	expect_err("[pool p]\nhealth_rise = 0\n" TAIL,
		   "t.ini:2: health_rise '0': out of range (1..100)");
	expect_err("[pool p]\nhealth_fall = 101\n" TAIL,
		   "t.ini:2: health_fall '101': out of range (1..100)");
	expect_err("[pool p]\nkeepalive = 10001\n" TAIL,
		   "t.ini:2: keepalive '10001': out of range (0..10000)");
	expect_err("[pool p]\nbalance = random\n" TAIL,
		   "t.ini:2: balance 'random': expected roundrobin, leastconn or maglev");
	expect_err(
		"[pool p]\nhealth_path = healthz\n" TAIL,
		"t.ini:2: health_path 'healthz': expected /PATH (no blanks or control characters, at "
		"most 184 characters)");
	expect_err("[listener l]\nmode = http\n" TAIL,
		   "t.ini:2: mode 'http': expected proxy or splice");
	expect_err("[listener l]\nxff = maybe\n" TAIL, "t.ini:2: xff 'maybe': expected on or off");
	expect_err(
		"[listener l]\nlisten = 1.2.3:80\n" TAIL,
		"t.ini:2: listen '1.2.3:80': invalid address (expected HOST:PORT, [IPV6]:PORT or "
		"*:PORT)");
	expect_err(
		"[listener l]\npool = a:b\n" TAIL,
		"t.ini:2: pool 'a:b': bad pool name (letters, digits, '_', '-' and '.', at most 63)");
}

static void test_errors_hash(void **state)
{
	static const char *const bad[] = { "ip",	 "header:",  "cookie:", "header:X User",
					   "header:X\"", "Header:X", "header",	"cookie:a;b" };
	char text[256], want[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[pool p]\nbalance = maglev\nhash = %s\n" TAIL,
			 bad[i]);
		snprintf(
			want, sizeof(want),
			"t.ini:3: hash '%s': expected client_ip, header:NAME or cookie:NAME (NAME a "
			"token of at most 63 characters)",
			bad[i]);
		/* "cookie:a;b" keeps its ';', which only starts a comment after a blank. */
		expect_err(text, want);
	}
}

static void test_errors_backend_route(void **state)
{
	(void)state;
	expect_err("[pool p]\nbackend = 1.2.3.4:80 weight=0\n" TAIL,
		   "t.ini:2: backend '1.2.3.4:80 weight=0': weight out of range (1..256)");
	expect_err("[pool p]\nbackend = 1.2.3.4:80 weight=257\n" TAIL,
		   "t.ini:2: backend '1.2.3.4:80 weight=257': weight out of range (1..256)");
	expect_err(
		"[pool p]\nbackend = 1.2.3.4:80 weight=2 weight=3\n" TAIL,
		"t.ini:2: backend '1.2.3.4:80 weight=2 weight=3': unexpected 'weight=3' (expected "
		"ADDR [weight=N] [drain])");
	expect_err(
		"[pool p]\nbackend = 1.2.3.4:80 drian\n" TAIL,
		"t.ini:2: backend '1.2.3.4:80 drian': unexpected 'drian' (expected ADDR [weight=N] "
		"[drain])");
	expect_err(
		"[pool p]\nbackend = x\n" TAIL,
		"t.ini:2: backend 'x': invalid address (expected HOST:PORT, [IPV6]:PORT or *:PORT, "
		"the port is required)");
	expect_err("[pool p]\nbackend = *:80\n" TAIL,
		   "t.ini:2: backend '*:80': a backend needs a specific address, not a wildcard");
	expect_err("[pool p]\nbackend = [::]:80 weight=2\n" TAIL,
		   "t.ini:2: backend '[::]:80 weight=2': a backend needs a specific address, not a "
		   "wildcard");
	expect_err(
		"[pool p]\nbackend = 1.2.3.4:80\nbackend = 1.2.3.5:80\nbackend = 1.2.3.4:80 "
		"weight=2\n" TAIL,
		"t.ini:4: backend '1.2.3.4:80 weight=2': duplicate backend 1.2.3.4:80 in [pool p]");
	expect_err("[listener l]\nroute = host=a.example\n" TAIL,
		   "t.ini:2: route 'host=a.example': missing pool=NAME");
	expect_err("[listener l]\nroute = path=api pool=p\n" TAIL,
		   "t.ini:2: route 'path=api pool=p': bad path (must start with '/', no blanks or "
		   "control characters)");
	expect_err("[listener l]\nroute = host=a.example:80 pool=p\n" TAIL,
		   "t.ini:2: route 'host=a.example:80 pool=p': bad host (a name or [IPV6], without "
		   "port)");
	expect_err("[listener l]\nroute = pool=p methd=GET\n" TAIL,
		   "t.ini:2: route 'pool=p methd=GET': unexpected 'methd=GET' (expected "
		   "[host=NAME] [path=/PREFIX] pool=NAME, each once)");
	expect_err("[listener l]\nroute = pool=p pool=q\n" TAIL,
		   "t.ini:2: route 'pool=p pool=q': unexpected 'pool=q' (expected [host=NAME] "
		   "[path=/PREFIX] pool=NAME, each once)");
}

static void test_errors_validation(void **state)
{
	(void)state;
	expect_err("", "t.ini: no listener defined (add a [listener NAME] section)");
	expect_err("[pool p]\nbackend = 1.2.3.4:80\n",
		   "t.ini: no listener defined (add a [listener NAME] section)");
	expect_err("[listener web]\nlisten = :80\npool = nope\n\n[pool p]\nbackend = 1.2.3.4:80\n",
		   "t.ini:3: listener 'web': pool 'nope' is not defined");
	expect_err("[listener web]\nlisten = :80\npool = p\nroute = path=/x pool=api\n"
		   "[pool p]\nbackend = 1.2.3.4:80\n",
		   "t.ini:4: listener 'web': route to pool 'api', which is not defined");
	expect_err("[listener web]\nlisten = :80\n" TAIL,
		   "t.ini:1: listener 'web' has no pool (pool = NAME)");
	expect_err("[listener web]\npool = tailpool\n" TAIL,
		   "t.ini:1: listener 'web' has no listen address (listen = HOST:PORT)");
	expect_err("[pool p]\nbalance = maglev\n" TAIL,
		   "t.ini:1: pool 'p' has no backends (backend = HOST:PORT)");
	expect_err("[listener a]\nlisten = 0.0.0.0:80\npool = p\n\n[listener b]\nlisten = *:80\n"
		   "pool = p\n[pool p]\nbackend = 1.2.3.4:80\n",
		   "t.ini:6: listeners 'a' and 'b' both listen on 0.0.0.0:80");
	/* Several problems: the one with the smallest line is reported. */
	expect_err("[pool empty]\n\n[listener web]\nlisten = :80\npool = nope\n" TAIL,
		   "t.ini:1: pool 'empty' has no backends (backend = HOST:PORT)");
	expect_err("[listener web]\nlisten = :80\npool = nope\n[pool empty]\n" TAIL,
		   "t.ini:3: listener 'web': pool 'nope' is not defined");
	/*
	 * Splice mode: a sane port range, and one address family from the
	 * listener to every backend of its pools (the fast path rewrites in
	 * place), reported at the pool's line with both families named.
	 */
	expect_err("[global]\nsplice_port_min = 3000\nsplice_port_max = 2000\n" TAIL,
		   "t.ini: splice_port_min 3000 is above splice_port_max 2000");
	expect_err("[listener web]\nlisten = [::1]:80\nmode = splice\npool = p\n"
		   "[pool p]\nbackend = 1.2.3.4:80\n",
		   "t.ini:5: pool 'p': backend 1.2.3.4:80 is IPv4, but splice listener 'web' "
		   "([::1]:80) uses the pool (a splice cannot cross address families)");
	expect_err("[listener web]\nlisten = :80\nmode = splice\npool = p\n"
		   "[pool p]\nbackend = [::1]:80\n",
		   "t.ini:5: pool 'p': backend [::1]:80 is IPv6, but splice listener 'web' "
		   "(0.0.0.0:80) uses the pool (a splice cannot cross address families)");
	/* A route's pool counts as much as the default one. */
	expect_err("[listener web]\nlisten = [::]:80\nmode = splice\npool = p\n"
		   "route = path=/api pool=api\n[pool p]\nbackend = [fd00::2]:80\n\n[pool api]\n"
		   "backend = 10.0.0.2:80\n",
		   "t.ini:9: pool 'api': backend 10.0.0.2:80 is IPv4, but splice listener 'web' "
		   "([::]:80) uses the pool (a splice cannot cross address families)");
	expect_err("[listener web]\nlisten = [::]:80\nmode = splice\npool = p\n"
		   "[pool p]\nbackend = [fd00::2]:80\nbackend = [fe80::1]:80\n",
		   "t.ini:5: pool 'p': backend [fe80::1]:80 is link-local, which splice listener "
		   "'web' cannot reach (splice needs a global or unique-local address)");
	/* Proxy mode crosses families freely, and an all-IPv6 splice is fine. */
	cfg_free(load_ok("[listener web]\nlisten = [::1]:80\npool = p\n"
			 "[pool p]\nbackend = 1.2.3.4:80\nbackend = [fe80::1]:80\n"));
	cfg_free(
		load_ok("[listener web]\nlisten = [::]:80\nmode = splice\npool = p\n"
			"route = path=/api pool=api\n[pool p]\nbackend = [fd00::2]:80\n[pool api]\n"
			"backend = [2001:db8::2]:80\n"));
}

static void test_lines(void **state)
{
	char text[1024], want[256];
	struct cfg *c;

	(void)state;
	/* Indentation never makes a continuation line (inih's multi-line values). */
	c = load_ok("[global]\n  workers = 2\n\ttimeout_idle = 5s\n" TAIL);
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->timeout_idle_ms, 5000);
	cfg_free(c);
	expect_err("[global]\nworkers = 2\n    3\n" TAIL,
		   "t.ini:3: syntax error (expected 'key = value' or '[section]')");

	/* Comments: '#' and ';' at line start or after a blank; inside words they are data. */
	c = load_ok("; leading\n# leading\n[global] # after a section\nworkers = 2 # trailing\n"
		    "timeout_idle = 5s\t; trailing\n" TAIL);
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->timeout_idle_ms, 5000);
	cfg_free(c);
	expect_err(
		"[global]\ntimeout_idle = 5s;x\n" TAIL,
		"t.ini:2: timeout_idle '5s;x': expected a duration such as 250ms, 10s, 2m or 1h");
	c = load_ok("[global]\naccess_log = /tmp/a#b;c ; comment\n[pool p]\nhealth_path = "
		    "/h#x\t# comment\nbackend = 1.2.3.4:80\n" TAIL);
	assert_string_equal(c->access_log, "/tmp/a#b;c");
	assert_string_equal(c->pools[0].health_path, "/h#x");
	cfg_free(c);
	/* Right after the ':' that ends a key, as after '=', '#' starts a comment:
	 * cfg_dump() writes "key = #x", which must read back as the same (empty)
	 * value (found by fuzz_laconic_config). ':' inside a value is data. */
	c = load_ok("[global]\naccess_log :#x\n[pool p]\nhealth_path = /a:#b\nbackend = "
		    "1.2.3.4:80\n" TAIL);
	assert_string_equal(c->access_log, "");
	assert_string_equal(c->pools[0].health_path, "/a:#b");
	cfg_free(c);

	/* CRLF line ends, a byte order mark, "key: value", blanks inside values. */
	c = load_ok("\xef\xbb\xbf[global]\r\nworkers: 3\r\naccess_log =  /tmp/my log \r\n" TAIL);
	assert_int_equal(c->workers, 3);
	assert_string_equal(c->access_log, "/tmp/my log");
	cfg_free(c);
	expect_err("[global]\r\nworkers = 1\r\nbogus = 2\r\n" TAIL,
		   "t.ini:3: unknown key 'bogus' in [global]");

	/* Line length: inih's buffer; long comments are fine. */
	snprintf(text, sizeof(text), "[global]\naccess_log = /%0184d\n" TAIL, 0);
	c = load_ok(text);
	assert_int_equal(strlen(c->access_log), 185);
	cfg_free(c);
	/* Fits the line, but its canonical "key = value" line would not: rejected. */
	snprintf(text, sizeof(text), "[global]\naccess_log=/%0185d\n" TAIL, 0);
	snprintf(want, sizeof(want),
		 "t.ini:2: access_log '/%0185d': too long (at most 185 characters)", 0);
	expect_err(text, want);
	snprintf(text, sizeof(text), "[global]\naccess_log=/%0186d\n" TAIL, 0);
	expect_err_prefix(text, "t.ini:2: access_log '/0");
	snprintf(text, sizeof(text), "[global]\n\naccess_log = /%0200d\n" TAIL, 0);
	expect_err(text, "t.ini:3: line too long (at most 198 characters, comments aside)");
	snprintf(text, sizeof(text), "[global]\nworkers = 1 # %0400d\n" TAIL, 0);
	c = load_ok(text);
	cfg_free(c);
}

static bool addr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->len == b->len && !memcmp(&a->ss, &b->ss, a->len) && !strcmp(a->text, b->text);
}

static bool cfg_equal(const struct cfg *a, const struct cfg *b)
{
	if (a->workers != b->workers || a->has_admin != b->has_admin ||
	    (a->has_admin && !addr_equal(&a->admin, &b->admin)) ||
	    strcmp(a->access_log, b->access_log) || a->timeout_header_ms != b->timeout_header_ms ||
	    a->timeout_idle_ms != b->timeout_idle_ms ||
	    a->timeout_connect_ms != b->timeout_connect_ms ||
	    a->timeout_server_ms != b->timeout_server_ms ||
	    a->drain_timeout_ms != b->drain_timeout_ms || a->max_header != b->max_header ||
	    a->graph_memory != b->graph_memory || a->nlisteners != b->nlisteners ||
	    a->npools != b->npools)
		return false;
	for (size_t i = 0; i < a->nlisteners; i++) {
		const struct cfg_listener *x = &a->listeners[i], *y = &b->listeners[i];

		if (strcmp(x->name, y->name) || !addr_equal(&x->addr, &y->addr) ||
		    x->mode != y->mode || x->pool != y->pool || x->nroutes != y->nroutes ||
		    x->xff != y->xff)
			return false;
		for (size_t r = 0; r < x->nroutes; r++)
			if (strcmp(x->routes[r].host, y->routes[r].host) ||
			    strcmp(x->routes[r].prefix, y->routes[r].prefix) ||
			    x->routes[r].pool != y->routes[r].pool)
				return false;
	}
	for (size_t i = 0; i < a->npools; i++) {
		const struct cfg_pool *x = &a->pools[i], *y = &b->pools[i];

		if (strcmp(x->name, y->name) || x->balance != y->balance || x->hash != y->hash ||
		    strcmp(x->hash_name, y->hash_name) || x->nbackends != y->nbackends ||
		    strcmp(x->health_path, y->health_path) ||
		    x->health_interval_ms != y->health_interval_ms ||
		    x->health_timeout_ms != y->health_timeout_ms ||
		    x->health_rise != y->health_rise || x->health_fall != y->health_fall ||
		    x->max_fails != y->max_fails || x->fail_window_ms != y->fail_window_ms ||
		    x->keepalive != y->keepalive)
			return false;
		for (size_t k = 0; k < x->nbackends; k++)
			if (!addr_equal(&x->backends[k].addr, &y->backends[k].addr) ||
			    x->backends[k].weight != y->backends[k].weight ||
			    x->backends[k].drain != y->backends[k].drain)
				return false;
	}
	return true;
}

static char *dump(const struct cfg *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cfg_dump(c, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	return buf;
}

static void round_trip(const struct cfg *c)
{
	char *d1 = dump(c), *d2;
	struct cfg *c2 = load_ok(d1);

	assert_true(cfg_equal(c, c2));
	d2 = dump(c2);
	assert_string_equal(d1, d2);
	cfg_free(c2);
	free(d1);
	free(d2);
}

static void test_dump_round_trip(void **state)
{
	static const char *const be[] = { "10.0.0.1:80", "[2001:db8::1]:8080 weight=7 drain" };
	struct cfg *c = load_ok(full);
	char *d;

	(void)state;
	round_trip(c);
	d = dump(c);
	/* Canonical forms: numeric addresses, the largest exact unit. */
	assert_non_null(strstr(d, "[global]\nworkers = 4\nadmin = 127.0.0.1:9100\n"));
	assert_non_null(strstr(d, "timeout_idle = 2m\ntimeout_connect = 250ms\n"
				  "timeout_server = 1h\nmax_header = 32k\ngraph_memory = 1G\n"));
	assert_non_null(strstr(d,
			       "\n[listener web]\nlisten = 0.0.0.0:8080\nmode = splice\n"
			       "pool = api\nroute = host=a.example path=/api pool=api\n"
			       "route = path=/static pool=static\nroute = pool=api\nxff = off\n"));
	assert_non_null(strstr(d, "backend = 10.0.0.2:80 weight=1 drain\n"));
	assert_non_null(strstr(d, "hash = header:X-User\n"));
	assert_non_null(strstr(d, "drain_timeout = 45s\nsplice_interfaces = eth0,eth1\n"
				  "splice_port_min = 21000\nsplice_port_max = 22000\n"
				  "splice_max_conns = 2048\nsplice_linger = 5s\n"));
	free(d);
	cfg_free(c);

	c = load_ok(
		"[listener main]\nlisten = :8080\npool = p\n[pool p]\nbackend = 127.0.0.1:80\n");
	round_trip(c);
	cfg_free(c);

	assert_int_equal(cfg_quick("[::]:80", be, 2, "proxy", "maglev", "127.0.0.1:9", &c, NULL, 0),
			 0);
	round_trip(c);
	cfg_free(c);
}

static void test_quick(void **state)
{
	static const char *const be[] = { "10.0.0.1:80", "10.0.0.2:80 weight=3", "localhost:81" };
	static const char *const dup[] = { "10.0.0.1:80", "10.0.0.1:80" };
	static const char *const bad[] = { "10.0.0.1:80", "x" };
	char err[CFG_ERR_MAX];
	struct cfg *c = NULL;

	(void)state;
	assert_int_equal(cfg_quick("127.0.0.1:8080", be, 3, NULL, NULL, NULL, &c, err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(c->nlisteners, 1);
	assert_int_equal(c->npools, 1);
	assert_string_equal(c->listeners[0].name, "main");
	assert_string_equal(c->listeners[0].addr.text, "127.0.0.1:8080");
	assert_int_equal(c->listeners[0].mode, CFG_MODE_PROXY);
	assert_int_equal(c->listeners[0].pool, 0);
	assert_true(c->listeners[0].xff);
	assert_string_equal(c->pools[0].name, "main");
	assert_int_equal(c->pools[0].balance, BAL_ROUNDROBIN);
	assert_int_equal(c->pools[0].nbackends, 3);
	assert_int_equal(c->pools[0].backends[1].weight, 3);
	assert_int_equal(c->pools[0].keepalive, 256);
	assert_int_equal(c->timeout_idle_ms, 60000);
	assert_false(c->has_admin);
	cfg_free(c);

	assert_int_equal(cfg_quick(":8080", be, 1, "splice", "leastconn", "127.0.0.1:9100", &c, err,
				   sizeof(err)),
			 0);
	assert_int_equal(c->listeners[0].mode, CFG_MODE_SPLICE);
	assert_int_equal(c->pools[0].balance, BAL_LEASTCONN);
	assert_true(c->has_admin);
	assert_string_equal(c->admin.text, "127.0.0.1:9100");
	cfg_free(c);

	assert_int_equal(cfg_quick(":8080", bad, 2, NULL, NULL, NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_null(c);
	assert_string_equal(err, "--backend 'x': invalid address (expected HOST:PORT, [IPV6]:PORT "
				 "or *:PORT, the port is required)");
	assert_int_equal(cfg_quick(":8080", dup, 2, NULL, NULL, NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--backend '10.0.0.1:80': duplicate backend 10.0.0.1:80");
	/* Splice mode keeps one address family, here too. */
	{
		static const char *const v6[] = { "[fd00::2]:80", "[fd00::3]:80" };
		static const char *const mixed[] = { "[fd00::2]:80", "10.0.0.1:80" };
		static const char *const ll[] = { "[fe80::2]:80" };

		assert_int_equal(
			cfg_quick("[::]:80", v6, 2, "splice", NULL, NULL, &c, err, sizeof(err)), 0);
		cfg_free(c);
		assert_int_equal(
			cfg_quick("[::]:80", mixed, 2, "splice", NULL, NULL, &c, err, sizeof(err)),
			-EINVAL);
		assert_null(c);
		assert_string_equal(err, "--backend '10.0.0.1:80': IPv4, but --listen [::]:80 is "
					 "IPv6 (a splice cannot cross address families)");
		assert_int_equal(
			cfg_quick(":80", v6, 1, "splice", NULL, NULL, &c, err, sizeof(err)),
			-EINVAL);
		assert_string_equal(err, "--backend '[fd00::2]:80': IPv6, but --listen 0.0.0.0:80 "
					 "is IPv4 (a splice cannot cross address families)");
		assert_int_equal(
			cfg_quick("[::]:80", ll, 1, "splice", NULL, NULL, &c, err, sizeof(err)),
			-EINVAL);
		assert_string_equal(err,
				    "--backend '[fe80::2]:80': link-local, which splice mode "
				    "cannot reach (it needs a global or unique-local address)");
		/* Proxy mode mixes them. */
		assert_int_equal(
			cfg_quick("[::]:80", mixed, 2, "proxy", NULL, NULL, &c, err, sizeof(err)),
			0);
		cfg_free(c);
	}
	assert_int_equal(cfg_quick("8080", be, 1, NULL, NULL, NULL, &c, err, sizeof(err)), -EINVAL);
	assert_true(!strncmp(err, "--listen '8080': invalid address", 32));
	assert_int_equal(cfg_quick(":8080", be, 1, "tcp", NULL, NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--mode 'tcp': expected proxy or splice");
	assert_int_equal(cfg_quick(":8080", be, 1, NULL, "rr", NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--balance 'rr': expected roundrobin, leastconn or maglev");
	assert_int_equal(cfg_quick(":8080", be, 1, NULL, NULL, "9100", &c, err, sizeof(err)),
			 -EINVAL);
	assert_true(!strncmp(err, "--admin '9100': invalid address", 31));
	assert_int_equal(cfg_quick(":8080", be, 1, NULL, NULL, "*:8080", &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--admin '*:8080': same address as --listen");
	assert_int_equal(cfg_quick(":8080", be, 0, NULL, NULL, NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "no backends (give at least one --backend HOST:PORT)");
	assert_int_equal(cfg_quick(NULL, be, 1, NULL, NULL, NULL, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--listen: missing (HOST:PORT)");
	/* A short buffer is truncated, never overrun; none at all is fine. */
	assert_int_equal(cfg_quick(":8080", be, 1, "tcp", NULL, NULL, &c, err, 8), -EINVAL);
	assert_string_equal(err, "--mode ");
	assert_int_equal(cfg_quick(":8080", be, 1, "tcp", NULL, NULL, &c, NULL, 0), -EINVAL);
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		uint32_t ms;
	} ok[] = {
		{ "250ms", 250 },
		{ "10s", 10000 },
		{ "2m", 120000 },
		{ "1h", 3600000 },
		{ "7", 7000 },
		{ "0", 0 },
		{ "0ms", 0 },
		{ "007s", 7000 },
		{ "1193h", 4294800000u },
		{ "4294967295ms", UINT32_MAX },
	};
	static const char *const bad[] = {
		"",	  "-1s",   "+1s",	   "1.5s",     "1 s",
		" 1s",	  "1s ",   "1S",	   "1d",       "ms",
		"s",	  "1sec",  "0x10",	   "1e3",      "1hm",
		"1193h1", "1194h", "4294967296ms", "4294968s", "99999999999999999999999"
	};
	uint32_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		assert_int_equal(cfg_parse_duration_ms(ok[i].text, &v), 0);
		assert_int_equal(v, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (cfg_parse_duration_ms(bad[i], &v) != -EINVAL)
			print_error("accepted '%s'\n", bad[i]);
		assert_int_equal(cfg_parse_duration_ms(bad[i], &v), -EINVAL);
		assert_int_equal(v, 12345);
	}
	assert_int_equal(cfg_parse_duration_ms(NULL, &v), -EINVAL);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "512", 512 },
		{ "16k", 16384 },
		{ "16K", 16384 },
		{ "1M", 1u << 20 },
		{ "1m", 1u << 20 },
		{ "2G", 2ull << 30 },
		{ "2g", 2ull << 30 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ull << 30 },
		{ "1kb", 1024 },
		{ "1KiB", 1024 },
		{ "1T", 1ull << 40 },
		{ "1.5M", 3u << 19 },
	};
	static const char *const bad[] = { "",	   "-1",	   "1 k",
					   "1.3k", "1e3",	   "k",
					   "0x10", "17179869184G", "18446744073709551616",
					   " 1" };
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		assert_int_equal(cfg_parse_size(ok[i].text, &v), 0);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cfg_parse_size(bad[i], &v) != -EINVAL)
			print_error("accepted '%s'\n", bad[i]);
		assert_int_equal(cfg_parse_size(bad[i], &v), -EINVAL);
	}
}

static void test_addrs(void **state)
{
	static const struct {
		const char *text, *norm;
		int family;
	} ok[] = {
		{ "127.0.0.1:80", "127.0.0.1:80", AF_INET },
		{ "*:8080", "0.0.0.0:8080", AF_INET },
		{ ":8080", "0.0.0.0:8080", AF_INET },
		{ "10.1.2.3:065535", "10.1.2.3:65535", AF_INET },
		{ "[::1]:443", "[::1]:443", AF_INET6 },
		{ "[::]:1", "[::]:1", AF_INET6 },
		{ "[2001:DB8:0:0::1]:80", "[2001:db8::1]:80", AF_INET6 },
		{ "[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80", AF_INET6 },
	};
	static const char *const bad[] = {
		"",
		"80",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:0",
		"1.2.3.4:65536",
		"1.2.3.4:-1",
		"1.2.3.4:+80",
		"1.2.3.4:http",
		"::1:80",
		"[::1]80",
		"[::1]",
		"[]:80",
		"[1.2.3.4]:80",
		"1.2.3:80",
		"127.1:80",
		"0x7f000001:80",
		"010.0.0.1:80",
		"a b:80",
		"-:80",
		"a..b:80",
		"no-such-host.invalid:80",
	};
	struct cfg_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cfg_parse_addr(ok[i].text, &a), 0);
		assert_string_equal(a.text, ok[i].norm);
		assert_int_equal(a.ss.ss_family, ok[i].family);
	}
	assert_int_equal(cfg_parse_addr("localhost:9", &a), 0);
	assert_true(!strcmp(a.text, "127.0.0.1:9") || !strcmp(a.text, "[::1]:9"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cfg_parse_addr(bad[i], &a) != -EINVAL)
			print_error("accepted '%s'\n", bad[i]);
		assert_int_equal(cfg_parse_addr(bad[i], &a), -EINVAL);
	}
}

static void test_file(void **state)
{
	char path[] = "/tmp/laconic-cfg-XXXXXX", err[CFG_ERR_MAX], want[CFG_ERR_MAX + 64];
	static const char nul[] = "[global]\nworkers = 1\0\n";
	struct cfg *c = NULL;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(full, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->nlisteners, 2);
	cfg_free(c);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[global]\nworkers = 1\nworkres = 2\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: unknown key 'workres' in [global]", path);
	assert_string_equal(err, want);

	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: NUL byte (not a text file?)", path);
	assert_string_equal(err, want);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	assert_int_equal(cfg_load_file("/", &c, err, sizeof(err)), -EISDIR);
}

static void test_free_null(void **state)
{
	struct cfg *c = (struct cfg *)1;

	(void)state;
	cfg_free(NULL);
	assert_int_equal(cfg_load_string(NULL, "t.ini", &c, NULL, 0), -EINVAL);
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors_syntax),
		cmocka_unit_test(test_errors_values),
		cmocka_unit_test(test_errors_hash),
		cmocka_unit_test(test_errors_backend_route),
		cmocka_unit_test(test_errors_validation),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_quick),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_free_null),
	};

	/* Names from /etc/hosts only: no test waits on (or depends on) DNS. */
	__nss_configure_lookup("hosts", "files");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
