// SPDX-License-Identifier: MIT
/*
 * Description: fuzzes the chunked-body scanner h1_chunked_scan() on its own
 * and against llhttp 8.1 in strict mode (LLHTTP_STRICT_MODE, no lenient
 * flags) as an oracle. The input is a body that follows a request head with
 * "Transfer-Encoding: chunked".
 *
 * Our own invariants: feeding the body all at once, a byte at a time, or in
 * pieces of random sizes gives the same answer (the same error, or the same
 * end); each piece is a heap copy of its exact size, so ASan sees overreads;
 * a call returns no more than it was given, and everything it was given
 * unless the body ended inside it; errors are sticky; once done, nothing
 * more is consumed (the next message's bytes stay the caller's).
 *
 * The differential property: if we reach the end of the body after X bytes,
 * llhttp's on_message_complete fires after exactly X bytes; and llhttp never
 * ends the body at a point we scanned past without error.
 *
 * Exemption: llhttp 8.1's chunk-extension parser is stricter than RFC 9112
 * §7.1.1 (it refuses the BWS the grammar allows around ";" and "=" and after
 * the size, and a quoted-pair inside a quoted value) and has a bug (after
 * "name=value", a further ";name" fails with "Invalid character in chunk
 * size"). Extensions never change where a body ends, so when llhttp fails
 * inside the extension part of a size line we accepted, the harness strips
 * every extension and compares the end of the body on that copy instead.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---------------------------------------------------------- own invariants */

enum feed_mode {
	FEED_ALL = 0,
	FEED_BYTES,
	FEED_RANDOM,
};

struct scan_result {
	ssize_t err;	 /* 0 or the -errno the scanner returned */
	size_t consumed; /* body bytes, when err == 0 */
	bool done;	 /* the body ended */
};

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64: any fixed sequence will do, it only has to be repeatable. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void scan(const uint8_t *data, size_t size, enum feed_mode mode, uint64_t seed,
		 struct scan_result *res)
{
	struct h1_chunked c;
	size_t i = 0;

	h1_chunked_init(&c);
	memset(res, 0, sizeof(*res));
	while (i < size) {
		size_t n = size - i;
		char *piece;
		ssize_t k;

		if (mode == FEED_BYTES)
			n = 1;
		else if (mode == FEED_RANDOM)
			n = 1 + (size_t)(next_rand(&seed) % (n < 40 ? n : 40));
		piece = malloc(n);
		CHECK(piece);
		memcpy(piece, data + i, n);
		k = h1_chunked_scan(&c, piece, n);
		free(piece);
		if (k < 0) {
			CHECK(k == -EBADMSG || k == -E2BIG);
			CHECK(!c.done);
			/* Sticky, whatever comes next. */
			CHECK(h1_chunked_scan(&c, "0\r\n\r\n", 5) == k);
			res->err = k;
			return;
		}
		CHECK((size_t)k <= n);
		res->consumed += (size_t)k;
		if (c.done) {
			res->done = true;
			/* The rest, a pipelined message, is not the body's. */
			CHECK(h1_chunked_scan(&c, (const char *)data + i + k,
					      size - i - (size_t)k) == 0);
			return;
		}
		CHECK((size_t)k == n);
		i += n;
	}
	CHECK(h1_chunked_scan(&c, "", 0) == 0);
}

/* ------------------------------------------------------------------ oracle */

static const char req_head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

struct oracle {
	llhttp_t p;
	llhttp_settings_t s;
	bool headers_done;
	bool message_done;
};

static int on_headers_complete(llhttp_t *p)
{
	struct oracle *o = p->data;

	o->headers_done = true;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct oracle *o = p->data;

	o->message_done = true;
	return 0;
}

/*
 * Runs llhttp over the head and then body[0..n) a byte at a time. Returns
 * where the message ended (bytes of body), or SIZE_MAX; *err_at is the body
 * byte llhttp failed on, or SIZE_MAX.
 */
