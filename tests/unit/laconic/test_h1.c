// SPDX-License-Identifier: MIT
/*
 * Description: laconic/h1: the HTTP/1.x head parser and the chunked scanner.
 * Every rule of h1.h has a test, each request-smuggling vector included;
 * every input is parsed from a guard-page copy (tests/support/guard.h) so a
 * read past the end faults, and every prefix of it is parsed too, checking
 * that a truncated head answers -EAGAIN (or already the final error), never
 * a success.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "h1.h"

#define CAP 16

/* ------------------------------------------------------------------ helpers */

struct preq {
	struct guard_buf g;	    /* the input, ending at a guard page */
	struct h1_request rq;	    /* parse result */
	struct h1_header hdrs[CAP]; /* header array given to the parser */
};

struct presp {
	struct guard_buf g;
	struct h1_response rs;
	struct h1_header hdrs[CAP];
};

static ssize_t parse_req_n(const char *s, size_t len, struct h1_request *rq, struct h1_header *hdrs,
			   size_t cap)
{
	struct guard_buf g;
	ssize_t r;

	assert_non_null(guard_copy(&g, s, len));
	r = h1_parse_request(g.data, len, rq, hdrs, cap);
	guard_free(&g);
	return r;
}

static ssize_t parse_resp_n(const char *s, size_t len, unsigned opts)
{
	struct h1_header hdrs[CAP];
	struct h1_response rs;
	struct guard_buf g;
	ssize_t r;

	assert_non_null(guard_copy(&g, s, len));
	r = h1_parse_response(g.data, len, &rs, hdrs, CAP, opts);
	guard_free(&g);
	return r;
}

/*
 * The answer for the whole of s, after checking every prefix of it: a
 * prefix answers -EAGAIN, or already the final error; never a success
 * unless it holds the whole head.
 */
static ssize_t req_ret(const char *s)
{
	struct h1_header hdrs[CAP];
	struct h1_request rq;
	size_t len = strlen(s);
	ssize_t full = parse_req_n(s, len, &rq, hdrs, CAP);

	for (size_t k = 0; k < len; k++) {
		ssize_t r = parse_req_n(s, k, &rq, hdrs, CAP);

		if (r != -EAGAIN && r != full)
			fail_msg("prefix %zu of \"%s\": %zd, whole: %zd", k, s, r, full);
		if (full > 0 && k >= (size_t)full)
			assert_int_equal(r, full);
	}
	return full;
}

static ssize_t resp_ret(const char *s, unsigned opts)
{
	size_t len = strlen(s);
	ssize_t full = parse_resp_n(s, len, opts);

	for (size_t k = 0; k < len; k++) {
		ssize_t r = parse_resp_n(s, k, opts);

		if (r != -EAGAIN && r != full)
			fail_msg("prefix %zu of \"%s\": %zd, whole: %zd", k, s, r, full);
	}
	return full;
}

/* Parses s (its prefixes checked first) and keeps it mapped for the views. */
static ssize_t req(struct preq *p, const char *s)
{
	req_ret(s);
	assert_non_null(guard_str(&p->g, s));
	return h1_parse_request(p->g.data, p->g.len, &p->rq, p->hdrs, CAP);
}

static ssize_t resp(struct presp *p, const char *s, unsigned opts)
{
	resp_ret(s, opts);
	assert_non_null(guard_str(&p->g, s));
	return h1_parse_response(p->g.data, p->g.len, &p->rs, p->hdrs, CAP, opts);
}

static void assert_view(struct h1_str v, const char *want)
{
	if (v.len != strlen(want) || memcmp(v.ptr, want, v.len) != 0)
		fail_msg("view \"%.*s\", want \"%s\"", (int)v.len, v.ptr, want);
}

/* The flags of a request head that must parse. */
static unsigned req_flags(const char *s)
{
	struct preq p;
	unsigned flags;

	assert_int_equal(req(&p, s), (ssize_t)strlen(s));
	flags = p.rq.flags;
	guard_free(&p.g);
	return flags;
}

/* ----------------------------------------------------------------- requests */

