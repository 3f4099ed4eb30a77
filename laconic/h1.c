/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x head parser and chunked-body scanner (contract in h1.h).
 *
 * Why strict. A load balancer sits between clients and backends that run
 * parsers of their own. Request smuggling (RFC 9112 §11.2) needs only that
 * two parsers on the path disagree about where one message ends and the next
 * begins: a bare LF one of them takes as a line end, a folded line one of
 * them unfolds, "Transfer-Encoding : chunked" one of them recognises, two
 * Content-Length values one of them picks from. Every such input has a
 * well-formed spelling, so refusing the ambiguous one costs legitimate
 * clients nothing, while accepting it lets an attacker pick which of our
 * backends' quirks to exploit. So the grammar here is RFC 9112's, with no
 * tolerance: CR LF only, no obs-fold, tchar names glued to their colon,
 * exactly one SP between the parts of the start line, one Host, at most one
 * Content-Length and one Transfer-Encoding, never both.
 *
 * A few rules go beyond h1.h's list, each closing a routing or framing
 * confusion that the list does not name: the Host value must use the
 * characters of uri-host [":" port] minus "," (so "Host: a, b" cannot route
 * one way here and another way behind us); a Transfer-Encoding on an HTTP/1.0
 * message is rejected (RFC 9112 §6.1 calls its framing faulty); a header
 * name that differs from Content-Length or Transfer-Encoding only by "_" for
 * "-" is rejected (CGI-style servers fold both to CONTENT_LENGTH); a
 * Transfer-Encoding element must be a bare token (no parameters, no empty
 * list elements, so "chunked," is not "chunked" to one parser and something
 * else to another); a Content-Length or Transfer-Encoding line may not hold
 * HTAB, even as OWS ("chunked<HTAB>" is an unknown coding to llhttp); an
 * empty Upgrade offers nothing. In chunked bodies the whole chunk-ext and
 * trailer grammar is checked, not skipped to the line end, and a trailer
 * named Content-Length or Transfer-Encoding is refused (RFC 9110 §6.5.1).
 * The request target only excludes SP, CTLs and DEL: its syntax is the
 * router's business, not a framing matter.
 *
 * How framing is derived. The head is scanned once, left to right; each
 * header line is checked completely (through its CR LF) and then classified
 * by name: the framing headers are folded into a small struct as they go,
 * duplicates and conflicts are refused on the line where they appear, and
 * the body kind is decided after the empty line by RFC 9112 §6.3, in order:
 * status/HEAD (responses), Transfer-Encoding, Content-Length, then "none"
 * for requests and "until close" for responses. The first error met in that
 * left-to-right scan is the answer, so feeding a longer prefix of the same
 * bytes can only turn -EAGAIN into the final answer, never change an error
 * or a length (the fuzz harnesses check this).
 *
 * Costs. One pass over the head: names through a 256-entry class table,
 * values and the target by memchr() to their end and then eight bytes at a
 * time (a word with no CTL or DEL in it needs no lookup); no allocation and
 * no writes outside *req and the caller's header array. The head is
 * re-parsed from byte 0 on every call, like picohttpparser, which is cheaper
 * than keeping state for heads that almost always arrive whole. The
 * chunked scanner is the opposite: bodies can be large and arrive in pieces,
 * so it keeps a few bytes of state and jumps over chunk data without
 * looking at it.
 */
