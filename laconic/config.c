/* SPDX-License-Identifier: MIT */
/*
 * Loading, validating and printing laconic's configuration (config.h).
 *
 * Pipeline
 * --------
 *
 *   text --> line reader --> inih --> key handler --> validation --> struct cfg
 *            (ours)                   (ours)          (ours)
 *
 * inih (Debian's libinih 55) splits "key = value" lines and trims them. Its
 * stock behaviour has four traps for a load balancer's config, so every line
 * goes through our own reader (ini_parse_stream) before inih sees it:
 *
 *   - An indented line after a key is a continuation (multi-line values,
 *     INI_ALLOW_MULTILINE): "  timeout_idle = 5s" under "workers = 2" would
 *     silently become a second value of workers. The reader strips leading
 *     blanks, so no line is ever a continuation and indentation is free.
 *   - Only ';' starts an inline comment (INI_INLINE_COMMENT_PREFIXES), so
 *     "workers = 2   # comment" would give workers the value "2   # comment".
 *     The reader cuts comments itself: '#' or ';' at the start of a line,
 *     after a blank or right after '=' or the ':' that ends the key ("key =# x"
 *     and "key :# x" are empty values, as "key = # x" is, so cfg_dump() output
 *     reads back the same). A '#' or
 *     ';' inside a word ("/a#b") is data.
 *   - Lines are read into a 200-byte buffer (INI_MAX_LINE); a longer line
 *     is cut and its tail parsed as a line of its own, so a value could be
 *     truncated and the tail taken for a key. The reader rejects any line
 *     whose meaningful part (comments aside) exceeds LINE_MAX_CHARS.
 *   - inih's handler gets no line number. The reader counts lines, and since
 *     it hands inih exactly one line per call the counts agree: a handler
 *     error is reported at p->line. inih's own syntax errors (a line that is
 *     neither a section nor key = value) produce no handler call; inih
 *     returns the number of the first failing line instead, and if that is
 *     earlier than our first error it must be a syntax error.
 *
 * The reader also sees "[section]" lines and opens sections itself (inih
 * would call the handler only for keys, truncating names at 50 bytes, and
 * an empty section, or a repeated one, would go unnoticed), and it stops
 * at the first error we record by returning end-of-file, so one mistake
 * gives one message rather than a cascade.
 *
 * Keys are described by per-section tables (kind, field offset, range),
 * which drive parsing and cfg_dump() alike, so a key cannot be added to one
 * and forgotten in the other. References to pools are recorded by name with
 * their line and resolved after the whole file is read (a listener may name
 * a pool defined further down). Validation then reports the problem with
 * the smallest line number, or a whole-file problem ("FILE: ...") when there
 * is nothing more precise.
 *
 * Round trip: cfg_dump() prints every effective key in canonical form
 * (numeric addresses, largest exact unit) and loading that gives an equal
 * struct cfg. Every string field is therefore limited so that its canonical
 * line fits LINE_MAX_CHARS, whatever the spelling of the original line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"
#include "config.h"
#include "log.h"
#include "splice-abi.h"
#include "units.h"
#include "vec.h"

/* inih's line buffer holds 200 bytes: the text, '\n' and the NUL. */
#define LINE_MAX_CHARS 198u
#define FILE_MAX       (1u << 20)
#define MS_MIN	       1u
#define MS_MAX	       3600000u
#define KIB	       1024ull
#define MAX_LISTENERS  256u
#define MAX_POOLS      1024u
#define MAX_ROUTES     1024u
#define MAX_KEYS       24u
#define NAME_LEN_MAX   (CFG_NAME_MAX - 1u)
#define WHY_MAX	       160u

enum sec_kind {
	SEC_NONE = 0,
	SEC_GLOBAL,
	SEC_LISTENER,
	SEC_POOL,
};

enum key_kind {
	K_U32 = 0, /* decimal, [min, max] */
	K_MS,	   /* duration in ms, [min, max] */
	K_SIZE32,  /* size into a uint32_t, [min, max] */
	K_SIZE64,  /* size into a uint64_t, 0 or [min, max] */
	K_BOOL,	   /* on | off */
	K_LISTEN,  /* listener address */
	K_ADMIN,   /* optional admin address */
	K_LOG,	   /* access_log: empty = off */
	K_MODE,	   /* proxy | splice */
	K_POOL,	   /* a pool name, resolved after parsing */
	K_ROUTE,   /* host= path= pool=, repeatable */
	K_BALANCE, /* bal_algo_parse() */
	K_HASH,	   /* client_ip | header:NAME | cookie:NAME */
	K_BACKEND, /* ADDR [weight=N] [drain], repeatable */
	K_HPATH,   /* health_path: empty = no active checks */
	K_IFACES,  /* splice_interfaces: empty = every interface but lo */
};

struct key_def {
	const char *name;   /* as written in the file */
	size_t off;	    /* field offset in struct cfg / cfg_listener / cfg_pool */
	uint64_t min, max;  /* range for the numeric kinds */
	enum key_kind kind; /* how to parse and print it */
	bool repeat;	    /* may appear more than once in a section */
};

#define NUM(n, k, s, f, lo, hi)                                                           \
	{                                                                                 \
		.name = (n), .kind = (k), .off = offsetof(s, f), .min = (lo), .max = (hi) \
	}
#define SPECIAL(n, k, r)                                \
	{                                               \
		.name = (n), .kind = (k), .repeat = (r) \
	}

static const struct key_def global_keys[] = {
	NUM("workers", K_U32, struct cfg, workers, 0, 256),
	SPECIAL("admin", K_ADMIN, false),
	SPECIAL("access_log", K_LOG, false),
	NUM("timeout_header", K_MS, struct cfg, timeout_header_ms, MS_MIN, MS_MAX),
	NUM("timeout_idle", K_MS, struct cfg, timeout_idle_ms, MS_MIN, MS_MAX),
	NUM("timeout_connect", K_MS, struct cfg, timeout_connect_ms, MS_MIN, MS_MAX),
	NUM("timeout_server", K_MS, struct cfg, timeout_server_ms, MS_MIN, MS_MAX),
	NUM("max_header", K_SIZE32, struct cfg, max_header, KIB, KIB *KIB),
	NUM("graph_memory", K_SIZE64, struct cfg, graph_memory, 64 * KIB, 16 * KIB * KIB * KIB),
	NUM("drain_timeout", K_MS, struct cfg, drain_timeout_ms, MS_MIN, MS_MAX),
	SPECIAL("splice_interfaces", K_IFACES, false),
	NUM("splice_port_min", K_U32, struct cfg, splice_port_min, 1024, 65535),
	NUM("splice_port_max", K_U32, struct cfg, splice_port_max, 1024, 65535),
	NUM("splice_max_conns", K_U32, struct cfg, splice_max_conns, 1024, 4u << 20),
	NUM("splice_linger", K_MS, struct cfg, splice_linger_ms, MS_MIN, MS_MAX),
	NUM("splice_oneshot", K_BOOL, struct cfg, splice_oneshot, 0, 1),
	NUM("splice_syncookies", K_BOOL, struct cfg, splice_syncookies, 0, 1),
	NUM("splice_oneshot_agent", K_BOOL, struct cfg, splice_oneshot_agent, 0, 1),
};

static const struct key_def listener_keys[] = {
	SPECIAL("listen", K_LISTEN, false),
	SPECIAL("mode", K_MODE, false),
	SPECIAL("pool", K_POOL, false),
	SPECIAL("route", K_ROUTE, true),
	NUM("xff", K_BOOL, struct cfg_listener, xff, 0, 1),
};