static void test_request_basic(void **state)
{
	static const char s[] = "GET /index.html?q=1 HTTP/1.1\r\n"
				"Host: example.com:8080\r\n"
				"User-Agent:  curl/8.0 \t\r\n"
				"Empty:\r\n"
				"X-Obs: caf\xc3\xa9\r\n"
				"\r\n";
	struct preq p;

	(void)state;
	assert_int_equal(req(&p, s), (ssize_t)strlen(s));
	assert_view(p.rq.method, "GET");
	assert_view(p.rq.target, "/index.html?q=1");
	assert_view(p.rq.host, "example.com:8080");
	assert_int_equal(p.rq.minor_version, 1);
	assert_ptr_equal(p.rq.headers, p.hdrs);
	assert_int_equal(p.rq.nheaders, 4);
	assert_view(p.hdrs[0].name, "Host");
	/* OWS around the value is not part of it; the name keeps its case. */
	assert_view(p.hdrs[1].name, "User-Agent");
	assert_view(p.hdrs[1].value, "curl/8.0");
	assert_view(p.hdrs[2].value, "");
	assert_view(p.hdrs[3].value, "caf\xc3\xa9");
	assert_int_equal(p.rq.body, H1_BODY_NONE);
	assert_int_equal(p.rq.flags, 0);
	/* Zero-copy: the views point into the caller's buffer. */
	assert_ptr_equal(p.rq.method.ptr, p.g.data);
	guard_free(&p.g);

	/* HTTP/1.0 needs no Host; the view is then empty. */
	assert_int_equal(req(&p, "GET / HTTP/1.0\r\n\r\n"), 18);
	assert_int_equal(p.rq.minor_version, 0);
	assert_int_equal(p.rq.host.len, 0);
	assert_non_null(p.rq.host.ptr);
	assert_int_equal(p.rq.nheaders, 0);
	guard_free(&p.g);

	/* Any token is a method; any visible byte, obs-text too, is target. */
	assert_int_equal(req_ret("M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n"), 32);
	assert_int_equal(req_ret("get /\xff HTTP/1.1\r\nHost: h\r\n\r\n"), 28);
	assert_int_equal(req_ret("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), 39);
	assert_int_equal(req_ret("GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n"), 36);
	/* An empty Host is how a request without authority says so. */
	assert_int_equal(req_ret("OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n"), 29);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 34);
}

static void test_request_leading_crlf_and_pipelining(void **state)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
				  "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	struct preq p;
	ssize_t r;

	(void)state;
	/* Empty lines before the request line are skipped, and count in the length. */
	assert_int_equal(req(&p, "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 31);
	assert_view(p.rq.method, "GET");
	guard_free(&p.g);
	assert_int_equal(req_ret("\r\n"), -EAGAIN);
	assert_int_equal(req_ret("\r\r\nGET / HTTP/1.0\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("\nGET / HTTP/1.0\r\n\r\n"), -EBADMSG);

	/* The head ends at its empty line; the next message is not consumed. */
	r = req(&p, two);
	assert_int_equal(r, 28);
	assert_view(p.rq.target, "/a");
	assert_int_equal(h1_parse_request(p.g.data + r, p.g.len - (size_t)r, &p.rq, p.hdrs, CAP),
			 28);
	assert_view(p.rq.target, "/b");
	guard_free(&p.g);
}

static void test_request_split_points(void **state)
{
	static const char *const valid[] = {
		"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nA: \r\nB:\t\tx\t\r\n\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		const char *s = valid[i];
		const char *end = strstr(s, "\r\n\r\n");
		size_t head = (size_t)(end - s) + 4;
		struct h1_header hdrs[CAP];
		struct h1_request rq;

		/* req_ret() checks that each shorter prefix gives -EAGAIN. */
		assert_int_equal(req_ret(s), (ssize_t)head);
		for (size_t k = 0; k < head; k++)
			assert_int_equal(parse_req_n(s, k, &rq, hdrs, CAP), -EAGAIN);
	}
}

static void test_request_line_errors(void **state)
{
	(void)state;
	assert_int_equal(req_ret(" / HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("G@T / HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / http/1.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/11.1\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET /\r\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\nHost: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\rHost: h\r\n\r\n"), -EBADMSG);
	/* Well-formed versions we do not speak: 505, not 400. */
	assert_int_equal(req_ret("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), -EPROTONOSUPPORT);
	assert_int_equal(req_ret("GET / HTTP/0.9\r\n\r\n"), -EPROTONOSUPPORT);
	assert_int_equal(req_ret("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), -EPROTONOSUPPORT);
	assert_int_equal(req_ret("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -EPROTONOSUPPORT);
	/* Truncated: -EAGAIN whatever the cut (req_ret checks every cut). */
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\n"), -EAGAIN);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\n\r"), -EAGAIN);
	/* An invalid byte is refused before the head is complete. */
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nFoo Bar"), -EBADMSG);
	assert_int_equal(req_ret("GE\x01"), -EBADMSG);
}

static void test_request_smuggling(void **state)
{
	(void)state;
	/* CL + TE, in either order. */
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
				 "Content-Length: 5\r\n\r\n"),
			 -EBADMSG);
	/* Two Content-Length lines, even equal; a list; not 1..19 digits. */
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
				 "Content-Length: 6\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
				 "content-length: 5\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 18446744073709551616\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 10000000000000000000\r\n\r\n"),
			 -EBADMSG);
	/* obs-fold, on the first header line and on a later one, SP and HTAB. */
	assert_int_equal(req_ret("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n"
				 " chunked\r\n\r\n"),
			 -EBADMSG);
	/* Bare LF anywhere. */
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\n\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\n\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), -EBADMSG);
	/* Whitespace before the colon; an empty name; a non-tchar in a name. */
	assert_int_equal(
		req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n"),
		-EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 1\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\nA(b): x\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), -EBADMSG);
	/* CTLs other than HTAB, and DEL, in a value. */
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), -EBADMSG);
	{
		static const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
		struct h1_header hdrs[CAP];
		struct h1_request rq;

		assert_int_equal(parse_req_n(nul, sizeof(nul) - 1, &rq, hdrs, CAP), -EBADMSG);
	}
	/* Transfer-Encoding: chunked not last, twice, two lines, list oddities. */
	assert_int_equal(
		req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n"
			"\r\n"),
		-EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\n"
				 "Transfer-Encoding: chunked, chunked\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(
		req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n"),
		-EBADMSG);
	assert_int_equal(
		req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n"),
		-EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\n"
				 "Transfer-Encoding: chunked;x=1\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n"
				 "\r\n"),
			 -EBADMSG);
	/* A last coding other than chunked on a request: 501. */
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
			 -ENOTSUP);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\n"
				 "Transfer-Encoding: chunked2\r\n\r\n"),
			 -ENOTSUP);
	/* HTTP/1.0 has no chunked coding; its framing would be faulty. */
	assert_int_equal(req_ret("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 -EBADMSG);
	/* Host: required in 1.1, once, and shaped like an authority. */
	assert_int_equal(req_ret("GET / HTTP/1.1\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nX: y\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), -EBADMSG);
	assert_int_equal(req_ret("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -EBADMSG);
	/* Names that CGI-style servers fold into the framing headers. */
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent_Length: 5\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(
		req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer_encoding: chunked\r\n\r\n"),
		-EBADMSG);
	/* HTAB, even as OWS, in a framing header: parsers disagree on it. */
	assert_int_equal(
		req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n"),
		-EBADMSG);
	assert_int_equal(
		req_ret("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\n\r\n"),
		-EBADMSG);
	assert_int_equal(req_ret("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\t\r\n\r\n"),
			 -EBADMSG);
	/* Errors are found left to right: the earliest wins. */
	assert_int_equal(req_ret("GET / HTTP/2.0\r\nFoo Bar\r\n\r\n"), -EPROTONOSUPPORT);
}

static void test_request_framing(void **state)
{
	struct preq p;

	(void)state;
	assert_int_equal(req(&p, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 27);
	assert_int_equal(p.rq.body, H1_BODY_NONE);
	guard_free(&p.g);
	assert_int_equal(req(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), 47);
	assert_int_equal(p.rq.body, H1_BODY_LENGTH);
	assert_int_equal(p.rq.content_length, 0);
	guard_free(&p.g);
	assert_int_equal(req(&p, "POST / HTTP/1.1\r\nHost: h\r\ncontent-length:  0042 \r\n\r\n"),
			 52);
	assert_int_equal(p.rq.body, H1_BODY_LENGTH);
	assert_int_equal(p.rq.content_length, 42);
	guard_free(&p.g);
	/* 19 digits is the limit, and always fits in 64 bits. */
	assert_int_equal(req(&p, "POST / HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 9999999999999999999\r\n\r\n"),
			 65);
	assert_true(p.rq.content_length == 9999999999999999999ull);
	guard_free(&p.g);
	assert_int_equal(req(&p,
			     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip , CHUNKED\r\n"
			     "\r\n"),
			 63);
	assert_int_equal(p.rq.body, H1_BODY_CHUNKED);
	guard_free(&p.g);
	/* HTTP/1.0 with Content-Length. */
	assert_int_equal(req(&p, "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"), 38);
	assert_int_equal(p.rq.body, H1_BODY_LENGTH);
	assert_int_equal(p.rq.content_length, 3);
	guard_free(&p.g);
}

static void test_request_flags(void **state)
{
	(void)state;
	/* HTTP/1.1: close only when asked; HTTP/1.0: unless keep-alive. */
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
			 H1_F_CLOSE | H1_F_CONN_HEADER);
	assert_int_equal(
		req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive ,\tCLOSE \r\n"
			  "\r\n"),
		H1_F_CLOSE | H1_F_CONN_HEADER);
	assert_int_equal(
		req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, xclose\r\n\r\n"),
		H1_F_CONN_HEADER);
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\n"
				   "Connection: close\r\n\r\n"),
			 H1_F_CLOSE | H1_F_CONN_HEADER);
	assert_int_equal(req_flags("GET / HTTP/1.0\r\n\r\n"), H1_F_CLOSE);
	assert_int_equal(req_flags("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
			 H1_F_CONN_HEADER);
	assert_int_equal(req_flags("GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n"),
			 H1_F_CONN_HEADER);
	/* Both listed: close wins. */
	assert_int_equal(req_flags("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
			 H1_F_CLOSE | H1_F_CONN_HEADER);
	/* Upgrade needs both headers, and HTTP/1.1. */
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
				   "Upgrade: websocket\r\n\r\n"),
			 H1_F_UPGRADE | H1_F_CONN_HEADER);
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
				   "Connection: keep-alive, upgrade\r\n\r\n"),
			 H1_F_UPGRADE | H1_F_CONN_HEADER);
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n"),
			 H1_F_CONN_HEADER);
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"), 0);
	assert_int_equal(
		req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: \r\n"
			  "\r\n"),
		H1_F_CONN_HEADER);
	assert_int_equal(req_flags("GET / HTTP/1.0\r\nConnection: upgrade, keep-alive\r\n"
				   "Upgrade: websocket\r\n\r\n"),
			 H1_F_CONN_HEADER);
	/* Expect: 100-continue, exactly, in HTTP/1.1. */
	assert_int_equal(req_flags("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
				   "Content-Length: 1\r\n\r\n"),
			 H1_F_EXPECT_100);
	assert_int_equal(req_flags("POST / HTTP/1.1\r\nHost: h\r\nexpect:  100-continue \r\n\r\n"),
			 H1_F_EXPECT_100);
	assert_int_equal(req_flags("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue2\r\n\r\n"),
			 0);
	assert_int_equal(req_flags("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), H1_F_CLOSE);
	/* X-Forwarded-For is noted, whatever its case. */
	assert_int_equal(req_flags("GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-for: 1.2.3.4\r\n\r\n"),
			 H1_F_HAS_XFF);
}

static void test_request_too_many_headers(void **state)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
	struct h1_header hdrs[3];
	struct h1_request rq;

	(void)state;
	assert_int_equal(parse_req_n(s, strlen(s), &rq, hdrs, 3), (ssize_t)strlen(s));
	assert_int_equal(rq.nheaders, 3);
	assert_int_equal(parse_req_n(s, strlen(s), &rq, hdrs, 2), -E2BIG);
	/* Known as soon as the line that does not fit is complete. */
	assert_int_equal(parse_req_n(s, strlen(s) - 2, &rq, hdrs, 2), -E2BIG);
	assert_int_equal(parse_req_n(s, strlen(s) - 3, &rq, hdrs, 2), -EAGAIN);
	/* No room at all is fine for a head without header lines. */
	assert_int_equal(parse_req_n("GET / HTTP/1.0\r\n\r\n", 18, &rq, NULL, 0), 18);
	assert_int_equal(parse_req_n(s, strlen(s), &rq, NULL, 0), -E2BIG);
}