#include "h1.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Byte classes, one table for every scan loop. */
enum {
	C_TCHAR = 0x01,	 /* token character (RFC 9110 §5.6.2) */
	C_VALUE = 0x02,	 /* field-vchar, obs-text, SP, HTAB: inside a field value */
	C_TARGET = 0x04, /* request target: anything but CTLs, SP and DEL */
	C_HOST = 0x08,	 /* uri-host / port characters, minus "," */
	C_HEX = 0x10,	 /* HEXDIG of a chunk size */
	C_QDTEXT = 0x20, /* quoted-string text of a chunk-extension value */
};

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_TSPECIAL(c)                                                                        \
	((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' || \
	 (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' ||  \
	 (c) == '`' || (c) == '|' || (c) == '~')
#define IS_TCHAR(c)   (IS_DIGIT(c) || IS_ALPHA(c) || IS_TSPECIAL(c))
#define IS_VISIBLE(c) ((c) > 0x20 && (c) != 0x7f) /* VCHAR or obs-text */
#define IS_HOSTCHAR(c)                                                                         \
	(IS_DIGIT(c) || IS_ALPHA(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || \
	 (c) == '%' || (c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' ||  \
	 (c) == ')' || (c) == '*' || (c) == '+' || (c) == ';' || (c) == '=' || (c) == ':' ||   \
	 (c) == '[' || (c) == ']')
#define IS_HEX(c)    (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define IS_QDTEXT(c) ((c) == '\t' || (c) == ' ' || (IS_VISIBLE(c) && (c) != '"' && (c) != '\\'))

#define CCLASS(c)                                                         \
	((IS_TCHAR(c) ? C_TCHAR : 0) |                                    \
	 (IS_VISIBLE(c) || (c) == ' ' || (c) == '\t' ? C_VALUE : 0) |     \
	 (IS_VISIBLE(c) ? C_TARGET : 0) | (IS_HOSTCHAR(c) ? C_HOST : 0) | \
	 (IS_HEX(c) ? C_HEX : 0) | (IS_QDTEXT(c) ? C_QDTEXT : 0))
#define CCLASS4(c)  CCLASS(c), CCLASS((c) + 1), CCLASS((c) + 2), CCLASS((c) + 3)
#define CCLASS16(c) CCLASS4(c), CCLASS4((c) + 4), CCLASS4((c) + 8), CCLASS4((c) + 12)
#define CCLASS64(c) CCLASS16(c), CCLASS16((c) + 16), CCLASS16((c) + 32), CCLASS16((c) + 48)

/* Computed by the compiler from the definitions above, so it cannot drift from them. */
static const uint8_t cclass[256] = { CCLASS64(0), CCLASS64(64), CCLASS64(128), CCLASS64(192) };

static inline bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

bool h1_str_eq(struct h1_str s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.len; i++) {
		/* A NUL in lit ends it: s is longer, so they differ. */
		if (!lit[i] ||
		    ascii_lower((unsigned char)s.ptr[i]) != ascii_lower((unsigned char)lit[i]))
			return false;
	}
	return lit[i] == '\0';
}

/*
 * Like h1_str_eq() for a lower-case literal, but "_" in s also matches "-"
 * in lit: how CGI-style backends see header names.
 */
static bool name_eq_folded(struct h1_str s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.len && lit[i]; i++) {
		unsigned char c = ascii_lower((unsigned char)s.ptr[i]);

		if (c != (unsigned char)lit[i] && !(c == '_' && lit[i] == '-'))
			return false;
	}
	return i == s.len && lit[i] == '\0';
}

static struct h1_str trim_ows(const char *p, const char *end)
{
	while (p < end && is_ows((unsigned char)*p))
		p++;
	while (end > p && is_ows((unsigned char)end[-1]))
		end--;
	return (struct h1_str){ p, (size_t)(end - p) };
}

/* Eight bytes at a time (the "hasless" tricks of Bit Twiddling Hacks). */
#define BYTES_01 0x0101010101010101ull
#define BYTES_80 0x8080808080808080ull

/* Nonzero when some byte of w is below n (n <= 128); never misses one. */
static inline uint64_t has_less(uint64_t w, unsigned n)
{
	return (w - BYTES_01 * n) & ~w & BYTES_80;
}

/* Nonzero when some byte of w equals b; never misses one. */
static inline uint64_t has_byte(uint64_t w, unsigned char b)
{
	uint64_t x = w ^ (BYTES_01 * b);

	return (x - BYTES_01) & ~x & BYTES_80;
}

/*
 * Returns the offset of the first byte from p[pos] that is not in class cls,
 * or len. Exactly the simple table loop, only faster on long values and
 * targets: memchr() finds stop (a byte outside cls that usually ends the
 * run), and the bytes before it are checked a word at a time, where any byte
 * below min or DEL sends that word through the table. Every byte of cls is
 * >= min or in the table, so the word test can only be too cautious.
 */
/*
 * The line end at pos: 0 when p[pos] p[pos + 1] are CR LF, -EAGAIN when the
 * input stops first, -EBADMSG for anything else (a bare LF included).
 */
static int line_end(const unsigned char *p, size_t pos, size_t len)
{
	if (pos >= len)
		return -EAGAIN;
	if (p[pos] != '\r')
		return -EBADMSG;
	if (pos + 1 >= len)
		return -EAGAIN;
	return p[pos + 1] == '\n' ? 0 : -EBADMSG;
}

static size_t scan_class(const unsigned char *p, size_t pos, size_t len, unsigned char stop,
			 uint8_t cls, unsigned min)
{
	const unsigned char *hit = memchr(p + pos, stop, len - pos);
	size_t end = hit ? (size_t)(hit - p) : len;

	for (; end - pos >= 8; pos += 8) {
		uint64_t w;

		memcpy(&w, p + pos, sizeof(w));
		if (!(has_less(w, min) | has_byte(w, 0x7f)))
			continue;
		for (size_t i = 0; i < 8; i++) {
			if (!(cclass[p[pos + i]] & cls))
				return pos + i;
		}
	}
	for (; pos < end; pos++) {
		if (!(cclass[p[pos]] & cls))
			return pos;
	}
	return end;
}

static bool is_token(struct h1_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		if (!(cclass[(unsigned char)s.ptr[i]] & C_TCHAR))
			return false;
	}
	return s.len > 0;
}