static const struct key_def pool_keys[] = {
	SPECIAL("balance", K_BALANCE, false),
	SPECIAL("hash", K_HASH, false),
	SPECIAL("backend", K_BACKEND, true),
	SPECIAL("health_path", K_HPATH, false),
	NUM("health_interval", K_MS, struct cfg_pool, health_interval_ms, MS_MIN, MS_MAX),
	NUM("health_timeout", K_MS, struct cfg_pool, health_timeout_ms, MS_MIN, MS_MAX),
	NUM("health_rise", K_U32, struct cfg_pool, health_rise, 1, 100),
	NUM("health_fall", K_U32, struct cfg_pool, health_fall, 1, 100),
	NUM("max_fails", K_U32, struct cfg_pool, max_fails, 0, 100),
	NUM("fail_window", K_MS, struct cfg_pool, fail_window_ms, MS_MIN, MS_MAX),
	NUM("keepalive", K_U32, struct cfg_pool, keepalive, 0, 10000),
};

_Static_assert(ARRAY_SIZE(global_keys) <= MAX_KEYS, "seen[] too small");
_Static_assert(ARRAY_SIZE(listener_keys) <= MAX_KEYS, "seen[] too small");
_Static_assert(ARRAY_SIZE(pool_keys) <= MAX_KEYS, "seen[] too small");

/* Parse-time facts about a listener, kept for validation. */
struct lmeta {
	unsigned line;	      /* its [listener NAME] header */
	unsigned listen_line; /* 0 until a listen key is seen */
	unsigned pool_line;   /* 0 until a pool key is seen */
	size_t routes_cap;    /* capacity of cfg_listener.routes */
};

/* Parse-time facts about a pool. */
struct pmeta {
	unsigned line;	     /* its [pool NAME] header */
	size_t backends_cap; /* capacity of cfg_pool.backends */
};

/* A pool named before it may have been defined; resolved after parsing. */
struct pool_ref {
	size_t listener;	 /* index into cfg.listeners */
	size_t route;		 /* index into its routes, or SIZE_MAX for its pool key */
	unsigned line;		 /* where the name was written */
	char name[CFG_NAME_MAX]; /* the pool's name */
};

struct parse {
	const char *file;		 /* name used in messages */
	const char *pos;		 /* next unread byte of the text */
	unsigned line;			 /* lines handed to inih so far */
	bool stop;			 /* an error is recorded: report EOF to inih */
	struct cfg *c;			 /* being built */
	size_t listeners_cap, pools_cap; /* capacities of c->listeners, c->pools */
	struct lmeta *lmeta;		 /* one per listener */
	size_t lmeta_cap;
	struct pmeta *pmeta; /* one per pool */
	size_t pmeta_cap;
	struct pool_ref *refs; /* unresolved pool names */
	size_t nrefs, refs_cap;
	unsigned global_line;	 /* the [global] header, 0 if none yet */
	unsigned admin_line;	 /* the admin key, 0 if none */
	enum sec_kind sec;	 /* the section keys go to */
	size_t sec_idx;		 /* its index for listeners and pools */
	char sec_label[96];	 /* "[pool web]", for messages */
	unsigned seen[MAX_KEYS]; /* line of each key's first use in this section */
	int err;		 /* 0, or the first error's negative errno */
	unsigned err_line;	 /* its line, 0 for the whole file */
	char msg[CFG_ERR_MAX];	 /* its message, without "FILE:LINE: " */
};

/* ---------------------------------------------------------------------- */
/* Characters, numbers, durations and sizes                               */

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_alnum(char ch)
{
	return is_alpha(ch) || is_digit(ch);
}

