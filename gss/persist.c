// SPDX-License-Identifier: MIT
/*
 * Sketch files and merging. The file format is described in format.h.
 *
 * Loading checks, in order: magic, version and byte order; the header
 * checksum; that every parameter is in range and every section lies inside
 * the file (so a truncated file is named as such); then each section's
 * checksum (unless GSS_LOAD_NOVERIFY); and while rebuilding, that each
 * record is well formed. The first failure is reported in one line and
 * nothing is leaked.
 *
 * Saving writes a temporary file next to the target, fsyncs it and renames
 * it over the target, so readers see the old sketch or the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "format.h"
#include "gss-int.h"
#include "log.h"

static const char *const sec_name[SEC_COUNT] = { "matrix", "mask",   "buffer", "spills",
						 "hubs",   "detect", "ids" };

/* ============================== Saving ============================== */

/*
 * Sequential writer with a checksum per section. Small records (buffer, hub
 * and ID entries) gather in a 1 MiB buffer; large runs (the matrix) go
 * straight to write(2).
 */
#define W_BUF (1u << 20)

struct writer {
	int fd;
	uint64_t off;	  /* file offset of the next byte accepted */
	XXH3_state_t *xx; /* checksum of the current section */
	char *buf;	  /* pending bytes */
	size_t n;	  /* pending byte count */
	int err;	  /* first error, sticky */
};

static void w_raw(struct writer *w, const void *p, size_t n)
{
	const char *c = p;

	while (n && !w->err) {
		ssize_t k = write(w->fd, c, n);

		if (k < 0) {
			if (errno != EINTR)
				w->err = -errno;
			continue;
		}
		c += k;
		n -= (size_t)k;
	}
}

static void w_flush(struct writer *w)
{
	w_raw(w, w->buf, w->n);
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): w->buf stays owned by save() */
	w->n = 0;
}

/* Appends bytes to the file; zero-filled padding when p is NULL. */
static void w_put(struct writer *w, const void *p, size_t n, bool checksum)
{
	if (w->err || !n)
		return;
	if (checksum)
		XXH3_64bits_update(w->xx, p, n);
	w->off += n;
	if (n >= W_BUF) {
		w_flush(w);
		w_raw(w, p, n);
		return;
	}
	if (w->n + n > W_BUF)
		w_flush(w);
	if (p)
		memcpy(w->buf + w->n, p, n);
	else
		memset(w->buf + w->n, 0, n);
	w->n += n;
}

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	w_put(w, p, n, true);
}

static void w_pad(struct writer *w, uint64_t align)
{
	w_put(w, NULL, (size_t)((align - w->off % align) % align), false);
}

static void sec_begin(struct writer *w, struct gss_file_section *s, uint64_t align)
{
	w_pad(w, align);
	s->offset = w->off;
	XXH3_64bits_reset(w->xx);
}

static void sec_end(struct writer *w, struct gss_file_section *s)
{
	s->length = w->off - s->offset;
	s->checksum = XXH3_64bits_digest(w->xx);
}