/* ------------------------------------------------------------ header fields */

/* What the header lines said about framing and the connection. */
struct h1_fields {
	struct h1_header *headers; /* caller's array */
	size_t cap;		   /* its size */
	size_t n;		   /* entries filled */
	bool request;		   /* request-only headers (Host, Expect, XFF) count */
	bool has_cl;		   /* a Content-Length line was seen */
	bool has_te;		   /* a Transfer-Encoding line was seen */
	bool te_chunked;	   /* ... and its last coding is chunked */
	bool has_host;		   /* a Host line was seen */
	bool has_upgrade;	   /* a non-empty Upgrade line was seen */
	bool has_conn;		   /* a Connection line was seen */
	bool conn_close;	   /* Connection lists "close" */
	bool conn_keep_alive;	   /* Connection lists "keep-alive" */
	bool conn_upgrade;	   /* Connection lists "upgrade" */
	bool expect_100;	   /* Expect: 100-continue */
	bool has_xff;		   /* X-Forwarded-For present */
	uint64_t content_length;   /* valid when has_cl */
	struct h1_str host;	   /* valid when has_host */
};

static int on_content_length(struct h1_fields *f, struct h1_str v)
{
	uint64_t n = 0;

	/* Even an equal second value is refused: "5, 5" and two lines of 5 alike. */
	if (f->has_cl || f->has_te)
		return -EBADMSG;
	/* 19 digits always fit in 64 bits, so the bound is the overflow check. */
	if (v.len == 0 || v.len > 19)
		return -EBADMSG;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.ptr[i];

		if (!IS_DIGIT(c))
			return -EBADMSG;
		n = n * 10 + (uint64_t)(c - '0');
	}
	f->has_cl = true;
	f->content_length = n;
	return 0;
}

static int on_transfer_encoding(struct h1_fields *f, struct h1_str v)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	bool chunked = false;

	if (f->has_te || f->has_cl)
		return -EBADMSG;
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		struct h1_str coding = trim_ows(p, e);

		/*
		 * Anything after chunked means chunked is not last: a body whose
		 * end nobody can find (RFC 9112 §6.1). Empty elements and codings
		 * with parameters are refused rather than skipped, so no element
		 * reads as chunked to one parser and not to another.
		 */
		if (chunked || !is_token(coding))
			return -EBADMSG;
		chunked = h1_str_eq(coding, "chunked");
		if (!comma)
			break;
		p = comma + 1;
	}
	f->has_te = true;
	f->te_chunked = chunked;
	return 0;
}

static int on_host(struct h1_fields *f, struct h1_str v)
{
	if (!f->request)
		return 0;
	if (f->has_host)
		return -EBADMSG;
	for (size_t i = 0; i < v.len; i++) {
		if (!(cclass[(unsigned char)v.ptr[i]] & C_HOST))
			return -EBADMSG;
	}
	f->has_host = true;
	f->host = v;
	return 0;
}

/* Connection is a list of tokens; repeated lines add to it (RFC 9110 §7.6.1). */
static void on_connection(struct h1_fields *f, struct h1_str v)
{
	const char *p = v.ptr, *end = v.ptr + v.len;

	f->has_conn = true;
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		struct h1_str opt = trim_ows(p, comma ? comma : end);

		if (h1_str_eq(opt, "close"))
			f->conn_close = true;
		else if (h1_str_eq(opt, "keep-alive"))
			f->conn_keep_alive = true;
		else if (h1_str_eq(opt, "upgrade"))
			f->conn_upgrade = true;
		if (!comma)
			break;
		p = comma + 1;
	}
}

/*
 * HTAB is OWS to RFC 9110, but parsers disagree on it next to a framing
 * value: llhttp, for one, reads "chunked<HTAB>" as an unknown coding and
 * "5<HTAB>" as an error. A sender has no reason to put one there, so a
 * Content-Length or Transfer-Encoding line holding HTAB anywhere, OWS
 * included, is refused rather than interpreted.
 */