static size_t oracle_end(const char *body, size_t n, size_t *err_at, llhttp_errno_t *err)
{
	struct oracle o;

	memset(&o, 0, sizeof(o));
	llhttp_settings_init(&o.s);
	o.s.on_headers_complete = on_headers_complete;
	o.s.on_message_complete = on_message_complete;
	llhttp_init(&o.p, HTTP_REQUEST, &o.s);
	o.p.data = &o;
	CHECK(llhttp_execute(&o.p, req_head, sizeof(req_head) - 1) == HPE_OK);
	CHECK(o.headers_done && (o.p.flags & F_CHUNKED));
	*err_at = SIZE_MAX;
	*err = HPE_OK;
	for (size_t i = 0; i < n; i++) {
		*err = llhttp_execute(&o.p, body + i, 1);
		if (o.message_done)
			return i + 1;
		if (*err != HPE_OK) {
			*err_at = i;
			break;
		}
	}
	return SIZE_MAX;
}

/*
 * Copies body[0..end), a body we accepted, without chunk extensions into
 * out; says whether byte `at` was inside an extension. Returns the new length.
 */
static size_t strip_extensions(const uint8_t *body, size_t end, size_t at, char *out, bool *in_ext)
{
	size_t pos = 0, n = 0;

	*in_ext = false;
	for (;;) {
		size_t start = pos, ext, cr;
		uint64_t len = 0;

		while (pos < end && ((body[pos] >= '0' && body[pos] <= '9') ||
				     ((body[pos] | 0x20) >= 'a' && (body[pos] | 0x20) <= 'f'))) {
			unsigned c = body[pos] | 0x20;

			len = len * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
			pos++;
		}
		ext = pos;
		while (pos < end && body[pos] != '\r')
			pos++;
		CHECK(pos + 1 < end);
		cr = pos;
		if (at >= ext && at < cr)
			*in_ext = true;
		memcpy(out + n, body + start, ext - start);
		n += ext - start;
		memcpy(out + n, "\r\n", 2);
		n += 2;
		pos = cr + 2;
		if (!len)
			break;
		CHECK(len + 2 <= end - pos);
		memcpy(out + n, body + pos, (size_t)len + 2);
		n += (size_t)len + 2;
		pos += (size_t)len + 2;
	}
	/* The trailer section and the final CR LF, as they are. */
	memcpy(out + n, body + pos, end - pos);
	return n + end - pos;
}

static void differential(const uint8_t *data, size_t size, const struct scan_result *ours)
{
	size_t err_at, end;
	llhttp_errno_t err;

	end = oracle_end((const char *)data, size, &err_at, &err);
	if (end != SIZE_MAX)
		CHECK(ours->err || (ours->done && ours->consumed == end));
	if (!ours->done)
		return;
	if (end == SIZE_MAX && err_at < ours->consumed) {
		/* The exemption: llhttp failed inside a chunk extension. */
		char *out = malloc(ours->consumed);
		size_t n, err2_at;
		bool in_ext;

		CHECK(out);
		n = strip_extensions(data, ours->consumed, err_at, out, &in_ext);
		CHECK(in_ext && (err == HPE_STRICT || err == HPE_INVALID_CHUNK_SIZE));
		end = oracle_end(out, n, &err2_at, &err);
		free(out);
		CHECK(end == n);
		return;
	}
	CHECK(end == ours->consumed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_result all, bytes, pieces;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;

	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 1099511628211ull;
	seed |= 1;
	scan(data, size, FEED_ALL, 0, &all);
	scan(data, size, FEED_BYTES, 0, &bytes);
	scan(data, size, FEED_RANDOM, seed, &pieces);
	CHECK(all.err == bytes.err && all.err == pieces.err);
	if (!all.err) {
		CHECK(all.done == bytes.done && all.done == pieces.done);
		CHECK(all.consumed == bytes.consumed && all.consumed == pieces.consumed);
		CHECK(all.done || all.consumed == size);
	}
	differential(data, size, &all);
	return 0;
}
