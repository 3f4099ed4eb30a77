// SPDX-License-Identifier: MIT
/*
 * Description: fuzzes h1_parse_response(), as an answer to GET and to HEAD,
 * on its own and against llhttp 8.1 in strict mode (LLHTTP_STRICT_MODE, no
 * lenient flags) as an oracle.
 *
 * Our own invariants: the result is one of the documented codes; every view
 * lies inside the head; the framing agrees with the status and the header
 * lines; a prefix answers -EAGAIN or the same as the whole input; one header
 * fewer of room turns success into -E2BIG.
 *
 * The differential property: whenever we accept a head, llhttp accepts it
 * too, ends it on the same byte, and agrees on the status, the version and
 * the framing: no body (and the message ends with the head), chunked,
 * Content-Length N (and the body ends N bytes later), or until close. When
 * we promise keep-alive, or an upgrade on a 101, so must llhttp.
 *
 * Exemption: llhttp 8.1 applies RFC 9112 §6.3 rule 1 (no body for HEAD,
 * 1xx, 204, 304, whatever the headers say) only where the application tells
 * it to, by returning 1 from on_headers_complete; it would otherwise read a
 * Content-Length body after a 304. The harness's callback does that for
 * exactly those cases, which is how llhttp's users (Node's http client) use
 * it, and compares everything else unchanged.
 *
 * Exemption: llhttp 8.1 keeps an HTAB that ends a Connection option as part
 * of it ("close<HTAB>" is not close to it), where RFC 9110 makes it OWS.
 * Connection decides persistence and upgrade, not framing, so those two
 * comparisons skip heads with HTAB in a Connection line. (For
 * Content-Length and Transfer-Encoding, where the quirk would change the
 * framing, h1.c refuses HTAB instead.)
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

static bool no_body_status(int status, unsigned opts)
{
	return (opts & H1_RESP_HEAD) || status < 200 || status == 204 || status == 304;
}

static void check_response(const char *buf, size_t r, const struct h1_response *rs,
			   const struct h1_header *hdrs, unsigned opts)
{
	const struct h1_header *h = NULL;
	size_t ncl = count_named(rs->headers, rs->nheaders, "content-length", &h);
	size_t nte = count_named(rs->headers, rs->nheaders, "transfer-encoding", &h);

	CHECK(rs->headers == hdrs && rs->nheaders <= HDR_CAP);
	CHECK(view_inside(rs->reason, buf, r));
	CHECK(!memchr(rs->reason.ptr, '\r', rs->reason.len));
	CHECK(rs->status >= 100 && rs->status <= 999);
	CHECK(rs->minor_version == 0 || rs->minor_version == 1);
	for (size_t i = 0; i < rs->nheaders; i++) {
		struct h1_str n = rs->headers[i].name, v = rs->headers[i].value;

		CHECK(view_inside(n, buf, r) && n.len > 0 && !memchr(n.ptr, ':', n.len));
		CHECK(view_inside(v, buf, r) && !has_ows_edge(v));
		CHECK(!memchr(v.ptr, '\r', v.len) && !memchr(v.ptr, '\n', v.len));
	}
	CHECK(ncl + nte <= 1);
	CHECK(!nte || rs->minor_version == 1);
	switch (rs->body) {
	case H1_BODY_NONE:
		CHECK(no_body_status(rs->status, opts));
		break;
	case H1_BODY_LENGTH:
		CHECK(!no_body_status(rs->status, opts) && ncl == 1);
		count_named(rs->headers, rs->nheaders, "content-length", &h);
		CHECK(decimal(h->value) == rs->content_length);
		break;
	case H1_BODY_CHUNKED:
		CHECK(!no_body_status(rs->status, opts) && nte == 1);
		break;
	case H1_BODY_CLOSE:
		CHECK(!no_body_status(rs->status, opts) && ncl == 0);
		CHECK(rs->flags & H1_F_CLOSE);
		break;
	default:
		CHECK(!"bad framing");
	}
	CHECK(rs->body == H1_BODY_LENGTH || rs->content_length == 0);
	CHECK(!!(rs->flags & H1_F_CONN_HEADER) ==
	      !!count_named(rs->headers, rs->nheaders, "connection", &h));
	CHECK(!(rs->flags & (H1_F_EXPECT_100 | H1_F_HAS_XFF)));
	CHECK(!(rs->flags & ~0x1fu));
}

static ssize_t parse_copy(const uint8_t *data, size_t len, struct h1_response *rs,
			  struct h1_header *hdrs, size_t cap, unsigned opts)
{
	char *copy = malloc(len ? len : 1);
	ssize_t r;

	CHECK(copy);
	if (len)
		memcpy(copy, data, len);
	r = h1_parse_response(copy, len, rs, hdrs, cap, opts);
	free(copy);
	return r;
}

static void check_prefix(const uint8_t *data, size_t k, ssize_t r, unsigned opts)
{
	struct h1_header hdrs[HDR_CAP];
	struct h1_response rs;
	ssize_t rk = parse_copy(data, k, &rs, hdrs, HDR_CAP, opts);

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
	bool head;	    /* the request was HEAD */
	bool headers_done;  /* on_headers_complete has run */
	bool message_done;  /* on_message_complete has run */
	uint16_t flags;	    /* llhttp's F_* at the end of the head */
	uint64_t length;    /* its Content-Length, before the body counts it down */
	bool keep_alive;    /* llhttp_should_keep_alive() at the end of the head */
	bool needs_eof;	    /* llhttp_message_needs_eof() at the end of the head */
	llhttp_errno_t err; /* the last llhttp_execute() result */
};

