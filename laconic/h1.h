/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x message-head parser and chunked-body scanner for the load balancer.
 *
 * Contract (picohttpparser's, with -errno codes instead of -1/-2):
 *   - stateless for heads: call again on the whole buffer when more bytes
 *     arrive; nothing is remembered between calls;
 *   - zero-copy: every string in the output points into the caller's buffer,
 *     which must outlive the use of the result; nothing is NUL-terminated;
 *   - never reads beyond buf[len - 1]; never allocates; never writes to buf.
 *
 * Return value of h1_parse_request() / h1_parse_response():
 *   > 0          length of the head, CRLF CRLF included (body starts there)
 *   -EAGAIN      the head is incomplete: read more and call again
 *                (the caller enforces its own size limit: when the buffer is
 *                full and the result is still -EAGAIN, answer 431)
 *   -EBADMSG     malformed or ambiguous: answer 400 (request) / 502 (response)
 *   -E2BIG       more header lines than hdr_cap: answer 431
 *   -EPROTONOSUPPORT  HTTP version other than 1.0 or 1.1: answer 505
 *   -ENOTSUP     a Transfer-Encoding whose last coding is not "chunked" on a
 *                request (a proxy cannot frame it): answer 501
 *
 * The parser is strict exactly where leniency lets two parsers disagree on
 * message boundaries (request smuggling, RFC 9112 §11.2). Rejected with
 * -EBADMSG:
 *   - a bare LF anywhere in the head (every line must end in CR LF);
 *   - obsolete line folding (a header line beginning with SP or HTAB);
 *   - whitespace between a header name and its colon; an empty name;
 *   - a byte outside tchar in a method or header name; a CTL other than HTAB,
 *     or DEL, in a header value or the request target; an empty target;
 *   - both Content-Length and Transfer-Encoding;
 *   - more than one Content-Length line (even with equal values), a value that
 *     is not 1..19 decimal digits, or a comma list;
 *   - more than one Transfer-Encoding line; "chunked" anywhere but last;
 *   - HTTP/1.1 request without Host, or more than one Host line;
 *   - a response status outside 100..999 or not exactly three digits.
 * Leading empty lines before a request line (RFC 9112 §2.2) are skipped only
 * when they are CR LF.
 *
 * Framing (RFC 9112 §6.3) is computed here, so every user frames alike:
 *   request:  chunked if Transfer-Encoding ends in chunked; else
 *             Content-Length; else no body.
 *   response: no body for 1xx, 204, 304 and answers to HEAD (the caller says
 *             so with H1_RESP_HEAD); else chunked; else Content-Length; else
 *             until the server closes.
 */
#ifndef LACONIC_H1_H
#define LACONIC_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A view into the caller's buffer (HAProxy's ist). */
struct h1_str {
	const char *ptr;
	size_t len;
};

struct h1_header {
	struct h1_str name;  /* token, case as sent */
	struct h1_str value; /* leading and trailing SP/HTAB removed; may be empty */
};

enum h1_body {
	H1_BODY_NONE = 0, /* the head is the whole message */
	H1_BODY_LENGTH,	  /* exactly content_length bytes follow */
	H1_BODY_CHUNKED,  /* scan with struct h1_chunked */
	H1_BODY_CLOSE,	  /* response only: until the server closes */
};

/* Connection semantics, folded from the version and the Connection header. */
#define H1_F_CLOSE	 0x01u /* the connection ends after this message */
#define H1_F_UPGRADE	 0x02u /* Connection: upgrade with an Upgrade header */
#define H1_F_EXPECT_100	 0x04u /* request: Expect: 100-continue */
#define H1_F_HAS_XFF	 0x08u /* request: an X-Forwarded-For header is present */
#define H1_F_CONN_HEADER 0x10u /* a Connection header is present */

struct h1_request {
	struct h1_str method;
	struct h1_str target;	   /* request-target as sent */
	struct h1_str host;	   /* Host value, empty when absent (1.0) */
	int minor_version;	   /* 0 or 1 */
	struct h1_header *headers; /* caller's array of hdr_cap entries */
	size_t nheaders;	   /* out: entries filled */
	enum h1_body body;
	uint64_t content_length; /* valid when body == H1_BODY_LENGTH */
	unsigned flags;		 /* H1_F_* */
};

struct h1_response {
	int status;		   /* 100..999 */
	struct h1_str reason;	   /* may be empty */
	int minor_version;	   /* 0 or 1 */
	struct h1_header *headers; /* caller's array of hdr_cap entries */
	size_t nheaders;
	enum h1_body body;
	uint64_t content_length;
	unsigned flags; /* H1_F_CLOSE, H1_F_UPGRADE, H1_F_CONN_HEADER */
};

/*
 * Parses the head of a request in buf[0..len). headers must have room for
 * hdr_cap entries. On success every field of *req is set; on error its
 * contents are unspecified.
 */
ssize_t h1_parse_request(const char *buf, size_t len, struct h1_request *req,
			 struct h1_header *headers, size_t hdr_cap);

/* Response to a HEAD request: no body whatever the headers say. */
#define H1_RESP_HEAD 0x1u

/* As h1_parse_request(), for a response head; opts is 0 or H1_RESP_HEAD. */
ssize_t h1_parse_response(const char *buf, size_t len, struct h1_response *res,
			  struct h1_header *headers, size_t hdr_cap, unsigned opts);

/*
 * Incremental scanner of a chunked body, for a proxy that forwards the bytes
 * unchanged and only needs to know where the message ends. Zero-fill before
 * the first call (or call h1_chunked_init()); feed the body bytes in order,
 * in pieces of any size.
 *
 * Returns the number of bytes of buf that belong to the body (all of len
 * unless the body ended inside buf), or -EBADMSG on a malformed size line
 * (non-hex, more than 15 hex digits, bare LF, a chunk-extension or trailer
 * line longer than H1_CHUNK_LINE_MAX) or -E2BIG when the trailer section
 * exceeds H1_TRAILER_MAX bytes. done becomes true once the last chunk and
 * the trailer section, final CR LF included, have been consumed; bytes after
 * that are not the body's (pipelined next message) and are not consumed.
 */
#define H1_CHUNK_LINE_MAX 4096
#define H1_TRAILER_MAX	  16384

struct h1_chunked {
	uint64_t remaining; /* data bytes left in the current chunk */
	uint32_t line_len;  /* bytes of the current size/trailer line so far */
	uint32_t trailer;   /* bytes of trailer section so far */
	uint8_t state;	    /* private */
	uint8_t ndigits;    /* hex digits in the current size */
	bool done;
};

void h1_chunked_init(struct h1_chunked *c);
ssize_t h1_chunked_scan(struct h1_chunked *c, const char *buf, size_t len);

/* ASCII case-insensitive comparison of a view with a literal. */
bool h1_str_eq(struct h1_str s, const char *lit);

/* The reason phrase for a status code we generate ("Bad Request"). */
const char *h1_reason(int status);

#endif /* LACONIC_H1_H */