/* RFC 9110 tchar: what header and cookie names are made of. */
static bool is_tchar(char ch)
{
	return is_alnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static char to_lower(char ch)
{
	/* ASCII only: tolower() would depend on the locale. */
	if (ch >= 'A' && ch <= 'Z')
		return (char)(ch | 0x20);
	return ch;
}

/* Pool and listener names: safe in messages, paths and metrics labels. */
static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len >= CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

/*
 * Leading decimal digits of s into *out, *end after them. -EINVAL without a
 * digit or on overflow. No sign, no blanks, no base prefixes: a config value
 * means what it looks like.
 */
static int parse_digits(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	for (; is_digit(*p); p++) {
		if (check_mul_overflow(v, 10, &v) ||
		    check_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -EINVAL;
	}
	if (p == s)
		return -EINVAL;
	*end = p;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	const char *end;

	if (parse_digits(s, &end, out) || *end)
		return -EINVAL;
	return 0;
}

int cfg_parse_duration_ms(const char *text, uint32_t *out)
{
	uint64_t v, unit;
	const char *end;

	if (!text || !out || parse_digits(text, &end, &v))
		return -EINVAL;
	if (!*end || !strcmp(end, "s"))
		unit = 1000;
	else if (!strcmp(end, "ms"))
		unit = 1;
	else if (!strcmp(end, "m"))
		unit = 60000;
	else if (!strcmp(end, "h"))
		unit = 3600000;
	else
		return -EINVAL;
	if (check_mul_overflow(v, unit, &v) || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* The suite's size grammar (lib/units.h): 512, 16k, 1M, 1.5G, 64MiB. */
int cfg_parse_size(const char *text, uint64_t *out)
{
	return units_parse_size(text, out) ? -EINVAL : 0;
}

/* The largest unit that divides ms exactly, so parsing gives ms back. */
static void fmt_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms == 0)
		snprintf(buf, len, "0");
	else if (ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static void fmt_size(char *buf, size_t len, uint64_t v)
{
	static const char units[] = "GMk";

	for (int i = 0; i < 3; i++) {
		uint64_t u = 1ull << (10 * (3 - i));

		if (v && v % u == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(v / u), units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* ---------------------------------------------------------------------- */
/* Addresses                                                              */

/*
 * A DNS-style name: labels of letters, digits, '-' and '_'. The last label
 * must start with a letter, which rules out what getaddrinfo() would take
 * as a legacy IPv4 form through inet_aton() ("127.1", "0x7f000001").
 */
static bool hostname_ok(const char *h)
{
	size_t len = strlen(h), label = 0;
	const char *last = h;

	if (len == 0 || len > 253)
		return false;
	for (const char *p = h; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			last = p + 1;
		} else if (is_alnum(*p) || *p == '-' || *p == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label && is_alpha(*last);
}

static int resolve(const char *host, int family, int flags, struct cfg_addr *out)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int ret;

	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags;
	ret = getaddrinfo(host, NULL, &hints, &res);
	if (ret)
		return ret == EAI_MEMORY ? -ENOMEM : -ENOENT;
	if (res->ai_addrlen > sizeof(out->ss)) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * 0, -EINVAL (syntax, port, a name too long to print), -ENOENT (the name
 * does not resolve) or -ENOMEM. Fills every byte of *out.
 */
static int addr_parse(const char *text, struct cfg_addr *out)
{
	char host[256], num[NI_MAXHOST];
	const char *port_s;
	uint64_t port;
	size_t hlen;
	bool v6 = false;
	int ret, n;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hlen = (size_t)(rb - text - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, hlen);
		port_s = rb + 2;
		v6 = true;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - text);
		if (hlen >= sizeof(host) || memchr(text, ':', hlen))
			return -EINVAL;
		memcpy(host, text, hlen);
		port_s = colon + 1;
	}
	host[hlen] = '\0';
	if (parse_u64(port_s, &port) || port < 1 || port > 65535)
		return -EINVAL;

	if (v6) {
		ret = resolve(host, AF_INET6, AI_NUMERICHOST, out);
		if (ret)
			return ret == -ENOMEM ? ret : -EINVAL;
	} else if (hlen == 0 || !strcmp(host, "*")) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		out->len = sizeof(*sin);
	} else if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&out->ss)->sin_addr) == 1) {
		out->ss.ss_family = AF_INET;
		out->len = sizeof(struct sockaddr_in);
	} else if (!hostname_ok(host)) {
		return -EINVAL;
	} else {
		ret = resolve(host, AF_UNSPEC, 0, out);
		if (ret)
			return ret;
	}

	if (out->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&out->ss)->sin6_port = htons((uint16_t)port);
	else if (out->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&out->ss)->sin_port = htons((uint16_t)port);
	else
		return -EINVAL;
	if (getnameinfo((struct sockaddr *)&out->ss, out->len, num, sizeof(num), NULL, 0,
			NI_NUMERICHOST))
		return -EINVAL;
	if (out->ss.ss_family == AF_INET6)
		n = snprintf(out->text, sizeof(out->text), "[%s]:%u", num, (unsigned)port);
	else
		n = snprintf(out->text, sizeof(out->text), "%s:%u", num, (unsigned)port);
	if (n < 0 || (size_t)n >= sizeof(out->text))
		return -EINVAL;
	return 0;
}

int cfg_parse_addr(const char *text, struct cfg_addr *out)
{
	if (!text || !out)
		return -EINVAL;
	return addr_parse(text, out) ? -EINVAL : 0;
}

/* The reason for an addr_parse() failure, for "KEY 'VALUE': reason". */
static void addr_why(int err, const char *text, char *why, size_t wlen)
{
	if (err == -ENOENT)
		snprintf(why, wlen, "cannot resolve the host name");
	else if (err == -ENOMEM)
		snprintf(why, wlen, "out of memory");
	else
		snprintf(why, wlen, "invalid address (expected HOST:PORT, [IPV6]:PORT or *:PORT%s)",
			 strchr(text, ':') ? "" : ", the port is required");
}

/* 0.0.0.0 or [::]: fine to listen on, meaningless to connect to. */
static bool addr_is_any(const struct cfg_addr *a)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* ---------------------------------------------------------------------- */
/* Structured values: backends, routes, hash keys                          */

/* Next blank-separated token of *s as [*tok, *tok + len); 0 at the end. */
static size_t next_token(const char **s, const char **tok)
{
	const char *p = *s, *q;

	while (is_blank(*p))
		p++;
	q = p;
	while (*q && !is_blank(*q))
		q++;
	*tok = p;
	*s = q;
	return (size_t)(q - p);
}

static bool token_is(const char *tok, size_t len, const char *word)
{
	return strlen(word) == len && !memcmp(tok, word, len);
}

static int backend_parse(const char *v, struct cfg_backend *b, char *why, size_t wlen)
{
	char addr[CFG_STR_MAX];
	const char *tok;
	bool has_weight = false;
	size_t len;
	int ret;

	memset(b, 0, sizeof(*b));
	b->weight = 1;
	len = next_token(&v, &tok);
	if (len == 0 || len >= sizeof(addr)) {
		snprintf(why, wlen, "expected ADDR [weight=N] [drain]");
		return -EINVAL;
	}
	memcpy(addr, tok, len);
	addr[len] = '\0';
	ret = addr_parse(addr, &b->addr);
	if (ret) {
		addr_why(ret, addr, why, wlen);
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	if (addr_is_any(&b->addr)) {
		snprintf(why, wlen, "a backend needs a specific address, not a wildcard");
		return -EINVAL;
	}
	while ((len = next_token(&v, &tok))) {
		uint64_t w;

		if (len > 7 && !memcmp(tok, "weight=", 7) && !has_weight) {
			char num[24];

			if (len - 7 >= sizeof(num))
				goto err_weight;
			memcpy(num, tok + 7, len - 7);
			num[len - 7] = '\0';
			if (parse_u64(num, &w) || w < 1 || w > BAL_MAX_WEIGHT)
				goto err_weight;
			b->weight = (uint32_t)w;
			has_weight = true;
		} else if (token_is(tok, len, "drain") && !b->drain) {
			b->drain = true;
		} else {
			snprintf(why, wlen, "unexpected '%.*s' (expected ADDR [weight=N] [drain])",
				 (int)len, tok);
			return -EINVAL;
		}
	}
	return 0;

err_weight:
	snprintf(why, wlen, "weight out of range (1..%u)", BAL_MAX_WEIGHT);
	return -EINVAL;
}

/* A route's host: a name or a bracketed IPv6 literal, no port. */
static bool route_host_ok(const char *h, size_t len)
{
	if (len == 0 || len >= CFG_STR_MAX)
		return false;
	if (h[0] == '[') {
		if (len < 3 || h[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++)
			if (!is_alnum(h[i]) && h[i] != ':' && h[i] != '.')
				return false;
		return true;
	}
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
			return false;
	return true;
}

/* A path: what may follow the method in a request line. */
static bool path_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max || s[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static int route_parse(const char *v, struct cfg_route *r, char *pool, char *why, size_t wlen)
{
	const char *tok, *host = NULL, *path = NULL, *name = NULL;
	size_t len, hlen = 0, plen = 0, nlen = 0, canon;

	memset(r, 0, sizeof(*r));
	while ((len = next_token(&v, &tok))) {
		if (len > 5 && !memcmp(tok, "host=", 5) && !host) {
			host = tok + 5;
			hlen = len - 5;
		} else if (len > 5 && !memcmp(tok, "path=", 5) && !path) {
			path = tok + 5;
			plen = len - 5;
		} else if (len > 5 && !memcmp(tok, "pool=", 5) && !name) {
			name = tok + 5;
			nlen = len - 5;
		} else {
			snprintf(
				why, wlen,
				"unexpected '%.*s' (expected [host=NAME] [path=/PREFIX] pool=NAME, each once)",
				(int)(len > 40 ? 40 : len), tok);
			return -EINVAL;
		}
	}
	if (!name) {
		snprintf(why, wlen, "missing pool=NAME");
		return -EINVAL;
	}
	if (!name_ok(name, nlen)) {
		snprintf(why, wlen, "bad pool name (letters, digits, '_', '-' and '.', at most %u)",
			 NAME_LEN_MAX);
		return -EINVAL;
	}
	if (host && !route_host_ok(host, hlen)) {
		snprintf(why, wlen, "bad host (a name or [IPV6], without port)");
		return -EINVAL;
	}
	if (path && !path_ok(path, plen, CFG_STR_MAX - 1)) {
		snprintf(why, wlen,
			 "bad path (must start with '/', no blanks or control characters)");
		return -EINVAL;
	}
	/* "route = host=H path=P pool=N", as cfg_dump() writes it. */
	canon = strlen("route = pool=") + nlen + (host ? hlen + 6 : 0) + (path ? plen + 6 : 0);
	if (canon > LINE_MAX_CHARS) {
		snprintf(why, wlen, "too long (a route line is at most %u characters)",
			 LINE_MAX_CHARS);
		return -EINVAL;
	}
	for (size_t i = 0; i < hlen; i++)
		r->host[i] = to_lower(host[i]);
	if (path)
		memcpy(r->prefix, path, plen);
	memcpy(pool, name, nlen);
	pool[nlen] = '\0';
	r->pool = SIZE_MAX;
	return 0;
}

static int hash_parse(const char *v, struct cfg_pool *pl, char *why, size_t wlen)
{
	const char *name = NULL;
	enum cfg_hash h = CFG_HASH_CLIENT_IP;
	size_t len;

	if (!strcmp(v, "client_ip")) {
		pl->hash = CFG_HASH_CLIENT_IP;
		pl->hash_name[0] = '\0';
		return 0;
	}
	if (!strncmp(v, "header:", 7)) {
		h = CFG_HASH_HEADER;
		name = v + 7;
	} else if (!strncmp(v, "cookie:", 7)) {
		h = CFG_HASH_COOKIE;
		name = v + 7;
	}
	len = name ? strlen(name) : 0;
	if (!name || len == 0 || len >= CFG_NAME_MAX)
		goto err_syntax;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar(name[i]))
			goto err_syntax;
	pl->hash = h;
	memcpy(pl->hash_name, name, len + 1);
	return 0;

err_syntax:
	snprintf(
		why, wlen,
		"expected client_ip, header:NAME or cookie:NAME (NAME a token of at most %u characters)",
		NAME_LEN_MAX);
	return -EINVAL;
}

static int mode_parse(const char *v, enum cfg_mode *out)
{
	if (!strcmp(v, "proxy"))
		*out = CFG_MODE_PROXY;
	else if (!strcmp(v, "splice"))
		*out = CFG_MODE_SPLICE;
	else
		return -EINVAL;
	return 0;
}

static const char *mode_name(enum cfg_mode m)
{
	return m == CFG_MODE_SPLICE ? "splice" : "proxy";
}

static int bool_parse(const char *v, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---------------------------------------------------------------------- */
/* Defaults and freeing                                                   */

static void cfg_defaults(struct cfg *c)
{
	c->workers = 0;
	c->timeout_header_ms = 10 * 1000;
	c->timeout_idle_ms = 60 * 1000;
	c->timeout_connect_ms = 3 * 1000;
	c->timeout_server_ms = 30 * 1000;
	c->drain_timeout_ms = 30 * 1000;
	c->max_header = 16 * KIB;
	c->graph_memory = 16 * KIB * KIB;
	/* Below the kernel's ephemeral range (32768-60999), so connect() never takes one. */
	c->splice_port_min = 20000;
	c->splice_port_max = 32767;
	c->splice_max_conns = 65536;
	c->splice_linger_ms = 3 * 1000;
	c->splice_syncookies = true;
}

static void listener_defaults(struct cfg_listener *l, const char *name, size_t len)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->name, name, len);
	l->mode = CFG_MODE_PROXY;
	l->pool = SIZE_MAX;
	l->xff = true;
}

static void pool_defaults(struct cfg_pool *pl, const char *name, size_t len)
{
	memset(pl, 0, sizeof(*pl));
	memcpy(pl->name, name, len);
	pl->balance = BAL_ROUNDROBIN;
	pl->hash = CFG_HASH_CLIENT_IP;
	pl->health_interval_ms = 2 * 1000;
	pl->health_timeout_ms = 1000;
	pl->health_rise = 2;
	pl->health_fall = 3;
	pl->max_fails = 3;
	pl->fail_window_ms = 10 * 1000;
	pl->keepalive = 256;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nlisteners; i++)
		free(c->listeners[i].routes);
	for (size_t i = 0; i < c->npools; i++)
		free(c->pools[i].backends);
	free(c->listeners);
	free(c->pools);
	free(c);
}

static struct cfg *cfg_new(void)
{
	struct cfg *c = calloc(1, sizeof(*c));

	if (c)
		cfg_defaults(c);
	return c;
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */

static void fail(struct parse *p, int err, unsigned line, const char *fmt, ...) ATTR_PRINTF(4, 5);

/*
 * Records an error unless a more useful one is already there: parsing stops
 * at its first error, and validation keeps the one with the smallest line
 * (line 0, a whole-file problem, only when nothing has a line).
 */
static void fail(struct parse *p, int err, unsigned line, const char *fmt, ...)
{
	va_list ap;

	p->stop = true;
	if (p->err && !(line && (!p->err_line || line < p->err_line)))
		return;
	p->err = err;
	p->err_line = line;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* Sections                                                               */

static struct cfg_listener *add_listener(struct parse *p, const char *name, size_t len)
{
	struct cfg *c = p->c;

	if (c->nlisteners >= MAX_LISTENERS) {
		fail(p, -EINVAL, p->line, "too many listeners (at most %u)", MAX_LISTENERS);
		return NULL;
	}
	if (vec_reserve((void **)&c->listeners, &p->listeners_cap, c->nlisteners + 1,
			sizeof(*c->listeners), 4) ||
	    vec_reserve((void **)&p->lmeta, &p->lmeta_cap, c->nlisteners + 1, sizeof(*p->lmeta),
			4)) {
		fail(p, -ENOMEM, p->line, "out of memory");
		return NULL;
	}
	memset(&p->lmeta[c->nlisteners], 0, sizeof(*p->lmeta));
	p->lmeta[c->nlisteners].line = p->line;
	listener_defaults(&c->listeners[c->nlisteners], name, len);
	return &c->listeners[c->nlisteners++];
}

static struct cfg_pool *add_pool(struct parse *p, const char *name, size_t len)
{
	struct cfg *c = p->c;

	if (c->npools >= MAX_POOLS) {
		fail(p, -EINVAL, p->line, "too many pools (at most %u)", MAX_POOLS);
		return NULL;
	}
	if (vec_reserve((void **)&c->pools, &p->pools_cap, c->npools + 1, sizeof(*c->pools), 4) ||
	    vec_reserve((void **)&p->pmeta, &p->pmeta_cap, c->npools + 1, sizeof(*p->pmeta), 4)) {
		fail(p, -ENOMEM, p->line, "out of memory");
		return NULL;
	}
	memset(&p->pmeta[c->npools], 0, sizeof(*p->pmeta));
	p->pmeta[c->npools].line = p->line;
	pool_defaults(&c->pools[c->npools], name, len);
	return &c->pools[c->npools++];
}

/* Opens the section named by [s, end) (the text between the brackets). */
static void section_start(struct parse *p, const char *s, const char *end)
{
	const char *type, *name;
	size_t tlen, nlen;
	bool is_listener;

	p->sec = SEC_NONE;
	memset(p->seen, 0, sizeof(p->seen));
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	type = s;
	while (s < end && !is_blank(*s))
		s++;
	tlen = (size_t)(s - type);
	while (s < end && is_blank(*s))
		s++;
	name = s;
	nlen = (size_t)(end - s);

	if (token_is(type, tlen, "global")) {
		if (nlen) {
			fail(p, -EINVAL, p->line, "section [global] takes no name");
			return;
		}
		if (p->global_line) {
			fail(p, -EINVAL, p->line, "duplicate section [global] (first on line %u)",
			     p->global_line);
			return;
		}
		p->global_line = p->line;
		p->sec = SEC_GLOBAL;
		snprintf(p->sec_label, sizeof(p->sec_label), "[global]");
		return;
	}
	if (!token_is(type, tlen, "listener") && !token_is(type, tlen, "pool")) {
		fail(p, -EINVAL, p->line,
		     "unknown section [%.*s] (expected [global], [listener NAME] or [pool NAME])",
		     (int)((size_t)(end - type) > 64 ? 64 : (size_t)(end - type)), type);
		return;
	}
	is_listener = type[0] == 'l';
	if (!nlen) {
		fail(p, -EINVAL, p->line, "section [%.*s] needs a name ([%.*s NAME])", (int)tlen,
		     type, (int)tlen, type);
		return;
	}
	if (!name_ok(name, nlen)) {
		fail(p, -EINVAL, p->line,
		     "bad %.*s name '%.*s' (letters, digits, '_', '-' and '.', at most %u)",
		     (int)tlen, type, (int)(nlen > 64 ? 64 : nlen), name, NAME_LEN_MAX);
		return;
	}
	if (is_listener) {
		for (size_t i = 0; i < p->c->nlisteners; i++) {
			if (token_is(name, nlen, p->c->listeners[i].name)) {
				fail(p, -EINVAL, p->line,
				     "duplicate section [listener %.*s] (first on line %u)",
				     (int)nlen, name, p->lmeta[i].line);
				return;
			}
		}
		if (!add_listener(p, name, nlen))
			return;
		p->sec = SEC_LISTENER;
		p->sec_idx = p->c->nlisteners - 1;
	} else {
		for (size_t i = 0; i < p->c->npools; i++) {
			if (token_is(name, nlen, p->c->pools[i].name)) {
				fail(p, -EINVAL, p->line,
				     "duplicate section [pool %.*s] (first on line %u)", (int)nlen,
				     name, p->pmeta[i].line);
				return;
			}
		}
		if (!add_pool(p, name, nlen))
			return;
		p->sec = SEC_POOL;
		p->sec_idx = p->c->npools - 1;
	}
	snprintf(p->sec_label, sizeof(p->sec_label), "[%.*s %.*s]", (int)tlen, type, (int)nlen,
		 name);
}

/* ---------------------------------------------------------------------- */
/* Keys                                                                   */

static int add_ref(struct parse *p, size_t route, const char *name)
{
	struct pool_ref *r;

	if (vec_reserve((void **)&p->refs, &p->refs_cap, p->nrefs + 1, sizeof(*p->refs), 8))
		return -ENOMEM;
	r = &p->refs[p->nrefs++];
	r->listener = p->sec_idx;
	r->route = route;
	r->line = p->line;
	snprintf(r->name, sizeof(r->name), "%s", name);
	return 0;
}

static int set_route(struct parse *p, struct cfg_listener *l, const char *v, char *why, size_t wlen)
{
	struct lmeta *m = &p->lmeta[p->sec_idx];
	char pool[CFG_NAME_MAX];
	struct cfg_route r;
	int ret;

	ret = route_parse(v, &r, pool, why, wlen);
	if (ret)
		return ret;
	if (l->nroutes >= MAX_ROUTES) {
		snprintf(why, wlen, "too many routes (at most %u)", MAX_ROUTES);
		return -EINVAL;
	}
	if (vec_reserve((void **)&l->routes, &m->routes_cap, l->nroutes + 1, sizeof(*l->routes), 4))
		return -ENOMEM;
	ret = add_ref(p, l->nroutes, pool);
	if (ret)
		return ret;
	l->routes[l->nroutes++] = r;
	return 0;
}

static int set_backend(struct parse *p, struct cfg_pool *pl, const char *v, char *why, size_t wlen)
{
	struct pmeta *m = &p->pmeta[p->sec_idx];
	struct cfg_backend b;
	int ret;

	ret = backend_parse(v, &b, why, wlen);
	if (ret)
		return ret;
	for (size_t i = 0; i < pl->nbackends; i++) {
		if (!strcmp(pl->backends[i].addr.text, b.addr.text)) {
			snprintf(why, wlen, "duplicate backend %s in [pool %s]", b.addr.text,
				 pl->name);
			return -EINVAL;
		}
	}
	if (pl->nbackends >= BAL_MAX_BACKENDS) {
		snprintf(why, wlen, "too many backends (at most %u)", BAL_MAX_BACKENDS);
		return -EINVAL;
	}
	if (vec_reserve((void **)&pl->backends, &m->backends_cap, pl->nbackends + 1,
			sizeof(*pl->backends), 4))
		return -ENOMEM;
	pl->backends[pl->nbackends++] = b;
	return 0;
}

static void why_range(const struct key_def *k, char *why, size_t wlen)
{
	char lo[32], hi[32];

	switch (k->kind) {
	case K_MS:
		fmt_ms(lo, sizeof(lo), k->min);
		fmt_ms(hi, sizeof(hi), k->max);
		break;
	case K_SIZE32:
	case K_SIZE64:
		fmt_size(lo, sizeof(lo), k->min);
		fmt_size(hi, sizeof(hi), k->max);
		break;
	default:
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
		break;
	}
	snprintf(why, wlen, "out of range (%s%s..%s)", k->kind == K_SIZE64 ? "0 or " : "", lo, hi);
}

/* The numeric kinds: parse, range-check, store at base + k->off. */
static int set_number(const struct key_def *k, void *base, const char *v, char *why, size_t wlen)
{
	char *field = (char *)base + k->off;
	uint64_t x = 0;
	uint32_t ms;
	bool b;

	switch (k->kind) {
	case K_U32:
		if (parse_u64(v, &x)) {
			snprintf(why, wlen, "expected a whole number");
			return -EINVAL;
		}
		break;
	case K_MS:
		if (cfg_parse_duration_ms(v, &ms)) {
			snprintf(why, wlen, "expected a duration such as 250ms, 10s, 2m or 1h");
			return -EINVAL;
		}
		x = ms;
		break;
	case K_SIZE32:
	case K_SIZE64:
		if (cfg_parse_size(v, &x)) {
			snprintf(why, wlen, "expected a size such as 512, 16k, 1M or 2G");
			return -EINVAL;
		}
		break;
	case K_BOOL:
		if (bool_parse(v, &b)) {
			snprintf(why, wlen, "expected on or off");
			return -EINVAL;
		}
		memcpy(field, &b, sizeof(b));
		return 0;
	default:
		return -EINVAL;
	}
	if ((x < k->min || x > k->max) && !(k->kind == K_SIZE64 && x == 0)) {
		why_range(k, why, wlen);
		return -EINVAL;
	}
	if (k->kind == K_SIZE64) {
		memcpy(field, &x, sizeof(x));
	} else {
		uint32_t x32 = (uint32_t)x;

		memcpy(field, &x32, sizeof(x32));
	}
	return 0;
}

static int set_string(const char *v, char *dst, const char *key, char *why, size_t wlen)
{
	/* Room for "key = value" in one line, so cfg_dump() output loads again. */
	size_t max = LINE_MAX_CHARS - strlen(key) - 3, len = strlen(v);

	if (len > max) {
		snprintf(why, wlen, "too long (at most %zu characters)", max);
		return -EINVAL;
	}
	memcpy(dst, v, len + 1);
	return 0;
}

static int set_addr_why(int ret, const char *v, char *why, size_t wlen)
{
	addr_why(ret, v, why, wlen);
	return ret == -ENOMEM ? ret : -EINVAL;
}

static int set_global_key(struct parse *p, const struct key_def *k, const char *v, char *why,
			  size_t wlen)
{
	struct cfg *c = p->c;
	int ret;

	switch (k->kind) {
	case K_ADMIN:
		ret = addr_parse(v, &c->admin);
		if (ret)
			return set_addr_why(ret, v, why, wlen);
		c->has_admin = true;
		p->admin_line = p->line;
		return 0;
	case K_LOG:
		return set_string(v, c->access_log, k->name, why, wlen);
	case K_IFACES:
		return set_string(v, c->splice_interfaces, k->name, why, wlen);
	default:
		return set_number(k, c, v, why, wlen);
	}
}

static int set_listener_key(struct parse *p, const struct key_def *k, const char *v, char *why,
			    size_t wlen)
{
	struct cfg_listener *l = &p->c->listeners[p->sec_idx];
	int ret;

	switch (k->kind) {
	case K_LISTEN:
		ret = addr_parse(v, &l->addr);
		if (ret)
			return set_addr_why(ret, v, why, wlen);
		p->lmeta[p->sec_idx].listen_line = p->line;
		return 0;
	case K_MODE:
		if (mode_parse(v, &l->mode)) {
			snprintf(why, wlen, "expected proxy or splice");
			return -EINVAL;
		}
		return 0;
	case K_POOL:
		if (!name_ok(v, strlen(v))) {
			snprintf(why, wlen,
				 "bad pool name (letters, digits, '_', '-' and '.', at most %u)",
				 NAME_LEN_MAX);
			return -EINVAL;
		}
		p->lmeta[p->sec_idx].pool_line = p->line;
		return add_ref(p, SIZE_MAX, v);
	case K_ROUTE:
		return set_route(p, l, v, why, wlen);
	default:
		return set_number(k, l, v, why, wlen);
	}
}

static int set_pool_key(struct parse *p, const struct key_def *k, const char *v, char *why,
			size_t wlen)
{
	struct cfg_pool *pl = &p->c->pools[p->sec_idx];
	size_t max = LINE_MAX_CHARS - strlen(k->name) - 3;

	switch (k->kind) {
	case K_HPATH:
		if (!path_ok(v, strlen(v), max)) {
			snprintf(
				why, wlen,
				"expected /PATH (no blanks or control characters, at most %zu characters)",
				max);
			return -EINVAL;
		}
		return set_string(v, pl->health_path, k->name, why, wlen);
	case K_BALANCE:
		if (bal_algo_parse(v, &pl->balance)) {
			snprintf(why, wlen, "expected roundrobin, leastconn or maglev");
			return -EINVAL;
		}
		return 0;
	case K_HASH:
		return hash_parse(v, pl, why, wlen);
	case K_BACKEND:
		return set_backend(p, pl, v, why, wlen);
	default:
		return set_number(k, pl, v, why, wlen);
	}
}

static int set_key(struct parse *p, const struct key_def *k, const char *v, char *why, size_t wlen)
{
	switch (p->sec) {
	case SEC_GLOBAL:
		return set_global_key(p, k, v, why, wlen);
	case SEC_LISTENER:
		return set_listener_key(p, k, v, why, wlen);
	case SEC_POOL:
		return set_pool_key(p, k, v, why, wlen);
	case SEC_NONE:
		break;
	}
	return -EINVAL;
}

static const struct key_def *section_keys(enum sec_kind sec, size_t *n)
{
	switch (sec) {
	case SEC_GLOBAL:
		*n = ARRAY_SIZE(global_keys);
		return global_keys;
	case SEC_LISTENER:
		*n = ARRAY_SIZE(listener_keys);
		return listener_keys;
	case SEC_POOL:
		*n = ARRAY_SIZE(pool_keys);
		return pool_keys;
	case SEC_NONE:
		break;
	}
	*n = 0;
	return NULL;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const struct key_def *keys;
	char why[WHY_MAX];
	size_t n, i;
	int ret;

	(void)section; /* ours is in p->sec: see section_start() */
	if (p->stop)
		return 0;
	if (p->sec == SEC_NONE) {
		fail(p, -EINVAL, p->line,
		     "'%s' outside any section (start with [global], [listener NAME] or [pool NAME])",
		     name);
		return 0;
	}
	if (!name[0]) {
		fail(p, -EINVAL, p->line, "missing key before '=' in %s", p->sec_label);
		return 0;
	}
	keys = section_keys(p->sec, &n);
	for (i = 0; i < n && strcmp(keys[i].name, name) != 0; i++)
		;
	if (i == n) {
		fail(p, -EINVAL, p->line, "unknown key '%s' in %s", name, p->sec_label);
		return 0;
	}
	if (p->seen[i] && !keys[i].repeat) {
		fail(p, -EINVAL, p->line, "duplicate key '%s' in %s (first on line %u)", name,
		     p->sec_label, p->seen[i]);
		return 0;
	}
	if (!p->seen[i])
		p->seen[i] = p->line;
	why[0] = '\0';
	ret = set_key(p, &keys[i], value, why, sizeof(why));
	if (ret == -ENOMEM)
		fail(p, ret, p->line, "out of memory");
	else if (ret)
		fail(p, ret, p->line, "%s '%s': %s", name, value, why);
	return ret == 0;
}

/*
 * fgets() for inih over p->pos, one line per call (see the essay at the top:
 * comments, indentation, line length, sections). NULL is end of input, which
 * is also how an error stops inih.
 */
static char *ini_reader_fn(char *buf, int num, void *stream)
{
	struct parse *p = stream;
	const char *s = p->pos, *end, *eol, *delim;
	size_t len, limit;

	if (p->stop || !*s)
		return NULL;
	eol = strchr(s, '\n');
	end = eol ? eol : s + strlen(s);
	p->pos = eol ? eol + 1 : end;
	p->line++;
	if (p->line == 1 && end - s >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		s += 3; /* a UTF-8 byte order mark */
	if (end > s && end[-1] == '\r')
		end--;
	for (const char *q = s; q < end; q++) {
		unsigned char ch = (unsigned char)*q;

		if ((ch < ' ' && ch != '\t') || ch == 0x7f) {
			fail(p, -EINVAL, p->line, "control character 0x%02x (only tab is allowed)",
			     ch);
			return NULL;
		}
	}
	while (s < end && is_blank(*s))
		s++;
	/* inih splits at the first '=' or ':': after either, '#' starts a comment. */
	delim = s;
	while (delim < end && *delim != '=' && *delim != ':')
		delim++;
	for (const char *q = s; q < end; q++) {
		if ((*q == '#' || *q == ';') &&
		    (q == s || is_blank(q[-1]) || q[-1] == '=' || q - 1 == delim)) {
			end = q;
			break;
		}
	}
	while (end > s && is_blank(end[-1]))
		end--;
	len = (size_t)(end - s);
	limit = num > 2 ? (size_t)num - 2 : 0;
	if (limit > LINE_MAX_CHARS)
		limit = LINE_MAX_CHARS;
	if (len > limit) {
		fail(p, -EINVAL, p->line, "line too long (at most %zu characters, comments aside)",
		     limit);
		return NULL;
	}
	if (len && *s == '[') {
		if (end[-1] != ']') {
			fail(p, -EINVAL, p->line,
			     "bad section header (expected [global], [listener NAME] or [pool NAME])");
			return NULL;
		}
		section_start(p, s + 1, end - 1);
		if (p->stop)
			return NULL;
	}
	memcpy(buf, s, len);
	buf[len] = '\n';
	buf[len + 1] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------- */
/* Validation                                                             */

static size_t find_pool(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->npools; i++)
		if (!strcmp(c->pools[i].name, name))
			return i;
	return SIZE_MAX;
}

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/*
 * The fast path rewrites packets in place, so it cannot translate between
 * families: a splice listener's pools hold backends of the listener's own
 * family. (Its IPv6 socket is IPV6_V6ONLY, so IPv4 clients never arrive on
 * it as v4-mapped addresses.) Link-local backends are refused too: their
 * address means nothing without an interface, which a flow entry and the
 * replay's route look-up do not carry.
 */
enum splice_fit {
	SPLICE_FITS = 0,
	SPLICE_FAMILY,	   /* not the listener's address family */
	SPLICE_LINK_LOCAL, /* an IPv6 link-local backend */
};

static enum splice_fit splice_fit(int family, const struct cfg_backend *be)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&be->addr.ss;

	if (be->addr.ss.ss_family != family)
		return SPLICE_FAMILY;
	if (family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr))
		return SPLICE_LINK_LOCAL;
	return SPLICE_FITS;
}

/*
 * splice_oneshot_agent: the fast path balances one-shot requests itself,
 * round robin over one pool, without seeing Host or path; so it takes a
 * configuration only where that is what the proxy would do too.
 */
static void validate_oneshot(struct parse *p)
{
	const struct cfg *c = p->c;
	const struct cfg_listener *l = NULL;
	size_t i, n = 0;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].mode == CFG_MODE_SPLICE) {
			l = &c->listeners[i];
			n++;
		}
	if (n != 1) {
		fail(p, -EINVAL, 0,
		     "splice_oneshot_agent needs exactly one splice listener (%zu here)", n);
		return;
	}
	if (l->addr.ss.ss_family != AF_INET)
		fail(p, -EINVAL, 0, "splice_oneshot_agent: listener '%s' is not IPv4", l->name);
	else if (l->nroutes)
		fail(p, -EINVAL, 0,
		     "splice_oneshot_agent: listener '%s' has routes (the fast path sees neither "
		     "Host nor path)",
		     l->name);
	else if (c->pools[l->pool].balance != BAL_ROUNDROBIN)
		fail(p, -EINVAL, 0,
		     "splice_oneshot_agent: pool '%s' must balance roundrobin (the fast path's own "
		     "policy)",
		     c->pools[l->pool].name);
	else if (!c->splice_syncookies)
		fail(p, -EINVAL, 0, "splice_oneshot_agent needs splice_syncookies = on");
	else if (c->splice_port_min <= LC_OS_PORT0 + LC_OS_SLOTS - 1 &&
		 c->splice_port_max >= LC_OS_PORT0)
		fail(p, -EINVAL, 0,
		     "splice_port_min..max (%u-%u) overlaps the one-shot connections' ports "
		     "(%u-%u)",
		     c->splice_port_min, c->splice_port_max, LC_OS_PORT0,
		     LC_OS_PORT0 + LC_OS_SLOTS - 1);
}

static void validate_splice(struct parse *p, size_t i)
{
	const struct cfg *c = p->c;
	const struct cfg_listener *l = &c->listeners[i];
	int family = l->addr.ss.ss_family;
	size_t r;

	if (l->mode != CFG_MODE_SPLICE || !p->lmeta[i].listen_line)
		return;
	for (r = 0; r <= l->nroutes; r++) {
		size_t pi = r < l->nroutes ? l->routes[r].pool : l->pool;

		if (pi >= c->npools)
			continue;
		for (size_t b = 0; b < c->pools[pi].nbackends; b++) {
			const struct cfg_backend *be = &c->pools[pi].backends[b];
			enum splice_fit fit = splice_fit(family, be);

			if (fit == SPLICE_FAMILY) {
				fail(p, -EINVAL, p->pmeta[pi].line,
				     "pool '%s': backend %s is %s, but splice listener '%s' (%s) "
				     "uses the pool (a splice cannot cross address families)",
				     c->pools[pi].name, be->addr.text,
				     family_name(be->addr.ss.ss_family), l->name, l->addr.text);
				return;
			}
			if (fit == SPLICE_LINK_LOCAL) {
				fail(p, -EINVAL, p->pmeta[pi].line,
				     "pool '%s': backend %s is link-local, which splice listener "
				     "'%s' cannot reach (splice needs a global or unique-local "
				     "address)",
				     c->pools[pi].name, be->addr.text, l->name);
				return;
			}
		}
	}
}

static void validate(struct parse *p)
{
	struct cfg *c = p->c;

	if (!c->nlisteners)
		fail(p, -EINVAL, 0, "no listener defined (add a [listener NAME] section)");
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct lmeta *m = &p->lmeta[i];

		if (!m->listen_line)
			fail(p, -EINVAL, m->line,
			     "listener '%s' has no listen address (listen = HOST:PORT)",
			     c->listeners[i].name);
		if (!m->pool_line)
			fail(p, -EINVAL, m->line, "listener '%s' has no pool (pool = NAME)",
			     c->listeners[i].name);
	}
	for (size_t i = 0; i < p->nrefs; i++) {
		const struct pool_ref *r = &p->refs[i];
		struct cfg_listener *l = &c->listeners[r->listener];
		size_t idx = find_pool(c, r->name);

		if (idx == SIZE_MAX && r->route == SIZE_MAX)
			fail(p, -EINVAL, r->line, "listener '%s': pool '%s' is not defined",
			     l->name, r->name);
		else if (idx == SIZE_MAX)
			fail(p, -EINVAL, r->line,
			     "listener '%s': route to pool '%s', which is not defined", l->name,
			     r->name);
		else if (r->route == SIZE_MAX)
			l->pool = idx;
		else
			l->routes[r->route].pool = idx;
	}
	for (size_t i = 0; i < c->npools; i++)
		if (!c->pools[i].nbackends)
			fail(p, -EINVAL, p->pmeta[i].line,
			     "pool '%s' has no backends (backend = HOST:PORT)", c->pools[i].name);
	for (size_t j = 0; j < c->nlisteners; j++) {
		const struct cfg_listener *lj = &c->listeners[j];

		if (!p->lmeta[j].listen_line)
			continue;
		for (size_t i = 0; i < j; i++) {
			if (p->lmeta[i].listen_line &&
			    !strcmp(c->listeners[i].addr.text, lj->addr.text))
				fail(p, -EINVAL, p->lmeta[j].listen_line,
				     "listeners '%s' and '%s' both listen on %s",
				     c->listeners[i].name, lj->name, lj->addr.text);
		}
		if (c->has_admin && !strcmp(c->admin.text, lj->addr.text))
			fail(p, -EINVAL, p->admin_line,
			     "admin address %s is also the address of listener '%s'", c->admin.text,
			     lj->name);
	}
	if (c->splice_port_min > c->splice_port_max)
		fail(p, -EINVAL, 0, "splice_port_min %u is above splice_port_max %u",
		     c->splice_port_min, c->splice_port_max);
	for (size_t i = 0; i < c->nlisteners; i++)
		validate_splice(p, i);
	if (c->splice_oneshot_agent)
		validate_oneshot(p);
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                */

int cfg_load_string(const char *text, const char *name, struct cfg **out, char *err, size_t errlen)
{
	struct parse p;
	int r, ret;

	errbuf_set(err, errlen, "%s", "");
	if (!name)
		name = "config";
	if (out)
		*out = NULL;
	if (!out || !text) {
		errbuf_set(err, errlen, "%s: no input", name);
		return -EINVAL;
	}
	memset(&p, 0, sizeof(p));
	p.file = name;
	p.pos = text;
	p.c = cfg_new();
	if (!p.c) {
		errbuf_set(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	r = ini_parse_stream(ini_reader_fn, &p, ini_handler_fn, &p);
	if (r < 0 && !p.err) {
		fail(&p, -ENOMEM, 0, "out of memory");
	} else if (r > 0 && (!p.err || (unsigned)r < p.err_line)) {
		/* A line inih rejected before any of ours: no handler saw it. */
		p.err = -EINVAL;
		p.err_line = (unsigned)r;
		snprintf(p.msg, sizeof(p.msg),
			 "syntax error (expected 'key = value' or '[section]')");
	}
	if (!p.err)
		validate(&p);
	ret = p.err;
	if (ret) {
		if (p.err_line)
			errbuf_set(err, errlen, "%s:%u: %s", name, p.err_line, p.msg);
		else
			errbuf_set(err, errlen, "%s: %s", name, p.msg);
		cfg_free(p.c);
	} else {
		*out = p.c;
	}
	free(p.lmeta);
	free(p.pmeta);
	free(p.refs);
	return ret;
}

/* -errno after a failed call, never 0 (so callers need not trust errno's value). */
static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* The whole file, NUL-terminated, in *out; at most FILE_MAX bytes. */
static int read_file(const char *path, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf;
	int fd, ret;

	*out = NULL;
	*len = 0;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		ret = neg_errno();
		goto err_free;
	}
	for (;;) {
		ssize_t got;

		if (n + 1 == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				ret = -ENOMEM;
				goto err_close;
			}
			buf = nb;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - n - 1);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			ret = neg_errno();
			goto err_close;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > FILE_MAX) {
			ret = -EFBIG;
			goto err_close;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;

err_close:
	close(fd);
err_free:
	free(buf);
	return ret;
}

int cfg_load_file(const char *path, struct cfg **out, char *err, size_t errlen)
{
	char *text = NULL;
	const char *nul;
	size_t len = 0;
	int ret;

	if (out)
		*out = NULL;
	if (!path || !out) {
		errbuf_set(err, errlen, "no configuration file given");
		return -EINVAL;
	}
	ret = read_file(path, &text, &len);
	if (ret == -EFBIG) {
		errbuf_set(err, errlen, "%s: too large (at most %u bytes)", path, FILE_MAX);
		return ret;
	}
	if (ret || !text) {
		char buf[128];

		errbuf_set(err, errlen, "%s: cannot read: %s", path,
			   strerror_r(-ret, buf, sizeof(buf)));
		return ret ? ret : -EIO;
	}
	nul = memchr(text, '\0', len);
	if (nul) {
		unsigned line = 1;

		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		errbuf_set(err, errlen, "%s:%u: NUL byte (not a text file?)", path, line);
		free(text);
		return -EINVAL;
	}
	ret = cfg_load_string(text, path, out, err, errlen);
	free(text);
	return ret;
}

/*
 * The quick form's backend i (parsed from arg) against the ones before it,
 * and against the listener as the file's validate_splice() would check it,
 * naming options instead of lines. 0 or -EINVAL with err set.
 */
static int quick_backend_fits(const struct cfg_listener *l, const struct cfg_pool *pl, size_t i,
			      const char *arg, char *err, size_t errlen)
{
	const struct cfg_backend *b = &pl->backends[i];
	enum splice_fit fit =
		l->mode == CFG_MODE_SPLICE ? splice_fit(l->addr.ss.ss_family, b) : SPLICE_FITS;

	for (size_t j = 0; j < i; j++) {
		if (!strcmp(pl->backends[j].addr.text, b->addr.text)) {
			errbuf_set(err, errlen, "--backend '%s': duplicate backend %s", arg,
				   b->addr.text);
			return -EINVAL;
		}
	}
	if (fit == SPLICE_FAMILY)
		errbuf_set(err, errlen,
			   "--backend '%s': %s, but --listen %s is %s (a splice cannot cross "
			   "address families)",
			   arg, family_name(b->addr.ss.ss_family), l->addr.text,
			   family_name(l->addr.ss.ss_family));
	else if (fit == SPLICE_LINK_LOCAL)
		errbuf_set(err, errlen,
			   "--backend '%s': link-local, which splice mode cannot reach (it needs a "
			   "global or unique-local address)",
			   arg);
	return fit == SPLICE_FITS ? 0 : -EINVAL;
}

int cfg_quick(const char *listen, const char *const *backends, size_t nbackends, const char *mode,
	      const char *balance, const char *admin, struct cfg **out, char *err, size_t errlen)
{
	struct cfg_listener *l;
	struct cfg_pool *pl;
	struct cfg *c;
	char why[WHY_MAX];
	int ret = -EINVAL;

	errbuf_set(err, errlen, "%s", "");
	if (!out)
		return -EINVAL;
	*out = NULL;
	c = cfg_new();
	if (!c)
		goto err_nomem;
	c->listeners = calloc(1, sizeof(*c->listeners));
	c->pools = calloc(1, sizeof(*c->pools));
	if (!c->listeners || !c->pools)
		goto err_nomem;
	c->nlisteners = 1;
	c->npools = 1;
	l = &c->listeners[0];
	pl = &c->pools[0];
	listener_defaults(l, "main", 4);
	pool_defaults(pl, "main", 4);
	l->pool = 0;

	if (!listen) {
		errbuf_set(err, errlen, "--listen: missing (HOST:PORT)");
		goto err_free;
	}
	ret = addr_parse(listen, &l->addr);
	if (ret) {
		addr_why(ret, listen, why, sizeof(why));
		errbuf_set(err, errlen, "--listen '%s': %s", listen, why);
		goto err_free;
	}
	if (mode && mode_parse(mode, &l->mode)) {
		errbuf_set(err, errlen, "--mode '%s': expected proxy or splice", mode);
		ret = -EINVAL;
		goto err_free;
	}
	if (balance && bal_algo_parse(balance, &pl->balance)) {
		errbuf_set(err, errlen, "--balance '%s': expected roundrobin, leastconn or maglev",
			   balance);
		ret = -EINVAL;
		goto err_free;
	}
	if (admin) {
		ret = addr_parse(admin, &c->admin);
		if (ret) {
			addr_why(ret, admin, why, sizeof(why));
			errbuf_set(err, errlen, "--admin '%s': %s", admin, why);
			goto err_free;
		}
		c->has_admin = true;
		if (!strcmp(c->admin.text, l->addr.text)) {
			errbuf_set(err, errlen, "--admin '%s': same address as --listen", admin);
			ret = -EINVAL;
			goto err_free;
		}
	}
	ret = -EINVAL;
	if (nbackends == 0 || !backends) {
		errbuf_set(err, errlen, "no backends (give at least one --backend HOST:PORT)");
		goto err_free;
	}
	if (nbackends > BAL_MAX_BACKENDS) {
		errbuf_set(err, errlen, "too many backends (at most %u)", BAL_MAX_BACKENDS);
		goto err_free;
	}
	pl->backends = calloc(nbackends, sizeof(*pl->backends));
	if (!pl->backends)
		goto err_nomem;
	for (size_t i = 0; i < nbackends; i++) {
		struct cfg_backend *b = &pl->backends[i];

		if (!backends[i]) {
			errbuf_set(err, errlen, "--backend: missing (HOST:PORT)");
			ret = -EINVAL;
			goto err_free;
		}
		ret = backend_parse(backends[i], b, why, sizeof(why));
		if (ret) {
			errbuf_set(err, errlen, "--backend '%s': %s", backends[i], why);
			goto err_free;
		}
		pl->nbackends = i + 1;
		ret = quick_backend_fits(l, pl, i, backends[i], err, errlen);
		if (ret)
			goto err_free;
	}
	*out = c;
	return 0;

err_nomem:
	ret = -ENOMEM;
	errbuf_set(err, errlen, "out of memory");
err_free:
	cfg_free(c);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Printing                                                               */

static void dump_number(const struct key_def *k, const void *base, FILE *f)
{
	const char *field = (const char *)base + k->off;
	char buf[32];
	uint32_t x32;
	uint64_t x64;
	bool b;

	switch (k->kind) {
	case K_BOOL:
		memcpy(&b, field, sizeof(b));
		fprintf(f, "%s = %s\n", k->name, b ? "on" : "off");
		return;
	case K_SIZE64:
		memcpy(&x64, field, sizeof(x64));
		fmt_size(buf, sizeof(buf), x64);
		break;
	default:
		memcpy(&x32, field, sizeof(x32));
		if (k->kind == K_MS)
			fmt_ms(buf, sizeof(buf), x32);
		else if (k->kind == K_SIZE32)
			fmt_size(buf, sizeof(buf), x32);
		else
			snprintf(buf, sizeof(buf), "%u", x32);
		break;
	}
	fprintf(f, "%s = %s\n", k->name, buf);
}

static const char *pool_name(const struct cfg *c, size_t i)
{
	return i < c->npools ? c->pools[i].name : "?";
}

static void dump_route(const struct cfg *c, const struct cfg_route *r, FILE *f)
{
	fprintf(f, "route =");
	if (r->host[0])
		fprintf(f, " host=%s", r->host);
	if (r->prefix[0])
		fprintf(f, " path=%s", r->prefix);
	fprintf(f, " pool=%s\n", pool_name(c, r->pool));
}

static void dump_key(const struct cfg *c, const struct key_def *k, const void *base, FILE *f)
{
	const struct cfg_listener *l = base;
	const struct cfg_pool *pl = base;

	switch (k->kind) {
	case K_LISTEN:
		fprintf(f, "listen = %s\n", l->addr.text);
		break;
	case K_ADMIN:
		if (c->has_admin)
			fprintf(f, "admin = %s\n", c->admin.text);
		break;
	case K_LOG:
		if (c->access_log[0])
			fprintf(f, "access_log = %s\n", c->access_log);
		break;
	case K_IFACES:
		if (c->splice_interfaces[0])
			fprintf(f, "splice_interfaces = %s\n", c->splice_interfaces);
		break;
	case K_MODE:
		fprintf(f, "mode = %s\n", mode_name(l->mode));
		break;
	case K_POOL:
		fprintf(f, "pool = %s\n", pool_name(c, l->pool));
		break;
	case K_ROUTE:
		for (size_t i = 0; i < l->nroutes; i++)
			dump_route(c, &l->routes[i], f);
		break;
	case K_BALANCE:
		fprintf(f, "balance = %s\n", bal_algo_name(pl->balance));
		break;
	case K_HASH:
		if (pl->hash == CFG_HASH_HEADER)
			fprintf(f, "hash = header:%s\n", pl->hash_name);
		else if (pl->hash == CFG_HASH_COOKIE)
			fprintf(f, "hash = cookie:%s\n", pl->hash_name);
		else
			fprintf(f, "hash = client_ip\n");
		break;
	case K_BACKEND:
		for (size_t i = 0; i < pl->nbackends; i++)
			fprintf(f, "backend = %s weight=%u%s\n", pl->backends[i].addr.text,
				pl->backends[i].weight, pl->backends[i].drain ? " drain" : "");
		break;
	case K_HPATH:
		if (pl->health_path[0])
			fprintf(f, "health_path = %s\n", pl->health_path);
		break;
	default:
		dump_number(k, base, f);
		break;
	}
}

void cfg_dump(const struct cfg *c, FILE *f)
{
	if (!c || !f)
		return;
	fprintf(f, "[global]\n");
	for (size_t k = 0; k < ARRAY_SIZE(global_keys); k++)
		dump_key(c, &global_keys[k], c, f);
	for (size_t i = 0; i < c->nlisteners; i++) {
		fprintf(f, "\n[listener %s]\n", c->listeners[i].name);
		for (size_t k = 0; k < ARRAY_SIZE(listener_keys); k++)
			dump_key(c, &listener_keys[k], &c->listeners[i], f);
	}
	for (size_t i = 0; i < c->npools; i++) {
		fprintf(f, "\n[pool %s]\n", c->pools[i].name);
		for (size_t k = 0; k < ARRAY_SIZE(pool_keys); k++)
			dump_key(c, &pool_keys[k], &c->pools[i], f);
	}
}