static void write_body(const struct gss *g, struct writer *w, struct gss_file_header *h)
{
	const struct gss_hubs *hubs = &g->hubs;

	sec_begin(w, &h->sec[SEC_MATRIX], GSS_MATRIX_OFF);
	w_bytes(w, g->matrix, g->matrix_bytes);
	sec_end(w, &h->sec[SEC_MATRIX]);

	sec_begin(w, &h->sec[SEC_MASK], 64);
	w_bytes(w, g->mask, (size_t)1 << g->mask_bits);
	sec_end(w, &h->sec[SEC_MASK]);

	sec_begin(w, &h->sec[SEC_BUFFER], 64);
	for (uint32_t e = 0; e < g->buf.used; e++) {
		const struct gss_buf_ent *x = &g->buf.ent[e];

		if (x->live) {
			struct rec_edge r = { x->s, x->d, x->w };

			w_bytes(w, &r, sizeof(r));
			h->nbuffer++;
		}
	}
	sec_end(w, &h->sec[SEC_BUFFER]);

	sec_begin(w, &h->sec[SEC_SPILLS], 64);
	for (uint32_t e = 0; e < g->spills.n; e++) {
		struct rec_edge r = { g->spills.ent[e].sid, g->spills.ent[e].did,
				      g->spills.ent[e].w };

		w_bytes(w, &r, sizeof(r));
	}
	h->nspills = g->spills.n;
	sec_end(w, &h->sec[SEC_SPILLS]);

	sec_begin(w, &h->sec[SEC_HUBS], 64);
	for (uint32_t i = 0; i < hubs->n; i++) {
		struct rec_hub r = { hubs->hub[i].code,
				     { hubs->hub[i].lvl[GSS_OUT], hubs->hub[i].lvl[GSS_IN] } };

		w_bytes(w, &r, sizeof(r));
	}
	for (uint32_t i = 0; i < hubs->n; i++) {
		for (unsigned dir = 0; dir < 2; dir++) {
			uint32_t n = (1u << hubs->hub[i].lvl[dir]) - 1;

			w_bytes(w, &hubs->subs[hubs->hub[i].sub[dir]], n * sizeof(uint64_t));
		}
	}
	h->nhubs = hubs->n;
	sec_end(w, &h->sec[SEC_HUBS]);

	sec_begin(w, &h->sec[SEC_DETECT], 64);
	w_bytes(w, hubs->cm, ((size_t)4 << hubs->cm_bits) * sizeof(*hubs->cm));
	sec_end(w, &h->sec[SEC_DETECT]);

	sec_begin(w, &h->sec[SEC_IDS], 64);
	for (uint32_t e = 0; e < g->ids.n; e++) {
		const struct gss_id_ent *x = &g->ids.ent[e];

		w_bytes(w, &x->code, sizeof(x->code));
		w_bytes(w, &x->len, sizeof(x->len));
		if (x->len)
			w_bytes(w, g->ids.arena + x->off, x->len);
	}
	h->nids = g->ids.n;
	sec_end(w, &h->sec[SEC_IDS]);
}