static bool has_htab(struct h1_str raw)
{
	return memchr(raw.ptr, '\t', raw.len) != NULL;
}

/*
 * Folds one header line into *f; value is trimmed, raw is all that follows
 * the colon. Dispatches on the length first, as most names miss.
 */
static int on_field(struct h1_fields *f, struct h1_str name, struct h1_str value, struct h1_str raw)
{
	switch (name.len) {
	case 4:
		if (h1_str_eq(name, "host"))
			return on_host(f, value);
		break;
	case 6:
		if (f->request && h1_str_eq(name, "expect") && h1_str_eq(value, "100-continue"))
			f->expect_100 = true;
		break;
	case 7:
		/* Upgrade is a list of 1+ protocols: an empty one offers none. */
		if (h1_str_eq(name, "upgrade") && value.len)
			f->has_upgrade = true;
		break;
	case 10:
		if (h1_str_eq(name, "connection"))
			on_connection(f, value);
		break;
	case 14:
		if (h1_str_eq(name, "content-length"))
			return has_htab(raw) ? -EBADMSG : on_content_length(f, value);
		if (name_eq_folded(name, "content-length"))
			return -EBADMSG;
		break;
	case 15:
		if (f->request && h1_str_eq(name, "x-forwarded-for"))
			f->has_xff = true;
		break;
	case 17:
		if (h1_str_eq(name, "transfer-encoding"))
			return has_htab(raw) ? -EBADMSG : on_transfer_encoding(f, value);
		if (name_eq_folded(name, "transfer-encoding"))
			return -EBADMSG;
		break;
	default:
		break;
	}
	return 0;
}

/*
 * Parses header lines from buf[pos] through the empty line. Returns the
 * length of the head, or -errno.
 */
static ssize_t parse_fields(const unsigned char *p, size_t len, size_t pos, struct h1_fields *f)
{
	for (;;) {
		size_t name, name_end, value, value_end;
		struct h1_str raw;
		int ret;

		if (pos >= len)
			return -EAGAIN;
		if (p[pos] == '\r') {
			if (pos + 1 >= len)
				return -EAGAIN;
			return p[pos + 1] == '\n' ? (ssize_t)(pos + 2) : -EBADMSG;
		}
		/*
		 * The name runs to the first non-tchar, which must be the colon:
		 * this one test refuses obs-fold (a line starting with SP/HTAB),
		 * whitespace before the colon, an empty name and a bare LF.
		 */
		name = pos;
		while (pos < len && (cclass[p[pos]] & C_TCHAR))
			pos++;
		if (pos >= len)
			return -EAGAIN;
		if (p[pos] != ':' || pos == name)
			return -EBADMSG;
		name_end = pos++;
		while (pos < len && is_ows(p[pos]))
			pos++;
		value = pos;
		pos = scan_class(p, pos, len, '\r', C_VALUE, ' ');
		/* Only CR may end the value, and only with LF after it. */
		ret = line_end(p, pos, len);
		if (ret)
			return ret;
		raw = (struct h1_str){ (const char *)p + name_end + 1, pos - name_end - 1 };
		value_end = pos;
		while (value_end > value && is_ows(p[value_end - 1]))
			value_end--;
		pos += 2;

		if (f->n == f->cap)
			return -E2BIG;
		f->headers[f->n] = (struct h1_header){
			.name = { (const char *)p + name, name_end - name },
			.value = { (const char *)p + value, value_end - value },
		};
		ret = on_field(f, f->headers[f->n].name, f->headers[f->n].value, raw);
		if (ret)
			return ret;
		f->n++;
	}
}

/*
 * Matches "HTTP/d.d" at p[pos] followed by the byte `next` (SP or CR).
 * Returns the minor version, or -errno: -EPROTONOSUPPORT only for a
 * well-formed version other than 1.0 and 1.1.
 */
static int parse_version(const unsigned char *p, size_t len, size_t pos, unsigned char next)
{
	static const char pat[] = "HTTP/#.#";

	for (size_t i = 0; i < sizeof(pat); i++) {
		unsigned char want = i + 1 < sizeof(pat) ? (unsigned char)pat[i] : next;

		if (pos + i >= len)
			return -EAGAIN;
		if (want == '#' ? !IS_DIGIT(p[pos + i]) : p[pos + i] != want)
			return -EBADMSG;
	}
	if (p[pos + 5] != '1' || (p[pos + 7] != '0' && p[pos + 7] != '1'))
		return -EPROTONOSUPPORT;
	return p[pos + 7] - '0';
}

