// SPDX-License-Identifier: MIT
/*
 * Description: fuzzes h1_parse_request() on its own and against llhttp 8.1
 * in strict mode (LLHTTP_STRICT_MODE, no lenient flags) as an oracle.
 *
 * Our own invariants: the result is one of the documented codes; every view
 * lies inside the head; the framing agrees with the header lines; parsing is
 * monotonic in the input (a prefix answers -EAGAIN or the same as the whole
 * input, and a valid head's prefixes all answer -EAGAIN); one header fewer
 * of room turns success into -E2BIG.
 *
 * The differential property: whenever we accept a head, llhttp accepts it
 * too, ends it on the same byte, and agrees on the method, the version and
 * the framing (chunked / Content-Length N / none, and where a Content-Length
 * body ends). When we promise keep-alive or upgrade, so must llhttp. Heads we
 * reject and llhttp accepts are fine: we are meant to be stricter.
 *
 * Exemptions, where llhttp rejects what RFC 9112 allows and we accept:
 *   - methods: llhttp knows a fixed list (HTTP_METHOD_MAP), case-sensitive;
 *     any other token is a valid method (RFC 9110 §9.1);
 *   - request targets: llhttp's strict URL grammar refuses obs-text and
 *     forms a proxy may still want to see (say "GET abc"); we only refuse
 *     SP, CTLs and DEL, as h1.h says;
 *   - Connection options: llhttp 8.1 keeps an HTAB that ends an option as
 *     part of it ("close<HTAB>" is not close to it), where RFC 9110 makes it
 *     OWS. Connection decides persistence and upgrade, not framing, so the
 *     keep-alive and upgrade comparisons skip heads with HTAB in a
 *     Connection line. (For Content-Length and Transfer-Encoding, where the
 *     same quirk would change framing, h1.c refuses HTAB instead.)
 * When llhttp does not know the method, or fails on the target, the harness
 * swaps in "POST" (for an unknown method) and "/" ("a:1" for CONNECT) and
 * checks the rest of the head against llhttp on that copy, so every other
 * byte is still compared.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "h1.h"
#include "h1_check.h"

#define HDR_CAP 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---------------------------------------------------------- own invariants */

static void check_request(const char *buf, size_t r, const struct h1_request *rq,
			  const struct h1_header *hdrs)
{
	const struct h1_header *h = NULL;

	CHECK(rq->headers == hdrs && rq->nheaders <= HDR_CAP);
	CHECK(view_inside(rq->method, buf, r) && rq->method.len > 0);
	CHECK(view_inside(rq->target, buf, r) && rq->target.len > 0);
	CHECK(view_inside(rq->host, buf, r));
	for (size_t i = 0; i < rq->target.len; i++) {
		unsigned char c = (unsigned char)rq->target.ptr[i];

		CHECK(c > ' ' && c != 0x7f);
	}
	for (size_t i = 0; i < rq->nheaders; i++) {
		struct h1_str n = rq->headers[i].name, v = rq->headers[i].value;

		CHECK(view_inside(n, buf, r) && n.len > 0 && !memchr(n.ptr, ':', n.len));
		CHECK(view_inside(v, buf, r) && !has_ows_edge(v));
		CHECK(!memchr(v.ptr, '\r', v.len) && !memchr(v.ptr, '\n', v.len));
	}
	CHECK(rq->minor_version == 0 || rq->minor_version == 1);
	/* The framing must follow from the header lines. */
	switch (rq->body) {
	case H1_BODY_NONE:
		CHECK(count_named(rq->headers, rq->nheaders, "content-length", &h) == 0);
		CHECK(count_named(rq->headers, rq->nheaders, "transfer-encoding", &h) == 0);
		break;
	case H1_BODY_LENGTH:
		CHECK(count_named(rq->headers, rq->nheaders, "content-length", &h) == 1);
		CHECK(count_named(rq->headers, rq->nheaders, "transfer-encoding", &h) == 0);
		CHECK(h->value.len >= 1 && h->value.len <= 19);
		CHECK(decimal(h->value) == rq->content_length);
		break;
	case H1_BODY_CHUNKED:
		CHECK(rq->minor_version == 1);
		CHECK(count_named(rq->headers, rq->nheaders, "content-length", &h) == 0);
		CHECK(count_named(rq->headers, rq->nheaders, "transfer-encoding", &h) == 1);
		break;
	default:
		CHECK(!"request framed as until-close");
	}
	CHECK(rq->body == H1_BODY_LENGTH || rq->content_length == 0);
	if (count_named(rq->headers, rq->nheaders, "host", &h)) {
		CHECK(count_named(rq->headers, rq->nheaders, "host", &h) == 1);
		CHECK(h->value.ptr == rq->host.ptr && h->value.len == rq->host.len);
	} else {
		CHECK(rq->minor_version == 0 && rq->host.len == 0);
	}
	CHECK(!!(rq->flags & H1_F_CONN_HEADER) ==
	      !!count_named(rq->headers, rq->nheaders, "connection", &h));
	CHECK(!!(rq->flags & H1_F_HAS_XFF) ==
	      !!count_named(rq->headers, rq->nheaders, "x-forwarded-for", &h));
	CHECK(!(rq->flags & H1_F_UPGRADE) || count_named(rq->headers, rq->nheaders, "upgrade", &h));
	CHECK(!(rq->flags & ~0x1fu));
}