/* ---------------------------------------------------------------- responses */

static void test_response_status_line(void **state)
{
	struct presp p;

	(void)state;
	assert_int_equal(resp(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0), 38);
	assert_int_equal(p.rs.status, 200);
	assert_view(p.rs.reason, "OK");
	assert_int_equal(p.rs.minor_version, 1);
	assert_int_equal(p.rs.nheaders, 1);
	assert_view(p.hdrs[0].value, "0");
	guard_free(&p.g);
	/* The reason may be empty, with or without its SP, or hold SP and obs-text. */
	assert_int_equal(resp(&p, "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0), 36);
	assert_view(p.rs.reason, "");
	guard_free(&p.g);
	assert_int_equal(resp(&p, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0), 35);
	assert_view(p.rs.reason, "");
	guard_free(&p.g);
	assert_int_equal(resp(&p, "HTTP/1.0 404 Not \xc3\xa9\tFound\r\n\r\n", 0), 29);
	assert_view(p.rs.reason, "Not \xc3\xa9\tFound");
	assert_int_equal(p.rs.minor_version, 0);
	assert_int_equal(p.rs.status, 404);
	guard_free(&p.g);
	assert_int_equal(resp_ret("HTTP/1.1 999 X\r\n\r\n", 0), 18);
	assert_int_equal(resp_ret("HTTP/1.1 100 Continue\r\n\r\n", 0), 25);

	assert_int_equal(resp_ret("HTTP/1.1 099 X\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 20 X\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 2000 X\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 20x X\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1  200 X\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 -200 X\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1\t200 X\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 200 O\x01K\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 200 OK\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 200 OK\r\nA: b\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 200 OK\r\n b: c\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("http/1.1 200 OK\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("\r\nHTTP/1.1 200 OK\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp_ret("HTTP/2.0 200 OK\r\n\r\n", 0), -EPROTONOSUPPORT);
	assert_int_equal(resp_ret("HTTP/1.1 200 OK\r\n", 0), -EAGAIN);
}

static unsigned resp_body(const char *s, unsigned opts, uint64_t *cl, unsigned *flags)
{
	struct presp p;
	unsigned body;

	assert_true(resp(&p, s, opts) > 0);
	body = p.rs.body;
	*cl = p.rs.content_length;
	*flags = p.rs.flags;
	guard_free(&p.g);
	return body;
}

static void test_response_framing(void **state)
{
	uint64_t cl;
	unsigned f;

	(void)state;
	assert_int_equal(resp_body("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", 0, &cl, &f),
			 H1_BODY_LENGTH);
	assert_int_equal(cl, 12);
	assert_int_equal(f, 0);
	assert_int_equal(
		resp_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &cl, &f),
		H1_BODY_CHUNKED);
	/* No length at all, or a coding we cannot frame: until the server closes. */
	assert_int_equal(resp_body("HTTP/1.1 200 OK\r\n\r\n", 0, &cl, &f), H1_BODY_CLOSE);
	assert_int_equal(f, H1_F_CLOSE);
	assert_int_equal(
		resp_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, &cl, &f),
		H1_BODY_CLOSE);
	assert_int_equal(f, H1_F_CLOSE);
	/* No body for 1xx, 204, 304 and HEAD, whatever the headers say. */
	assert_int_equal(resp_body("HTTP/1.1 100 Continue\r\n\r\n", 0, &cl, &f), H1_BODY_NONE);
	assert_int_equal(
		resp_body("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0, &cl, &f),
		H1_BODY_NONE);
	assert_int_equal(cl, 0);
	assert_int_equal(
		resp_body("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 0, &cl, &f),
		H1_BODY_NONE);
	assert_int_equal(
		resp_body("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &cl,
			  &f),
		H1_BODY_NONE);
	assert_int_equal(
		resp_body("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", H1_RESP_HEAD, &cl, &f),
		H1_BODY_NONE);
	assert_int_equal(resp_body("HTTP/1.1 200 OK\r\n\r\n", H1_RESP_HEAD, &cl, &f), H1_BODY_NONE);
	assert_int_equal(f, 0);
	assert_int_equal(resp_body("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
				   "Upgrade: websocket\r\n\r\n",
				   0, &cl, &f),
			 H1_BODY_NONE);
	assert_int_equal(f, H1_F_UPGRADE | H1_F_CONN_HEADER);
	/* Connection semantics, as for requests. */
	assert_int_equal(resp_body("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, &cl, &f),
			 H1_BODY_LENGTH);
	assert_int_equal(f, H1_F_CLOSE);
	assert_int_equal(resp_body("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
				   "Content-Length: 1\r\n\r\n",
				   0, &cl, &f),
			 H1_BODY_LENGTH);
	assert_int_equal(f, H1_F_CONN_HEADER);
	assert_int_equal(resp_body("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n"
				   "\r\n",
				   0, &cl, &f),
			 H1_BODY_LENGTH);
	assert_int_equal(f, H1_F_CLOSE | H1_F_CONN_HEADER);
	/* Request-only headers mean nothing in a response. */
	assert_int_equal(
		resp_body("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nExpect: 100-continue\r\n"
			  "X-Forwarded-For: x\r\nContent-Length: 0\r\n\r\n",
			  0, &cl, &f),
		H1_BODY_LENGTH);
	assert_int_equal(f, 0);

	/* The smuggling rules hold for responses, and for bodiless ones too. */
	assert_int_equal(resp_ret("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n",
				  0),
			 -EBADMSG);
	assert_int_equal(
		resp_ret("HTTP/1.1 304 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 0),
		-EBADMSG);
	assert_int_equal(
		resp_ret("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
			 H1_RESP_HEAD),
		-EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0),
			 -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
			 -EBADMSG);
	assert_int_equal(resp_ret("HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", 0), -EBADMSG);
	{
		struct h1_header hdrs[1];
		struct h1_response rs;

		assert_int_equal(h1_parse_response("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", 32,
						   &rs, hdrs, 1, 0),
				 -E2BIG);
	}
}

static void test_response_split_points(void **state)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
	size_t head = strlen(s) - 5;

	(void)state;
	for (size_t k = 0; k < head; k++)
		assert_int_equal(parse_resp_n(s, k, 0), -EAGAIN);
	for (size_t k = head; k <= strlen(s); k++)
		assert_int_equal(parse_resp_n(s, k, 0), (ssize_t)head);
}

/* ------------------------------------------------------------------ chunked */

/* Scans all of s at once from a guard-page copy; *done as the scanner says. */
static ssize_t chunk_all(const char *s, size_t len, bool *done)
{
	struct h1_chunked c;
	struct guard_buf g;
	ssize_t r;

	memset(&c, 0, sizeof(c)); /* zero-filled works as well as h1_chunked_init() */
	assert_non_null(guard_copy(&g, s, len));
	r = h1_chunked_scan(&c, g.data, len);
	guard_free(&g);
	*done = c.done;
	return r;
}

/* The same, a byte at a time, each byte alone before a guard page. */
static ssize_t chunk_bytes(const char *s, size_t len, bool *done)
{
	struct h1_chunked c;
	struct guard_buf g;
	size_t used = 0;
	ssize_t r = 0;

	h1_chunked_init(&c);
	/* One mapping, its single byte rewritten for each call. */
	assert_non_null(guard_copy(&g, "", 1));
	for (size_t i = 0; i < len && !c.done; i++) {
		g.data[0] = s[i];
		r = h1_chunked_scan(&c, g.data, 1);
		if (r < 0)
			break;
		used += (size_t)r;
	}
	guard_free(&g);
	*done = c.done;
	return r < 0 ? r : (ssize_t)used;
}

/* Both ways must agree; returns the answer. */
static ssize_t chunk(const char *s, bool *done)
{
	size_t len = strlen(s);
	bool d1, d2;
	ssize_t a = chunk_all(s, len, &d1), b = chunk_bytes(s, len, &d2);

	if (a != b || d1 != d2)
		fail_msg("\"%s\": at once %zd/%d, bytewise %zd/%d", s, a, d1, b, d2);
	*done = d1;
	return a;
}

static void test_chunked_valid(void **state)
{
	static const struct {
		const char *body; /* the body, then maybe a pipelined request */
		size_t end;	  /* where the body ends */
	} cases[] = {
		{ "0\r\n\r\n", 5 },
		{ "5\r\nhello\r\n0\r\n\r\n", 15 },
		{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 26 },
		{ "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", 35 },
		{ "000\r\n\r\n", 7 },
		{ "0\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 5 },
		{ "1\r\nx\r\n0\r\n\r\nPOST", 11 },
		/* Trailers. */
		{ "0\r\nExpires: never\r\nX-Sum: abc\t\r\n\r\n", 34 },
		{ "1\r\nx\r\n0\r\nA:\r\n\r\nrest", 15 },
		{ "0\r\nContent-Lengt: 1\r\nContent-Lengths: 1\r\nTransfer-Encodin: x\r\n\r\n",
		  64 },
		/* Extensions, every form of the grammar. */
		{ "1;a\r\nx\r\n0\r\n\r\n", 13 },
		{ "1;a=b\r\nx\r\n0\r\n\r\n", 15 },
		{ "1;a=b;c=d;e\r\nx\r\n0\r\n\r\n", 21 },
		{ "1 ; a = b\r\nx\r\n0\r\n\r\n", 19 },
		{ "1\t;a\r\nx\r\n0\r\n\r\n", 14 },
		{ "1;a=\"b c;\\\"d\"\r\nx\r\n0\r\n\r\n", 23 },
		{ "1;a=\"\" ;b\r\nx\r\n0\r\n\r\n", 19 },
		{ "0;last\r\n\r\n", 10 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool done;

		assert_int_equal(chunk(cases[i].body, &done), (ssize_t)cases[i].end);
		assert_true(done);
	}
}

static void test_chunked_incremental(void **state)
{
	static const char body[] = "1a;x=y\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: v\r\n\r\nNEXT";
	size_t len = strlen(body), end = len - 4;
	struct h1_chunked c;
	bool done;

	(void)state;
	/* Every split into two pieces gives the same end. */
	for (size_t k = 0; k <= len; k++) {
		struct guard_buf g1, g2;
		ssize_t a, b;

		h1_chunked_init(&c);
		assert_non_null(guard_copy(&g1, body, k));
		assert_non_null(guard_copy(&g2, body + k, len - k));
		a = h1_chunked_scan(&c, g1.data, k);
		assert_int_equal(a, k <= end ? (ssize_t)k : (ssize_t)end);
		b = h1_chunked_scan(&c, g2.data, len - k);
		assert_int_equal(a + b, (ssize_t)end);
		assert_true(c.done);
		guard_free(&g1);
		guard_free(&g2);
	}
	/* Not done yet: all bytes given belong to the body. */
	assert_int_equal(chunk("5\r\nhel", &done), 6);
	assert_false(done);
	assert_int_equal(chunk("5\r\nhello\r\n0\r\nX: y\r\n", &done), 19);
	assert_false(done);
	/* Once done, further calls take nothing. */
	h1_chunked_init(&c);
	assert_int_equal(h1_chunked_scan(&c, "0\r\n\r\n", 5), 5);
	assert_true(c.done);
	assert_int_equal(h1_chunked_scan(&c, "0\r\n\r\n", 5), 0);
	/* The largest size: 15 hex digits. */
	h1_chunked_init(&c);
	assert_int_equal(h1_chunked_scan(&c, "fffffffffffffff\r\nab", 19), 19);
	assert_true(c.remaining == 0xfffffffffffffffull - 2);
	assert_false(c.done);
}

static void test_chunked_errors(void **state)
{
	static const char *const bad[] = {
		"\r\n",	 /* no size */
		"x\r\n", /* not hex */
		"-1\r\n",
		"0x1\r\n",
		"+1\r\n",
		" 1\r\n",
		"1\n", /* bare LF after the size */
		"1\r\r\n",
		"1\r\nx\n",    /* bare LF after the data */
		"1\r\nxx\r\n", /* data longer than the size */
		"1\r\nx\r0\r\n",
		"0000000000000001\r\n",	 /* 16 digits, leading zeros count */
		"10000000000000000\r\n", /* would overflow */
		"1 \r\n",		 /* BWS must lead to ";" */
		"1;\r\n",		 /* empty extension name */
		"1;=a\r\n",
		"1;a=\r\n", /* empty value */
		"1;a=b c\r\n",
		"1;a=\"b\r\n", /* unterminated quoted string */
		"1;a=\"b\"c\r\n",
		"1;a=\"\x01\"\r\n",
		"1;a=\"\\\x01\"\r\n",
		"1;a\nb\r\n", /* bare LF in an extension */
		"1;a=b\n",
		"1;a\x7f\r\n",
		"0\r\n\n", /* bare LF ending the trailers */
		"0\r\nA: b\n\r\n",
		"0\r\n b: c\r\n\r\n", /* obs-fold in the trailers */
		"0\r\nA b\r\n\r\n",   /* not a field line */
		"0\r\nA : b\r\n\r\n",
		"0\r\n: b\r\n\r\n",
		"0\r\nA: \x01\r\n\r\n",
		"0\r\nGET / HTTP/1.1\r\n\r\n",
		"0\r\nContent-Length: 5\r\n\r\n", /* framing fields in trailers */
		"0\r\ntransfer-encoding: chunked\r\n\r\n",
		"0\r\nX: y\r\nContent_Length: 5\r\n\r\n",
		"0\r\n\rX",
	};
	struct h1_chunked c;
	bool done;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (chunk(bad[i], &done) != -EBADMSG)
			fail_msg("\"%s\" accepted", bad[i]);
	}
	/* Errors are sticky. */
	h1_chunked_init(&c);
	assert_int_equal(h1_chunked_scan(&c, "z", 1), -EBADMSG);
	assert_int_equal(h1_chunked_scan(&c, "0\r\n\r\n", 5), -EBADMSG);
	assert_int_equal(h1_chunked_scan(&c, "", 0), -EBADMSG);
	assert_false(c.done);
}

/* Copies s with its NUL, which the next write may overwrite. */
static void put(char *dst, const char *s)
{
	memcpy(dst, s, strlen(s) + 1);
}

static void test_chunked_limits(void **state)
{
	char buf[H1_TRAILER_MAX + 64];
	size_t n;
	bool done;

	(void)state;
	/* A size line of exactly H1_CHUNK_LINE_MAX bytes passes; one more fails. */
	memset(buf, 0, sizeof(buf));
	put(buf, "0;");
	memset(buf + 2, 'e', H1_CHUNK_LINE_MAX - 2);
	put(buf + H1_CHUNK_LINE_MAX, "\r\n\r\n");
	assert_int_equal(chunk(buf, &done), H1_CHUNK_LINE_MAX + 4);
	assert_true(done);
	memset(buf + 2, 'e', H1_CHUNK_LINE_MAX - 1);
	put(buf + H1_CHUNK_LINE_MAX + 1, "\r\n\r\n");
	assert_int_equal(chunk(buf, &done), -EBADMSG);

	/* The same for a trailer line. */
	memset(buf, 0, sizeof(buf));
	put(buf, "0\r\nA:");
	memset(buf + 5, 'v', H1_CHUNK_LINE_MAX - 2);
	put(buf + 3 + H1_CHUNK_LINE_MAX, "\r\n\r\n");
	assert_int_equal(chunk(buf, &done), H1_CHUNK_LINE_MAX + 7);
	buf[3 + H1_CHUNK_LINE_MAX] = 'v';
	put(buf + 4 + H1_CHUNK_LINE_MAX, "\r\n\r\n");
	assert_int_equal(chunk(buf, &done), -EBADMSG);

	/*
	 * Trailer lines (CR LF included) adding up to exactly H1_TRAILER_MAX
	 * bytes pass; one byte more is -E2BIG.
	 */
	memset(buf, 0, sizeof(buf));
	put(buf, "0\r\n");
	n = 3;
	while (n - 3 < H1_TRAILER_MAX) {
		size_t line = H1_TRAILER_MAX - (n - 3) < 100 ? H1_TRAILER_MAX - (n - 3) : 100;

		memset(buf + n, 'a', line - 2);
		buf[n + 1] = ':';
		put(buf + n + line - 2, "\r\n");
		n += line;
	}
	put(buf + n, "\r\n");
	assert_int_equal(chunk(buf, &done), (ssize_t)n + 2);
	assert_true(done);
	buf[n - 2] = 'b';
	put(buf + n - 1, "\r\n\r\n");
	assert_int_equal(chunk(buf, &done), -E2BIG);
}

/* -------------------------------------------------------------------- misc */

static void test_str_eq_and_reason(void **state)
{
	struct h1_str s = { "Content-Length", 14 };
	struct h1_str empty = { "", 0 };

	(void)state;
	assert_true(h1_str_eq(s, "content-length"));
	assert_true(h1_str_eq(s, "CONTENT-LENGTH"));
	assert_false(h1_str_eq(s, "content-lengt"));
	assert_false(h1_str_eq(s, "content-lengthx"));
	assert_false(h1_str_eq(s, "content_length"));
	assert_true(h1_str_eq(empty, ""));
	assert_false(h1_str_eq(empty, "a"));
	/* Only ASCII letters fold: '@' is not '`'. */
	assert_false(h1_str_eq((struct h1_str){ "@", 1 }, "`"));

	assert_string_equal(h1_reason(200), "OK");
	assert_string_equal(h1_reason(400), "Bad Request");
	assert_string_equal(h1_reason(431), "Request Header Fields Too Large");
	assert_string_equal(h1_reason(502), "Bad Gateway");
	assert_string_equal(h1_reason(505), "HTTP Version Not Supported");
	assert_string_equal(h1_reason(299), "Success");
	assert_string_equal(h1_reason(418), "Client Error");
	assert_string_equal(h1_reason(599), "Server Error");
	assert_string_equal(h1_reason(999), "Unknown");
	for (int st = 100; st < 1000; st++)
		assert_true(h1_reason(st)[0] != '\0');
}

static void test_guard_page(void **state)
{
	struct guard_buf g;

	(void)state;
	/* The copy ends exactly where the guard page begins. */
	assert_non_null(guard_str(&g, "abc"));
	assert_int_equal((uintptr_t)(g.data + 3) % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
	assert_memory_equal(g.data, "abc", 3);
	guard_free(&g);
	assert_non_null(guard_copy(&g, "", 0));
	guard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_basic),
		cmocka_unit_test(test_request_leading_crlf_and_pipelining),
		cmocka_unit_test(test_request_split_points),
		cmocka_unit_test(test_request_line_errors),
		cmocka_unit_test(test_request_smuggling),
		cmocka_unit_test(test_request_framing),
		cmocka_unit_test(test_request_flags),
		cmocka_unit_test(test_request_too_many_headers),
		cmocka_unit_test(test_response_status_line),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_response_split_points),
		cmocka_unit_test(test_chunked_valid),
		cmocka_unit_test(test_chunked_incremental),
		cmocka_unit_test(test_chunked_errors),
		cmocka_unit_test(test_chunked_limits),
		cmocka_unit_test(test_str_eq_and_reason),
		cmocka_unit_test(test_guard_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