/* H1_F_CLOSE/UPGRADE/CONN_HEADER from the version and the Connection options. */
static unsigned conn_flags(const struct h1_fields *f, int minor)
{
	unsigned flags = f->has_conn ? H1_F_CONN_HEADER : 0;

	/* "close" wins over "keep-alive" when both are listed. */
	if (f->conn_close || (minor == 0 && !f->conn_keep_alive))
		flags |= H1_F_CLOSE;
	/* Upgrade is an HTTP/1.1 mechanism; a 1.0 recipient ignores it (RFC 9110 §7.8). */
	if (minor == 1 && f->conn_upgrade && f->has_upgrade)
		flags |= H1_F_UPGRADE;
	return flags;
}

ssize_t h1_parse_request(const char *buf, size_t len, struct h1_request *req,
			 struct h1_header *headers, size_t hdr_cap)
{
	const unsigned char *p = (const unsigned char *)buf;
	struct h1_fields f = { .headers = headers, .cap = hdr_cap, .request = true };
	size_t pos = 0, start;
	ssize_t head;
	int minor;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	/* RFC 9112 §2.2: empty lines before the request line, CR LF ones only. */
	while (pos < len && p[pos] == '\r') {
		int ret = line_end(p, pos, len);

		if (ret)
			return ret;
		pos += 2;
	}
	start = pos;
	while (pos < len && (cclass[p[pos]] & C_TCHAR))
		pos++;
	if (pos >= len)
		return -EAGAIN;
	if (p[pos] != ' ' || pos == start)
		return -EBADMSG;
	req->method = (struct h1_str){ buf + start, pos - start };
	start = ++pos;
	pos = scan_class(p, pos, len, ' ', C_TARGET, ' ' + 1);
	if (pos >= len)
		return -EAGAIN;
	if (p[pos] != ' ' || pos == start)
		return -EBADMSG;
	req->target = (struct h1_str){ buf + start, pos - start };
	minor = parse_version(p, len, ++pos, '\r');
	if (minor < 0)
		return minor;
	pos += 9;
	if (pos >= len)
		return -EAGAIN;
	if (p[pos] != '\n')
		return -EBADMSG;
	head = parse_fields(p, len, pos + 1, &f);
	if (head < 0)
		return head;

	if (minor == 1 && !f.has_host)
		return -EBADMSG;
	req->content_length = 0;
	if (f.has_te) {
		if (minor == 0)
			return -EBADMSG;
		/* We could not tell where such a body ends (RFC 9112 §6.3 rule 4). */
		if (!f.te_chunked)
			return -ENOTSUP;
		req->body = H1_BODY_CHUNKED;
	} else if (f.has_cl) {
		req->body = H1_BODY_LENGTH;
		req->content_length = f.content_length;
	} else {
		req->body = H1_BODY_NONE;
	}
	req->host = f.has_host ? f.host : (struct h1_str){ buf, 0 };
	req->minor_version = minor;
	req->headers = headers;
	req->nheaders = f.n;
	req->flags = conn_flags(&f, minor);
	/* A 1.0 server must ignore 100-continue (RFC 9110 §10.1.1); so do we. */
	if (f.expect_100 && minor == 1)
		req->flags |= H1_F_EXPECT_100;
	if (f.has_xff)
		req->flags |= H1_F_HAS_XFF;
	return head;
}

ssize_t h1_parse_response(const char *buf, size_t len, struct h1_response *res,
			  struct h1_header *headers, size_t hdr_cap, unsigned opts)
{
	const unsigned char *p = (const unsigned char *)buf;
	struct h1_fields f = { .headers = headers, .cap = hdr_cap, .request = false };
	size_t pos, start;
	ssize_t head;
	int minor, status, ret;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	minor = parse_version(p, len, 0, ' ');
	if (minor < 0)
		return minor;
	pos = 9;
	/* Exactly three digits, the first not 0, then SP or the end of the line. */
	for (size_t i = 0; i < 4; i++) {
		if (pos + i >= len)
			return -EAGAIN;
		if (i < 3 ? !IS_DIGIT(p[pos + i]) : p[pos + i] != ' ' && p[pos + i] != '\r')
			return -EBADMSG;
	}
	if (p[pos] == '0')
		return -EBADMSG;
	status = (p[pos] - '0') * 100 + (p[pos + 1] - '0') * 10 + (p[pos + 2] - '0');
	pos += 3;
	if (p[pos] == ' ')
		pos++;
	start = pos;
	pos = scan_class(p, pos, len, '\r', C_VALUE, ' ');
	ret = line_end(p, pos, len);
	if (ret)
		return ret;
	res->reason = (struct h1_str){ buf + start, pos - start };
	head = parse_fields(p, len, pos + 2, &f);
	if (head < 0)
		return head;