/* Parses a heap copy of exactly len bytes, so ASan sees any overread. */
static ssize_t parse_copy(const uint8_t *data, size_t len, struct h1_request *rq,
			  struct h1_header *hdrs, size_t cap)
{
	char *copy = malloc(len ? len : 1);
	ssize_t r;

	CHECK(copy);
	if (len)
		memcpy(copy, data, len);
	r = h1_parse_request(copy, len, rq, hdrs, cap);
	free(copy);
	return r;
}

/* A prefix answers -EAGAIN or what the whole input answers. */
static void check_prefix(const uint8_t *data, size_t k, ssize_t r)
{
	struct h1_header hdrs[HDR_CAP];
	struct h1_request rq;
	ssize_t rk = parse_copy(data, k, &rq, hdrs, HDR_CAP);

	CHECK(rk == -EAGAIN || rk == r);
	if (r > 0 && k >= (size_t)r)
		CHECK(rk == r);
}

/* ------------------------------------------------------------------ oracle */

/*
 * The Connection exemption: a Connection line holding HTAB, OWS included,
 * so the whole line after the colon counts (it ends in CR within the head).
 */
static bool conn_htab(const struct h1_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!h1_str_eq(h[i].name, "connection"))
			continue;
		for (const char *c = h[i].name.ptr + h[i].name.len; *c != '\r'; c++) {
			if (*c == '\t')
				return true;
		}
	}
	return false;
}

struct oracle {
	llhttp_t p;
	llhttp_settings_t s;
	bool headers_done;   /* on_headers_complete has run */
	bool message_done;   /* on_message_complete has run */
	uint16_t flags;	     /* llhttp's F_* at the end of the head */
	uint64_t length;     /* its Content-Length, read before the body counts it down */
	bool keep_alive;     /* llhttp_should_keep_alive() at the end of the head */
	const char *err_pos; /* where the last llhttp_execute() stopped on an error */
	llhttp_errno_t err;  /* and why */
};

static int on_headers_complete(llhttp_t *p)
{
	struct oracle *o = p->data;

	o->headers_done = true;
	o->flags = p->flags;
	o->length = p->content_length;
	o->keep_alive = llhttp_should_keep_alive(p) != 0;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct oracle *o = p->data;

	o->message_done = true;
	return 0;
}

static void oracle_init(struct oracle *o)
{
	memset(o, 0, sizeof(*o));
	llhttp_settings_init(&o->s);
	o->s.on_headers_complete = on_headers_complete;
	o->s.on_message_complete = on_message_complete;
	llhttp_init(&o->p, HTTP_REQUEST, &o->s);
	o->p.data = o;
}

static llhttp_errno_t oracle_feed(struct oracle *o, const char *p, size_t n)
{
	if (o->err != HPE_OK)
		return o->err;
	o->err = llhttp_execute(&o->p, p, n);
	if (o->err != HPE_OK)
		o->err_pos = llhttp_get_error_pos(&o->p);
	return o->err;
}

static bool known_method(struct h1_str m)
{
	static const char *const names[] = {
#define XX(num, name, string) #string,
		HTTP_METHOD_MAP(XX)
#undef XX
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == m.len && !memcmp(names[i], m.ptr, m.len))
			return true;
	}
	return false;
}

/* Feeds the head so that llhttp must see its end on exactly our last byte. */
static void oracle_head(struct oracle *o, const char *buf, size_t head)
{
	oracle_init(o);
	oracle_feed(o, buf, head - 1);
	if (o->err != HPE_OK || o->headers_done)
		return;
	oracle_feed(o, buf + head - 1, 1);
}