static int on_headers_complete(llhttp_t *p)
{
	struct oracle *o = p->data;
	bool skip = no_body_status(p->status_code, o->head ? H1_RESP_HEAD : 0);

	o->headers_done = true;
	o->flags = p->flags;
	o->length = p->content_length;
	o->needs_eof = llhttp_message_needs_eof(p) != 0;
	/*
	 * The exemption: RFC 9112 §6.3 rule 1 is the application's call in
	 * llhttp, made by returning 1, upon which llhttp sets F_SKIPBODY. Set
	 * it first, so that keep-alive is judged on the bodiless message.
	 */
	if (skip)
		p->flags |= F_SKIPBODY;
	o->keep_alive = llhttp_should_keep_alive(p) != 0;
	return skip ? 1 : 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct oracle *o = p->data;

	o->message_done = true;
	return 0;
}

static llhttp_errno_t oracle_feed(struct oracle *o, const char *p, size_t n)
{
	if (o->err == HPE_OK)
		o->err = llhttp_execute(&o->p, p, n);
	return o->err;
}

static void differential(const char *buf, size_t size, size_t head, const struct h1_response *rs,
			 unsigned opts)
{
	struct oracle o;
	uint64_t avail = size - head;

	memset(&o, 0, sizeof(o));
	llhttp_settings_init(&o.s);
	o.s.on_headers_complete = on_headers_complete;
	o.s.on_message_complete = on_message_complete;
	llhttp_init(&o.p, HTTP_RESPONSE, &o.s);
	o.p.data = &o;
	o.head = (opts & H1_RESP_HEAD) != 0;

	/* The head must end on exactly our last byte. */
	oracle_feed(&o, buf, head - 1);
	CHECK(o.err == HPE_OK && !o.headers_done);
	oracle_feed(&o, buf + head - 1, 1);
	CHECK(o.headers_done);
	CHECK(o.err == HPE_OK || o.err == HPE_PAUSED_UPGRADE);
	CHECK(o.p.status_code == rs->status);
	CHECK(o.p.http_major == 1 && o.p.http_minor == rs->minor_version);
	if (!(rs->flags & H1_F_CLOSE) && !conn_htab(rs->headers, rs->nheaders))
		CHECK(o.keep_alive);
	if ((rs->flags & H1_F_UPGRADE) && rs->status == 101 &&
	    !conn_htab(rs->headers, rs->nheaders))
		CHECK(o.p.upgrade);

	switch (rs->body) {
	case H1_BODY_NONE:
		CHECK(o.message_done);
		break;
	case H1_BODY_CHUNKED:
		CHECK(o.flags & F_CHUNKED);
		break;
	case H1_BODY_CLOSE:
		CHECK(o.needs_eof && !o.message_done);
		oracle_feed(&o, buf + head, (size_t)avail);
		CHECK(o.err == HPE_OK && !o.message_done);
		break;
	case H1_BODY_LENGTH:
		CHECK((o.flags & F_CONTENT_LENGTH) && !(o.flags & F_TRANSFER_ENCODING));
		CHECK(o.length == rs->content_length);
		if (!rs->content_length) {
			CHECK(o.message_done);
		} else if (avail >= rs->content_length) {
			oracle_feed(&o, buf + head, (size_t)rs->content_length - 1);
			CHECK(o.err == HPE_OK && !o.message_done);
			oracle_feed(&o, buf + head + rs->content_length - 1, 1);
			CHECK(o.message_done);
		} else {
			oracle_feed(&o, buf + head, (size_t)avail);
			CHECK(o.err == HPE_OK && !o.message_done);
		}
		break;
	default:
		CHECK(!"bad framing");
	}
}

static void run(const uint8_t *data, size_t size, uint64_t hash, unsigned opts)
{
	const char *buf = (const char *)data;
	struct h1_header hdrs[HDR_CAP], again_hdrs[HDR_CAP];
	struct h1_response rs, again;
	ssize_t r;

	r = h1_parse_response(buf, size, &rs, hdrs, HDR_CAP, opts);
	CHECK(r == -EAGAIN || r == -EBADMSG || r == -E2BIG || r == -EPROTONOSUPPORT ||
	      (r > 0 && (size_t)r <= size));
	CHECK(parse_copy(data, size, &again, again_hdrs, HDR_CAP, opts) == r);
	if (r > 0) {
		check_response(buf, (size_t)r, &rs, hdrs, opts);
		CHECK(again.status == rs.status && again.body == rs.body &&
		      again.content_length == rs.content_length && again.flags == rs.flags);
		if (rs.nheaders)
			CHECK(parse_copy(data, size, &again, again_hdrs, rs.nheaders - 1, opts) ==
			      -E2BIG);
	}
	if (size) {
		check_prefix(data, size - 1, r, opts);
		check_prefix(data, size / 2, r, opts);
		check_prefix(data, (size_t)(hash % size), r, opts);
		if (r > 0)
			check_prefix(data, (size_t)r - 1, r, opts);
	}
	if (r > 0)
		differential(buf, size, (size_t)r, &rs, opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t hash = 1469598103934665603ull;

	for (size_t i = 0; i < size; i++)
		hash = (hash ^ data[i]) * 1099511628211ull;
	run(data, size, hash, 0);
	run(data, size, hash, H1_RESP_HEAD);
	return 0;
}