	if (f.has_te && minor == 0)
		return -EBADMSG;
	res->content_length = 0;
	if ((opts & H1_RESP_HEAD) || status < 200 || status == 204 || status == 304) {
		/* RFC 9112 §6.3 rule 1: whatever the headers say. */
		res->body = H1_BODY_NONE;
	} else if (f.has_te) {
		/* RFC 9112 §6.3 rule 4: an unknown coding last ends with the connection. */
		res->body = f.te_chunked ? H1_BODY_CHUNKED : H1_BODY_CLOSE;
	} else if (f.has_cl) {
		res->body = H1_BODY_LENGTH;
		res->content_length = f.content_length;
	} else {
		res->body = H1_BODY_CLOSE;
	}
	res->status = status;
	res->minor_version = minor;
	res->headers = headers;
	res->nheaders = f.n;
	res->flags = conn_flags(&f, minor);
	if (res->body == H1_BODY_CLOSE)
		res->flags |= H1_F_CLOSE;
	return head;
}

/* --------------------------------------------------------------- reasons */

const char *h1_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 421:
		return "Misdirected Request";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		break;
	}
	/* The class names of RFC 9110 §15, for codes we relay but never make. */
	switch (status / 100) {
	case 1:
		return "Informational";
	case 2:
		return "Success";
	case 3:
		return "Redirection";
	case 4:
		return "Client Error";
	case 5:
		return "Server Error";
	default:
		return "Unknown";
	}
}

/* ---------------------------------------------------------- chunked body */

/*
 * Scanner states. 0 is the start of a chunk-size line, so a zero-filled
 * struct is ready. The size-line states up to CH_EXT_QUOTED_END walk the
 * chunk-ext grammar of RFC 9112 §7.1.1:
 *
 *   chunk-size *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF
 *
 * in full rather than skipping to CR, because "skip to the line end" is
 * exactly where parsers have disagreed (a bare LF inside an extension, a
 * quoted CR LF).
 */
enum {
	CH_SIZE = 0,	    /* hex digits (ndigits so far), then ";", BWS or CR */
	CH_EXT_BWS,	    /* BWS seen after the size or a value: only ";" may follow */
	CH_EXT_NAME_START,  /* after ";": BWS, then the first tchar of a name */
	CH_EXT_NAME,	    /* in a name: tchar, "=", ";", BWS or CR */
	CH_EXT_NAME_BWS,    /* BWS after a name: "=" or ";" */
	CH_EXT_VALUE_START, /* after "=": BWS, then a token or a quoted string */
	CH_EXT_TOKEN,	    /* in a token value: tchar, ";", BWS or CR */
	CH_EXT_QUOTED,	    /* in a quoted string */
	CH_EXT_QUOTED_PAIR, /* after a backslash in a quoted string */
	CH_EXT_QUOTED_END,  /* after the closing quote: ";", BWS or CR */
	CH_SIZE_LF,	    /* CR of the size line seen */
	CH_DATA,	    /* remaining data bytes of the chunk */
	CH_DATA_CR,	    /* the CR after the data */
	CH_DATA_LF,	    /* and its LF */
	CH_TRAILER_START,   /* start of a trailer line, or the final CR */
	CH_TRAILER_NAME,    /* in a trailer field name that cannot be a framing one, */
	CH_TRAILER_CL,	    /* that may still be Content-Length, */
	CH_TRAILER_TE,	    /* or Transfer-Encoding, */
	CH_TRAILER_CL_TE,   /* or either (two bits of state: CH_TRAILER_NAME + TRAILER_*) */
	CH_TRAILER_VALUE,   /* in a trailer field value */
	CH_TRAILER_LF,	    /* CR of a trailer line seen */
	CH_END_LF,	    /* the final CR seen */
	CH_DONE,	    /* the body has ended: later bytes are not its */
	CH_ERR_BADMSG,	    /* sticky: every later call fails the same way */
	CH_ERR_2BIG,	    /* likewise, for a trailer section too large */
};

void h1_chunked_init(struct h1_chunked *c)
{
	memset(c, 0, sizeof(*c));
}