static void compare(struct oracle *o, const char *buf, size_t size, size_t head,
		    const struct h1_request *rq, bool same_method)
{
	CHECK(o->headers_done);
	CHECK(o->err == HPE_OK || o->err == HPE_PAUSED_UPGRADE);
	if (same_method) {
		const char *name = llhttp_method_name((llhttp_method_t)o->p.method);

		CHECK(strlen(name) == rq->method.len &&
		      !memcmp(name, rq->method.ptr, rq->method.len));
	}
	CHECK(o->p.http_major == 1 && o->p.http_minor == rq->minor_version);
	switch (rq->body) {
	case H1_BODY_CHUNKED:
		CHECK(o->flags & F_CHUNKED);
		break;
	case H1_BODY_LENGTH:
		CHECK((o->flags & F_CONTENT_LENGTH) && !(o->flags & F_TRANSFER_ENCODING));
		CHECK(o->length == rq->content_length);
		break;
	default:
		CHECK(!(o->flags & (F_CONTENT_LENGTH | F_TRANSFER_ENCODING | F_CHUNKED)));
		break;
	}
	if (!(rq->flags & H1_F_CLOSE) && !conn_htab(rq->headers, rq->nheaders))
		CHECK(o->keep_alive);
	if ((rq->flags & H1_F_UPGRADE) && !conn_htab(rq->headers, rq->nheaders))
		CHECK(o->p.upgrade);
	if (o->p.upgrade)
		return; /* llhttp hands the rest to the upgraded protocol */
	if (rq->body == H1_BODY_NONE || (rq->body == H1_BODY_LENGTH && !rq->content_length)) {
		CHECK(o->message_done);
	} else if (rq->body == H1_BODY_LENGTH) {
		uint64_t avail = size - head;

		CHECK(!o->message_done);
		if (avail >= rq->content_length) {
			oracle_feed(o, buf + head, (size_t)rq->content_length - 1);
			CHECK(o->err == HPE_OK && !o->message_done);
			oracle_feed(o, buf + head + rq->content_length - 1, 1);
			CHECK(o->message_done);
		} else {
			oracle_feed(o, buf + head, (size_t)avail);
			CHECK(o->err == HPE_OK && !o->message_done);
		}
	}
}

static void differential(const char *buf, size_t size, size_t head, const struct h1_request *rq)
{
	size_t line = (size_t)(rq->method.ptr - buf);
	size_t rest = (size_t)(rq->target.ptr + rq->target.len - buf);
	bool connect = h1_str_eq(rq->method, "CONNECT") && known_method(rq->method);
	const char *method = known_method(rq->method) ? NULL : "POST";
	const char *target = connect ? "a:1" : "/";
	struct oracle o;
	char *copy;
	size_t n = 0, m;

	/*
	 * A method llhttp does not know is always swapped (llhttp may not
	 * even fail on it: "PRI" makes it wait for an HTTP/2 preface). With a
	 * known method, a URL error anywhere on the request line (llhttp may
	 * report it at the byte after the target's SP) swaps the target; any
	 * other failure is compared, and fails, as it is.
	 */
	if (!method) {
		oracle_head(&o, buf, head);
		if (o.err != HPE_INVALID_URL || !o.err_pos || o.err_pos < rq->method.ptr ||
		    o.err_pos > buf + rest + 11) {
			compare(&o, buf, size, head, rq, true);
			return;
		}
	}
	m = method ? strlen(method) : rq->method.len;
	copy = malloc(size - rest + line + m + 1 + strlen(target));
	CHECK(copy);
	memcpy(copy, buf, line);
	n = line;
	memcpy(copy + n, method ? method : rq->method.ptr, m);
	n += m;
	copy[n++] = ' ';
	memcpy(copy + n, target, strlen(target));
	n += strlen(target);
	memcpy(copy + n, buf + rest, size - rest);
	oracle_head(&o, copy, head - rest + n);
	compare(&o, copy, size - rest + n, head - rest + n, rq, method == NULL);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct h1_header hdrs[HDR_CAP], again_hdrs[HDR_CAP];
	struct h1_request rq, again;
	uint64_t hash = 1469598103934665603ull;
	ssize_t r;

	r = h1_parse_request(buf, size, &rq, hdrs, HDR_CAP);
	CHECK(r == -EAGAIN || r == -EBADMSG || r == -E2BIG || r == -EPROTONOSUPPORT ||
	      r == -ENOTSUP || (r > 0 && (size_t)r <= size));
	CHECK(parse_copy(data, size, &again, again_hdrs, HDR_CAP) == r);
	if (r > 0) {
		check_request(buf, (size_t)r, &rq, hdrs);
		CHECK(again.nheaders == rq.nheaders && again.body == rq.body &&
		      again.content_length == rq.content_length && again.flags == rq.flags);
		if (rq.nheaders)
			CHECK(parse_copy(data, size, &again, again_hdrs, rq.nheaders - 1) ==
			      -E2BIG);
	}

	/* Monotonic: a few prefixes, one of them picked by the input's hash. */
	for (size_t i = 0; i < size; i++)
		hash = (hash ^ data[i]) * 1099511628211ull;
	if (size) {
		check_prefix(data, size - 1, r);
		check_prefix(data, size / 2, r);
		check_prefix(data, (size_t)(hash % size), r);
		if (r > 0)
			check_prefix(data, (size_t)r - 1, r);
	}

	if (r > 0)
		differential(buf, size, (size_t)r, &rq);
	return 0;
}