static int save(const struct gss *g, const char *path)
{
	struct gss_file_header h;
	struct writer w = { -1, 0, NULL, NULL, 0, 0 };
	char *tmp;
	size_t plen = strlen(path);
	int ret;

	tmp = malloc(plen + 48);
	if (!tmp)
		return -ENOMEM;
	w.xx = XXH3_createState();
	w.buf = malloc(W_BUF);
	if (!w.xx || !w.buf) {
		ret = -ENOMEM;
		goto out_state;
	}
	/* open() rather than mkstemp(), so the file gets the usual umask-based mode. */
	for (unsigned attempt = 0;; attempt++) {
		snprintf(tmp, plen + 48, "%s.tmp.%ld.%u", path, (long)getpid(), attempt);
		w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (w.fd >= 0)
			break;
		if (errno != EEXIST || attempt == 100) {
			ret = -errno;
			goto out_state;
		}
	}

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, GSS_MAGIC, sizeof(h.magic));
	h.version = GSS_FILE_VERSION;
	h.header_bytes = sizeof(h);
	h.endian = GSS_ENDIAN_MARK;
	h.flags = g->flags & ~(uint32_t)GSS_F_THREADSAFE;
	h.fp0 = g->fp0;
	h.m0 = g->m0;
	h.r = g->r;
	h.k = g->k;
	h.level = g->level;
	h.mask_bits = g->mask_bits;
	h.cm_bits = g->hubs.cm_bits;
	h.seed = g->seed;
	h.rooms_used = g->rooms_used;
	h.updates = g->updates;
	h.kicks = g->kicks;
	h.migrated = g->migrated;

	/* The header goes last, once the section table is known; leave room for it. */
	if (lseek(w.fd, GSS_MATRIX_OFF, SEEK_SET) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	w.off = GSS_MATRIX_OFF;
	write_body(g, &w, &h);
	w_flush(&w);
	ret = w.err;
	if (ret)
		goto out_unlink;
	h.header_checksum = XXH3_64bits(&h, sizeof(h));
	if (pwrite(w.fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		ret = errno ? -errno : -EIO;
		goto out_unlink;
	}
	if (fsync(w.fd)) {
		ret = -errno;
		goto out_unlink;
	}
	if (close(w.fd)) {
		w.fd = -1;
		ret = -errno;
		goto out_unlink;
	}
	w.fd = -1;
	if (rename(tmp, path)) {
		ret = -errno;
		goto out_unlink;
	}
	ret = 0;
	goto out_state;

out_unlink:
	if (w.fd >= 0)
		close(w.fd);
	unlink(tmp);
out_state:
	free(w.buf);
	XXH3_freeState(w.xx);
	free(tmp);
	return ret;
}

int gss_save(const struct gss *g, const char *path)
{
	int ret;

	if (!g || !path)
		return -EINVAL;
	gss__rlock(g);
	ret = save(g, path);
	gss__unlock(g);
	return ret;
}

/* ============================== Loading ============================== */

static int fail(char *err, size_t len, int code, const char *fmt, ...) ATTR_PRINTF(4, 5);

static int fail(char *err, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(err, len, fmt, ap);
	va_end(ap);
	return code;
}

static int read_full(int fd, void *p, size_t n, uint64_t off)
{
	char *c = p;

	while (n) {
		ssize_t k = pread(fd, c, n, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EBADMSG;
		c += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

static bool fp_valid(uint32_t fp)
{
	return fp == 12 || fp == 16 || fp == 20 || fp == 24 || fp == 32;
}

/* Header sanity beyond the checksum: every value in range, sections in the file. */
static int check_header(const struct gss_file_header *h, uint64_t fsize, char *err, size_t elen)
{
	uint64_t m, want[SEC_COUNT] = { 0 };

	if (!fp_valid(h->fp0) || h->r < 1 || h->r > GSS_MAX_ADDRS || h->k < 1 ||
	    h->k > h->r * h->r || h->m0 < 1 || h->m0 > (1u << 30) || h->level >= h->fp0 - 1 ||
	    h->mask_bits < 10 || h->mask_bits > 32 || h->cm_bits < 10 || h->cm_bits > 20 ||
	    h->reserved)
		return fail(err, elen, -EBADMSG, "corrupt header: parameter out of range");
	m = (uint64_t)h->m0 << h->level;
	/*
	 * The product must not wrap: at the largest width a wrapped size came
	 * out 0, which means "no expected size" below, so the matrix section
	 * went unchecked and a mapped sketch was indexed far past its file.
	 */
	if (m > (1u << 30) || check_mul_overflow(m * m, (uint64_t)GSS_BUCKET, &want[SEC_MATRIX]))
		return fail(err, elen, -EBADMSG, "corrupt header: width out of range");
	want[SEC_MASK] = 1ULL << h->mask_bits;
	want[SEC_DETECT] = (4ULL << h->cm_bits) * sizeof(uint16_t);
	for (int i = 0; i < SEC_COUNT; i++) {
		const struct gss_file_section *s = &h->sec[i];

		if (want[i] && s->length != want[i])
			return fail(err, elen, -EBADMSG,
				    "corrupt header: %s section has %llu bytes, expected %llu",
				    sec_name[i], (unsigned long long)s->length,
				    (unsigned long long)want[i]);
		if (s->offset < sizeof(*h) || s->offset % 64 || s->length > fsize ||
		    s->offset > fsize - s->length)
			return fail(
				err, elen, -EBADMSG,
				"truncated: the file has %llu bytes but its %s section needs %llu "
				"at offset %llu",
				(unsigned long long)fsize, sec_name[i],
				(unsigned long long)s->length, (unsigned long long)s->offset);
	}
	if (h->sec[SEC_MATRIX].offset % GSS_MATRIX_OFF)
		return fail(err, elen, -EBADMSG, "corrupt header: misaligned matrix");
	if (h->sec[SEC_BUFFER].length != h->nbuffer * sizeof(struct rec_edge) ||
	    h->sec[SEC_SPILLS].length != h->nspills * sizeof(struct rec_edge) ||
	    h->nhubs > h->sec[SEC_HUBS].length / sizeof(struct rec_hub))
		return fail(err, elen, -EBADMSG,
			    "corrupt header: record counts disagree with sections");
	return 0;
}

/* Rebuilds the hub directory, sub-node codes as saved. */
static int load_hubs(struct gss *g, const struct gss_file_header *h, const uint8_t *base, char *err,
		     size_t elen)
{
	const uint8_t *p = base + h->sec[SEC_HUBS].offset;
	const uint8_t *end = p + h->sec[SEC_HUBS].length;
	const uint8_t *subs = p + h->nhubs * sizeof(struct rec_hub);
	int ret;

	for (uint64_t i = 0; i < h->nhubs; i++) {
		struct rec_hub r;

		memcpy(&r, p + i * sizeof(r), sizeof(r));
		if (r.code >= g->node_space)
			return fail(err, elen, -EBADMSG, "corrupt hubs: node code out of range");
		for (unsigned dir = 0; dir < 2; dir++) {
			uint64_t n, *codes;

			if (r.lvl[dir] > GSS_HUB_MAX_LEVEL)
				return fail(err, elen, -EBADMSG, "corrupt hubs: level %u",
					    r.lvl[dir]);
			n = (1ULL << r.lvl[dir]) - 1;
			if ((uint64_t)(end - subs) / sizeof(uint64_t) < n)
				return fail(err, elen, -EBADMSG,
					    "corrupt hubs: sub-node list too short");
			codes = malloc((n ? n : 1) * sizeof(*codes));
			if (!codes)
				return -ENOMEM;
			memcpy(codes, subs, n * sizeof(*codes));
			subs += n * sizeof(*codes);
			ret = 0;
			for (uint64_t t = 0; t < n && !ret; t++) {
				if (codes[t] >= g->node_space)
					ret = fail(err, elen, -EBADMSG,
						   "corrupt hubs: sub-node code out of range");
			}
			if (!ret)
				ret = gss__hub_load(g, r.code, dir, r.lvl[dir], codes);
			free(codes);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Rebuilds the auxiliary structures from their sections in `base`. */
static int load_aux(struct gss *g, const struct gss_file_header *h, const uint8_t *base, char *err,
		    size_t elen)
{
	const uint8_t *p, *end;
	int ret;

	memcpy(g->mask, base + h->sec[SEC_MASK].offset, (size_t)1 << g->mask_bits);
	memcpy(g->hubs.cm, base + h->sec[SEC_DETECT].offset, h->sec[SEC_DETECT].length);

	/* Hubs before the buffer: a buffered edge's waits depend on routing. */
	ret = load_hubs(g, h, base, err, elen);
	if (ret)
		return ret;

	p = base + h->sec[SEC_SPILLS].offset;
	for (uint64_t i = 0; i < h->nspills; i++) {
		struct rec_edge r;

		memcpy(&r, p + i * sizeof(r), sizeof(r));
		if (gss__fits32(r.w) || r.w == 0)
			return fail(err, elen, -EBADMSG, "corrupt spills: weight %lld fits a room",
				    (long long)r.w);
		ret = gss__spill_add(&g->spills, r.a, r.b, r.w);
		if (ret)
			return ret;
	}

	p = base + h->sec[SEC_BUFFER].offset;
	for (uint64_t i = 0; i < h->nbuffer; i++) {
		struct rec_edge r;

		memcpy(&r, p + i * sizeof(r), sizeof(r));
		if (r.a >= g->node_space || r.b >= g->node_space || r.w == 0)
			return fail(err, elen, -EBADMSG, "corrupt buffer: record %llu",
				    (unsigned long long)i);
		if (gss__buf_find(&g->buf, r.a, r.b) != GSS_NIL)
			return fail(err, elen, -EBADMSG, "corrupt buffer: duplicate edge");
		ret = gss__buf_add(g, r.a, r.b, r.w);
		if (ret)
			return ret;
	}

	p = base + h->sec[SEC_IDS].offset;
	end = p + h->sec[SEC_IDS].length;
	for (uint64_t i = 0; i < h->nids; i++) {
		uint64_t code;
		uint32_t len;

		if (end - p < (ptrdiff_t)(sizeof(code) + sizeof(len)))
			return fail(err, elen, -EBADMSG, "corrupt ids: record %llu truncated",
				    (unsigned long long)i);
		memcpy(&code, p, sizeof(code));
		memcpy(&len, p + sizeof(code), sizeof(len));
		p += sizeof(code) + sizeof(len);
		if ((uint64_t)(end - p) < len || code >= g->node_space)
			return fail(err, elen, -EBADMSG, "corrupt ids: record %llu",
				    (unsigned long long)i);
		ret = gss__ids_add(&g->ids, code, p, len);
		if (ret)
			return ret;
		p += len;
	}
	if (p != end)
		return fail(err, elen, -EBADMSG, "corrupt ids: trailing bytes");
	return 0;
}

/* Reads the header and checks everything about it before any section is touched. */
static int read_header(int fd, uint64_t fsize, struct gss_file_header *h, char *err, size_t elen)
{
	uint64_t sum;
	int ret;

	if (fsize < sizeof(*h))
		return fail(err, elen, -EBADMSG,
			    "truncated: %llu bytes is shorter than a sketch header (%zu)",
			    (unsigned long long)fsize, sizeof(*h));
	ret = read_full(fd, h, sizeof(*h), 0);
	if (ret)
		return fail(err, elen, ret, "cannot read header: %s", strerrordesc_np(-ret));
	if (memcmp(h->magic, GSS_MAGIC, sizeof(h->magic)) != 0)
		return fail(err, elen, -EBADMSG, "not a GSS sketch file (bad magic)");
	if (h->endian != GSS_ENDIAN_MARK)
		return fail(err, elen, -EPROTO, "sketch written with another byte order");
	if (h->version != GSS_FILE_VERSION || h->header_bytes != sizeof(*h))
		return fail(err, elen, -EPROTO, "sketch file version %u, this library reads %u",
			    h->version, GSS_FILE_VERSION);
	sum = h->header_checksum;
	h->header_checksum = 0;
	if (XXH3_64bits(h, sizeof(*h)) != sum)
		return fail(err, elen, -EBADMSG, "corrupt header: checksum mismatch");
	return check_header(h, fsize, err, elen);
}

static int load(const char *path, uint32_t lflags, struct gss **out, char *err, size_t elen)
{
	struct gss_file_header h;
	struct gss *g = NULL;
	uint8_t *base = MAP_FAILED;
	struct stat st;
	uint64_t want;
	int fd, ret;

	memset(&h, 0, sizeof(h));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, elen, -errno, "%s", strerrordesc_np(errno));
	if (fstat(fd, &st)) {
		ret = fail(err, elen, -errno, "%s", strerrordesc_np(errno));
		goto out_fd;
	}
	ret = read_header(fd, (uint64_t)st.st_size, &h, err, elen);
	if (ret)
		goto out_fd;

	/* One private mapping serves checksums and parsing; the matrix may stay in it. */
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED) {
		ret = fail(err, elen, -errno, "cannot map file: %s", strerrordesc_np(errno));
		goto out_fd;
	}
	if (!(lflags & GSS_LOAD_NOVERIFY)) {
		for (int i = 0; i < SEC_COUNT; i++) {
			if (XXH3_64bits(base + h.sec[i].offset, h.sec[i].length) !=
			    h.sec[i].checksum) {
				ret = fail(err, elen, -EBADMSG, "checksum mismatch in section %s",
					   sec_name[i]);
				goto out_map;
			}
		}
	}

	g = calloc(1, sizeof(*g));
	if (!g) {
		ret = -ENOMEM;
		goto out_map;
	}
	g->fp0 = h.fp0;
	g->m0 = h.m0;
	g->r = h.r;
	g->k = h.k;
	g->level = h.level;
	g->m = h.m0 << h.level;
	g->seed = h.seed;
	g->flags = (h.flags & (GSS_F_IDS | GSS_F_GROW | GSS_F_NO_HUBS)) |
		   ((lflags & GSS_LOAD_THREADSAFE) ? GSS_F_THREADSAFE : 0);
	gss__set_format(&g->fmt, g->fp0);
	g->mask_bits = h.mask_bits;
	g->mask = gss__big_alloc((size_t)1 << g->mask_bits);
	if (!g->mask) {
		ret = -ENOMEM;
		goto out_g;
	}
	ret = gss__init_common(g, h.cm_bits);
	if (ret)
		goto out_mask;
	g->rooms_used = h.rooms_used;
	g->updates = h.updates;
	g->kicks = h.kicks;
	g->migrated = h.migrated;
	ret = load_aux(g, &h, base, err, elen);
	if (ret)
		goto out_common;

	want = h.sec[SEC_MATRIX].length;
	if (lflags & GSS_LOAD_MMAP) {
		g->matrix = base + h.sec[SEC_MATRIX].offset;
		g->matrix_bytes = want;
		g->matrix_kind = GSS_MAT_FILE;
		g->map = base;
		g->map_len = (size_t)st.st_size;
		base = MAP_FAILED;
	} else {
		ret = gss__alloc_matrix(g->m, &g->matrix, &g->matrix_bytes, &g->matrix_kind);
		if (ret)
			goto out_common;
		memcpy(g->matrix, base + h.sec[SEC_MATRIX].offset, want);
	}
	*out = g;
	ret = 0;
	goto out_map;

out_common:
	gss__ids_destroy(&g->ids);
	gss__hubs_destroy(&g->hubs);
	gss__spill_destroy(&g->spills);
	gss__buf_destroy(&g->buf);
	pthread_mutex_destroy(&g->reach->lock);
	free(g->reach);
	if (g->lock) {
		pthread_rwlock_destroy(g->lock);
		free(g->lock);
	}
out_mask:
	gss__big_free(g->mask, (size_t)1 << g->mask_bits);
out_g:
	free(g);
out_map:
	if (base != MAP_FAILED)
		munmap(base, (size_t)st.st_size);
out_fd:
	close(fd);
	return ret;
}

int gss_load(const char *path, uint32_t flags, struct gss **out, char *errbuf, size_t errlen)
{
	int ret;

	if (!path || !out)
		return fail(errbuf, errlen, -EINVAL, "invalid argument");
	if (errbuf && errlen)
		errbuf[0] = '\0';
	ret = load(path, flags, out, errbuf, errlen);
	/* Allocation failures deep inside return a bare -errno: every failure says why. */
	if (ret && errbuf && errlen && !errbuf[0])
		fail(errbuf, errlen, ret, "cannot load %s: %s", path, strerrordesc_np(-ret));
	return ret;
}

/* ============================== Merging ============================== */

static int merge_edge(uint64_t s, uint64_t d, int64_t w, void *arg)
{
	return gss__update(arg, s, d, w);
}

int gss_merge(struct gss *dst, const struct gss *src)
{
	int ret = 0;

	if (!dst || !src || dst == src)
		return -EINVAL;
	if (dst->m0 != src->m0 || dst->fp0 != src->fp0 || dst->r != src->r || dst->k != src->k ||
	    dst->seed != src->seed)
		return -EINVAL;
	gss__wlock(dst);
	gss__rlock(src);
	ret = gss__edges(src, merge_edge, dst);
	if (!ret && (dst->flags & GSS_F_IDS)) {
		for (uint32_t e = 0; e < src->ids.n && !ret; e++)
			ret = gss__ids_add(&dst->ids, src->ids.ent[e].code,
					   src->ids.arena ? src->ids.arena + src->ids.ent[e].off
							  : "",
					   src->ids.ent[e].len);
	}
	gss__unlock(src);
	gss__unlock(dst);
	return ret;
}