/* Where BWS leads from each size-line state; RFC 9110 §5.6.3 lets it stand before ";" and "=". */
static int ext_bws(unsigned state)
{
	switch (state) {
	case CH_SIZE:
	case CH_EXT_BWS:
	case CH_EXT_TOKEN:
	case CH_EXT_QUOTED_END:
		return CH_EXT_BWS;
	case CH_EXT_NAME:
	case CH_EXT_NAME_BWS:
		return CH_EXT_NAME_BWS;
	case CH_EXT_NAME_START:
	case CH_EXT_VALUE_START:
		return (int)state;
	default:
		return -EBADMSG;
	}
}

/* One byte of a chunk extension other than BWS, ";" and the CR ending the line. */
static int ext_step(unsigned state, unsigned char ch)
{
	bool tchar = (cclass[ch] & C_TCHAR) != 0;

	switch (state) {
	case CH_EXT_NAME_START:
		return tchar ? CH_EXT_NAME : -EBADMSG;
	case CH_EXT_NAME:
		if (tchar)
			return CH_EXT_NAME;
		return ch == '=' ? CH_EXT_VALUE_START : -EBADMSG;
	case CH_EXT_NAME_BWS:
		return ch == '=' ? CH_EXT_VALUE_START : -EBADMSG;
	case CH_EXT_VALUE_START:
		if (ch == '"')
			return CH_EXT_QUOTED;
		return tchar ? CH_EXT_TOKEN : -EBADMSG;
	case CH_EXT_TOKEN:
		return tchar ? CH_EXT_TOKEN : -EBADMSG;
	case CH_EXT_QUOTED:
		if (ch == '"')
			return CH_EXT_QUOTED_END;
		if (ch == '\\')
			return CH_EXT_QUOTED_PAIR;
		return (cclass[ch] & C_QDTEXT) ? CH_EXT_QUOTED : -EBADMSG;
	case CH_EXT_QUOTED_PAIR:
		return (cclass[ch] & C_VALUE) ? CH_EXT_QUOTED : -EBADMSG;
	default:
		return -EBADMSG;
	}
}

/* One byte of a chunk-size line: the size, then its extensions. */
static int size_step(struct h1_chunked *c, unsigned char ch)
{
	unsigned state = c->state;

	if (ch != '\r' && ++c->line_len > H1_CHUNK_LINE_MAX)
		return -EBADMSG;
	if (state == CH_SIZE && (cclass[ch] & C_HEX)) {
		/* 15 digits cannot overflow 64 bits; leading zeros count too. */
		if (++c->ndigits > 15)
			return -EBADMSG;
		c->remaining = c->remaining << 4 |
			       (uint64_t)(IS_DIGIT(ch) ? ch - '0' : (ch | 0x20) - 'a' + 10);
		return CH_SIZE;
	}
	if (state == CH_SIZE && !c->ndigits)
		return -EBADMSG;
	/* Inside a quoted string, SP, HTAB and ";" are text. */
	if (state == CH_EXT_QUOTED || state == CH_EXT_QUOTED_PAIR)
		return ext_step(state, ch);
	if (is_ows(ch))
		return ext_bws(state);
	/* The line and each extension end where a name or a value is complete. */
	if (ch == '\r' || ch == ';') {
		if (state == CH_SIZE || state == CH_EXT_NAME || state == CH_EXT_TOKEN ||
		    state == CH_EXT_QUOTED_END)
			return ch == '\r' ? CH_SIZE_LF : CH_EXT_NAME_START;
		/* BWS may precede ";", never the end of the line. */
		if (ch == ';' && (state == CH_EXT_BWS || state == CH_EXT_NAME_BWS))
			return CH_EXT_NAME_START;
		return -EBADMSG;
	}
	return ext_step(state, ch);
}

/*
 * Framing fields are not allowed in trailers (RFC 9110 §6.5.1), and
 * parsers that fold trailers into the header section treat them
 * unpredictably (llhttp fails on some); so a trailer named Content-Length
 * or Transfer-Encoding, with "_" for "-" too, is refused. The names are
 * matched as they stream by, in two bits of the scanner state.
 */
enum {
	TRAILER_CL = 1,
	TRAILER_TE = 2,
};

_Static_assert(CH_TRAILER_CL_TE == CH_TRAILER_NAME + (TRAILER_CL | TRAILER_TE),
	       "the name-match bits live in the trailer-name states");

static unsigned trailer_name_step(unsigned match, size_t i, unsigned char ch)
{
	static const unsigned char cl[] = "content-length", te[] = "transfer-encoding";
	unsigned char lc = ch == '_' ? '-' : ascii_lower(ch);

	if (i >= sizeof(cl) - 1 || cl[i] != lc)
		match &= ~(unsigned)TRAILER_CL;
	if (i >= sizeof(te) - 1 || te[i] != lc)
		match &= ~(unsigned)TRAILER_TE;
	return match;
}

static bool trailer_is_framing(unsigned match, size_t len)
{
	return ((match & TRAILER_CL) && len == sizeof("content-length") - 1) ||
	       ((match & TRAILER_TE) && len == sizeof("transfer-encoding") - 1);
}

/* One byte of the trailer section (RFC 9112 §7.1.2: field lines, then CR LF). */
static int trailer_step(struct h1_chunked *c, unsigned char ch)
{
	unsigned state = c->state;

	if (state == CH_END_LF)
		return ch == '\n' ? CH_DONE : -EBADMSG;
	if (state == CH_TRAILER_START && ch == '\r')
		return CH_END_LF;
	if (state == CH_TRAILER_START)
		c->line_len = 0;
	if (state != CH_TRAILER_LF && ch != '\r' && ++c->line_len > H1_CHUNK_LINE_MAX)
		return -EBADMSG;
	if (++c->trailer > H1_TRAILER_MAX)
		return -E2BIG;
	switch (state) {
	case CH_TRAILER_START:
	case CH_TRAILER_NAME:
	case CH_TRAILER_CL:
	case CH_TRAILER_TE:
	case CH_TRAILER_CL_TE: {
		/* A name, so no obs-fold and no empty name; line_len - 1 is ch's index. */
		unsigned match = state == CH_TRAILER_START ? TRAILER_CL | TRAILER_TE
							   : state - CH_TRAILER_NAME;

		if (cclass[ch] & C_TCHAR)
			return CH_TRAILER_NAME + (int)trailer_name_step(match, c->line_len - 1, ch);
		if (ch != ':' || state == CH_TRAILER_START ||
		    trailer_is_framing(match, c->line_len - 1))
			return -EBADMSG;
		return CH_TRAILER_VALUE;
	}
	case CH_TRAILER_VALUE:
		if (cclass[ch] & C_VALUE)
			return CH_TRAILER_VALUE;
		return ch == '\r' ? CH_TRAILER_LF : -EBADMSG;
	case CH_TRAILER_LF:
		return ch == '\n' ? CH_TRAILER_START : -EBADMSG;
	default:
		return -EBADMSG;
	}
}

/* One byte outside chunk data; returns the next state or -errno. */
static int chunk_step(struct h1_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case CH_SIZE_LF:
		if (ch != '\n')
			return -EBADMSG;
		c->line_len = 0;
		/* A size of zero, however many digits, is the last chunk. */
		return c->remaining ? CH_DATA : CH_TRAILER_START;
	case CH_DATA_CR:
		return ch == '\r' ? CH_DATA_LF : -EBADMSG;
	case CH_DATA_LF:
		if (ch != '\n')
			return -EBADMSG;
		c->ndigits = 0;
		c->line_len = 0;
		return CH_SIZE;
	case CH_TRAILER_START:
	case CH_TRAILER_NAME:
	case CH_TRAILER_CL:
	case CH_TRAILER_TE:
	case CH_TRAILER_CL_TE:
	case CH_TRAILER_VALUE:
	case CH_TRAILER_LF:
	case CH_END_LF:
		return trailer_step(c, ch);
	default:
		return size_step(c, ch);
	}
}

ssize_t h1_chunked_scan(struct h1_chunked *c, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (i < len && c->state < CH_DONE) {
		int next;

		if (c->state == CH_DATA) {
			/* The data itself is never looked at. */
			size_t n = len - i;

			if (n > c->remaining)
				n = (size_t)c->remaining;
			i += n;
			c->remaining -= n;
			if (!c->remaining)
				c->state = CH_DATA_CR;
			continue;
		}
		next = chunk_step(c, p[i]);
		if (next < 0) {
			c->state = next == -E2BIG ? CH_ERR_2BIG : CH_ERR_BADMSG;
			break;
		}
		c->state = (uint8_t)next;
		i++;
	}
	if (c->state == CH_ERR_BADMSG)
		return -EBADMSG;
	if (c->state == CH_ERR_2BIG)
		return -E2BIG;
	if (c->state == CH_DONE)
		c->done = true;
	return (ssize_t)i;
}
